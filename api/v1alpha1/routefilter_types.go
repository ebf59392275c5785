package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// RouteFilterKind is the kind an HTTPRoute or GRPCRoute rule names in an ExtensionRef filter
// (group gateway.flotilla.dev) to apply a RouteFilter.
const RouteFilterKind = "RouteFilter"

// RouteFilterSpec is a set of protections for the requests of the route rules that name the
// filter. Each section is one capability; a rule may name several RouteFilters as long as no two
// set the same section. Envoy applies them in a fixed order, whatever the order of the rule's
// filters: client access, then authentication (basic, then external), then the rate limit, then
// the request body limit. Every limit is per Envoy replica. Two sections are not protections but
// what an HTTPRoute rule cannot say about its requests (flotillactl migrate writes them for
// Ingresses): an idle timeout, a path rewrite with capture groups and a redirect to a fixed
// location; they apply to HTTPRoute rules only.
// +kubebuilder:validation:XValidation:rule="has(self.clientAccess) || has(self.rateLimit) || has(self.basicAuth) || has(self.externalAuth) || has(self.requestBody) || has(self.errorPages) || has(self.timeouts) || has(self.pathRewrite) || has(self.redirect)",message="set at least one of clientAccess, rateLimit, basicAuth, externalAuth, requestBody, errorPages, timeouts, pathRewrite, redirect"
type RouteFilterSpec struct {
	// ClientAccess allows and denies requests by client address (403).
	// +optional
	ClientAccess *ClientAccess `json:"clientAccess,omitempty"`

	// RateLimit limits requests per client address or per rule, per Envoy replica.
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`

	// BasicAuth requires HTTP basic authentication against the users of a Secret (401).
	// +optional
	BasicAuth *BasicAuth `json:"basicAuth,omitempty"`

	// ExternalAuth asks an authorization service (HTTP or gRPC) about every request.
	// +optional
	ExternalAuth *ExternalAuth `json:"externalAuth,omitempty"`

	// RequestBody limits the size of request bodies (413).
	// +optional
	RequestBody *RequestBody `json:"requestBody,omitempty"`

	// ErrorPages replaces error responses of the listed status codes with what a Service answers.
	// +optional
	ErrorPages *ErrorPages `json:"errorPages,omitempty"`

	// Timeouts are the rule's timeouts that HTTPRoute's timeouts do not have (HTTPRoute rules only).
	// +optional
	Timeouts *FilterTimeouts `json:"timeouts,omitempty"`

	// PathRewrite rewrites the request path with a regular expression whose substitution may use
	// capture groups, which an HTTPRoute URLRewrite cannot (HTTPRoute rules only; not with a
	// URLRewrite filter of the path in the same rule).
	// +optional
	PathRewrite *RegexPathRewrite `json:"pathRewrite,omitempty"`

	// Redirect answers the rule's requests with a redirect to a fixed location, sent as written
	// and without the request's query (nginx's "return 301 <url>"), which a RequestRedirect
	// filter cannot say. HTTPRoute rules only; not with a RequestRedirect filter in the same rule;
	// the rule's backendRefs are not used.
	// +optional
	Redirect *FixedRedirect `json:"redirect,omitempty"`
}

// FixedRedirect is a redirect to a fixed location.
type FixedRedirect struct {
	// Location is an absolute http or https URL ("https://new.example.com/landing?from=old"), or
	// a path on the request's own scheme and host ("/home").
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	Location string `json:"location"`

	// StatusCode is the redirect's status.
	// +optional
	// +kubebuilder:default=302
	// +kubebuilder:validation:Enum=301;302;303;307;308
	StatusCode int `json:"statusCode,omitempty"`
}

// FilterTimeouts are timeouts of a rule's requests beyond HTTPRoute's request and backendRequest.
type FilterTimeouts struct {
	// Idle ends a request whose stream has seen no activity in either direction for this long
	// (nginx's proxy-read-timeout and proxy-send-timeout, applied between two reads or writes).
	Idle gwapiv1.Duration `json:"idle"`
}

// RegexPathRewrite replaces the part of the request path (without the query) that Pattern
// matches with Substitution.
type RegexPathRewrite struct {
	// Pattern is an RE2 regular expression (Envoy's safe_regex), e.g. "(?i)^/store(/|$)(.*)".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Pattern string `json:"pattern"`

	// Substitution replaces what Pattern matched; \1 to \9 are its capture groups ("/\2").
	// +kubebuilder:validation:MaxLength=1024
	Substitution string `json:"substitution"`
}

// ClientAddressSource says which address of a request is the client's.
// +kubebuilder:validation:Enum=Peer;Forwarded
type ClientAddressSource string

const (
	// ClientAddressPeer is the address of the TCP connection Envoy accepted (a load balancer's,
	// when one proxies in front of the fleet).
	ClientAddressPeer ClientAddressSource = "Peer"
	// ClientAddressForwarded is the address the fleet derives from X-Forwarded-For, skipping as
	// many hops as the FleetClass trusts (spec.http.trustedForwardedHops). With no trusted hops
	// (the default) it is the peer's address: a client cannot choose it.
	ClientAddressForwarded ClientAddressSource = "Forwarded"
)

// CIDR is an IPv4 or IPv6 address range ("10.0.0.0/8", "2001:db8::/32") or a single address.
// +kubebuilder:validation:MaxLength=64
// +kubebuilder:validation:XValidation:rule="isCIDR(self) || isIP(self)",message="must be a CIDR (10.0.0.0/8) or an IP address"
type CIDR string

// ClientAccess allows and denies requests by client address. Deny is evaluated first; then, when
// Allow is set, only its ranges are let through. A refused request is answered 403.
// +kubebuilder:validation:XValidation:rule="size(self.allow) + size(self.deny) > 0",message="set allow or deny"
type ClientAccess struct {
	// Allow are the only client ranges let through (when set).
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +listType=atomic
	// +kubebuilder:default={}
	Allow []CIDR `json:"allow"`

	// Deny are client ranges refused even when Allow admits them.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +listType=atomic
	// +kubebuilder:default={}
	Deny []CIDR `json:"deny"`

	// ClientAddress says which address is the client's.
	// +optional
	// +kubebuilder:default=Forwarded
	ClientAddress ClientAddressSource `json:"clientAddress,omitempty"`
}

// RateLimitKey is what a rate limit counts requests of.
// +kubebuilder:validation:Enum=ClientAddress;Rule
type RateLimitKey string

const (
	// RateLimitPerClient keeps a bucket per client address (the address ClientAccess would see,
	// Forwarded), as ingress-nginx's limit-rps does.
	RateLimitPerClient RateLimitKey = "ClientAddress"
	// RateLimitPerRule keeps one bucket for all requests the rule serves.
	RateLimitPerRule RateLimitKey = "Rule"
)

// RateLimitUnit is the period of a limit.
// +kubebuilder:validation:Enum=Second;Minute
type RateLimitUnit string

// Rate limit periods.
const (
	RateLimitSecond RateLimitUnit = "Second"
	RateLimitMinute RateLimitUnit = "Minute"
)

// RateLimit is a token bucket per key, per Envoy replica: a fleet of N replicas lets through up
// to N times the limit. A request over every limit is answered with StatusCode.
type RateLimit struct {
	// Limits all apply: a request is let through only when every one has a token left.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +listType=atomic
	Limits []Limit `json:"limits"`

	// Key is what requests are counted per.
	// +optional
	// +kubebuilder:default=ClientAddress
	Key RateLimitKey `json:"key,omitempty"`

	// Exempt are client ranges no limit applies to (ingress-nginx's limit-whitelist).
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +listType=atomic
	Exempt []CIDR `json:"exempt,omitempty"`

	// StatusCode answers limited requests (ingress-nginx answers 503).
	// +optional
	// +kubebuilder:default=429
	// +kubebuilder:validation:Minimum=400
	// +kubebuilder:validation:Maximum=599
	StatusCode int32 `json:"statusCode,omitempty"`
}

// Limit is Requests per Unit, with Burst more let through at once.
// +kubebuilder:validation:XValidation:rule="!has(self.burst) || self.burst >= self.requests",message="burst must be at least requests"
type Limit struct {
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	Requests int32         `json:"requests"`
	Unit     RateLimitUnit `json:"unit"`
	// Burst is how many requests a key may send at once (the bucket's size); it defaults to
	// Requests and is never less.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000000
	Burst *int32 `json:"burst,omitempty"`
}

// BasicAuthFormat says how a Secret holds its users.
// +kubebuilder:validation:Enum=HTPasswd;UserMap
type BasicAuthFormat string

const (
	// BasicAuthHTPasswd is an htpasswd file in the key "auth" (ingress-nginx's auth-file).
	BasicAuthHTPasswd BasicAuthFormat = "HTPasswd"
	// BasicAuthUserMap has one key per user whose value is the password hash (auth-map).
	BasicAuthUserMap BasicAuthFormat = "UserMap"
)

// BasicAuth requires HTTP basic authentication. Passwords are SHA-1 hashes ("{SHA}…", htpasswd
// -s): the only form Envoy checks. A Secret with any other hash is refused (the rule answers 500),
// never taken as "anyone may pass". The Authorization header is not sent upstream.
type BasicAuth struct {
	// SecretRef names the Secret (of another namespace only with a ReferenceGrant that lets the
	// RouteFilter's namespace refer to it).
	// +kubebuilder:validation:XValidation:rule="(!has(self.group) || self.group == '') && (!has(self.kind) || self.kind == 'Secret')",message="must name a core Secret"
	SecretRef gwapiv1.SecretObjectReference `json:"secretRef"`
	// +optional
	// +kubebuilder:default=HTPasswd
	Format BasicAuthFormat `json:"format,omitempty"`
	// Realm is sent in WWW-Authenticate.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[^"\\\x00-\x1f\x7f]*$`
	Realm string `json:"realm,omitempty"`
}

// ExternalAuthProtocol is how Envoy talks to an authorization service.
// +kubebuilder:validation:Enum=HTTP;GRPC
type ExternalAuthProtocol string

// External authorization protocols: an HTTP check (2xx allows; any other answer is returned to
// the client), or Envoy's gRPC ext_authz service.
const (
	ExternalAuthHTTP ExternalAuthProtocol = "HTTP"
	ExternalAuthGRPC ExternalAuthProtocol = "GRPC"
)

// ExternalAuth asks an authorization service about each request before it is forwarded. The
// service is a Service of the RouteFilter's namespace (another namespace's with a ReferenceGrant),
// reached as any backend (a BackendTLSPolicy that targets it applies). When the service cannot be
// reached the request is answered 403, unless FailOpen.
// +kubebuilder:validation:XValidation:rule="self.protocol == 'HTTP' || (!has(self.path) && !has(self.signIn) && size(self.responseHeaders) == 0)",message="path, signIn and responseHeaders are for protocol HTTP"
type ExternalAuth struct {
	// +optional
	// +kubebuilder:default=HTTP
	Protocol ExternalAuthProtocol `json:"protocol,omitempty"`
	// BackendRef is the authorization service's Service and port.
	BackendRef gwapiv1.BackendObjectReference `json:"backendRef"`
	// Path (HTTP) is the path and query of every check request, whatever the client asked
	// (oauth2-proxy: /oauth2/auth). The check has the client's method and headers of
	// RequestHeaders, and no body.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[^\s\x00-\x1f\x7f#]*$`
	Path *string `json:"path,omitempty"`
	// RequestHeaders are client request headers sent to the service besides Host, Method, Path,
	// Content-Length and Authorization (Envoy always sends those). Defaults to Cookie and the
	// X-Forwarded-* headers.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	RequestHeaders []gwapiv1.HTTPHeaderName `json:"requestHeaders,omitempty"`
	// ResponseHeaders (HTTP) are headers of an allowing answer copied to the upstream request
	// (ingress-nginx's auth-response-headers).
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	ResponseHeaders []gwapiv1.HTTPHeaderName `json:"responseHeaders,omitempty"`
	// SignIn (HTTP) turns a 401 answer into a 302 to this URL, with the original URL in the query
	// parameter rd unless the URL already sets rd (ingress-nginx's auth-signin). In it, $host,
	// $scheme, $request_uri and $escaped_request_uri stand for the request's.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s\x00-\x1f\x7f]+$`
	SignIn *string `json:"signIn,omitempty"`
	// FailOpen lets requests through when the service cannot be reached or errs.
	// +optional
	FailOpen bool `json:"failOpen,omitempty"`
	// Timeout of one check.
	// +optional
	// +kubebuilder:default="10s"
	Timeout *gwapiv1.Duration `json:"timeout,omitempty"`
}

// RequestBody limits request bodies.
type RequestBody struct {
	// MaxSize is the largest body let through ("1Mi", "8Mi"); larger ones are answered 413.
	MaxSize resource.Quantity `json:"maxSize"`
}

// ErrorResponseSource says which error responses ErrorPages replaces.
// +kubebuilder:validation:Enum=All;Local
type ErrorResponseSource string

// Error response sources: every response of the listed codes, or only those Envoy makes itself
// (no endpoints, a refused or limited request): an Ingress's default-backend without
// custom-http-errors, which replaces the 503 of a Service without endpoints.
const (
	ErrorResponsesAll   ErrorResponseSource = "All"
	ErrorResponsesLocal ErrorResponseSource = "Local"
)

// ErrorPages replaces error responses of the listed codes with what BackendRef answers for them
// (ingress-nginx's custom-http-errors with its default backend): Envoy sends the request,
// internally, to the Service as "GET /" with X-Code (the original status), X-Original-URI and
// X-Request-ID, and the client gets the Service's answer, status included.
type ErrorPages struct {
	// Codes are the status codes replaced.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	// +kubebuilder:validation:items:Minimum=400
	// +kubebuilder:validation:items:Maximum=599
	Codes []int32 `json:"codes"`
	// BackendRef is the Service that serves the error pages.
	BackendRef gwapiv1.BackendObjectReference `json:"backendRef"`
	// Source says which responses are replaced.
	// +optional
	// +kubebuilder:default=All
	Source ErrorResponseSource `json:"source,omitempty"`
}

// RouteFilterStatus is what Flotilla found of a RouteFilter.
type RouteFilterStatus struct {
	// Conditions: Accepted (the spec can be served) and ResolvedRefs (its Secret and Services
	// exist and are usable). A rule naming a RouteFilter that is not both answers 500.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RouteFilter is a set of protections (client access, rate limits, authentication, body size,
// error pages) that HTTPRoute and GRPCRoute rules apply with an ExtensionRef filter
// ({group: gateway.flotilla.dev, kind: RouteFilter, name}). The Ingress front end makes the same
// filters, in memory, from ingress-nginx annotations.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rf,categories=flotilla
// +kubebuilder:printcolumn:name="Rate",type=integer,JSONPath=`.spec.rateLimit.limits[0].requests`,priority=1
// +kubebuilder:printcolumn:name="Per",type=string,JSONPath=`.spec.rateLimit.limits[0].unit`,priority=1
// +kubebuilder:printcolumn:name="AuthService",type=string,JSONPath=`.spec.externalAuth.backendRef.name`,priority=1
// +kubebuilder:printcolumn:name="MaxBody",type=string,JSONPath=`.spec.requestBody.maxSize`,priority=1
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="ResolvedRefs",type=string,JSONPath=`.status.conditions[?(@.type=="ResolvedRefs")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RouteFilter struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec RouteFilterSpec `json:"spec"`
	// +optional
	Status RouteFilterStatus `json:"status,omitempty"`
}

// RouteFilterList is a list of RouteFilters.
//
// +kubebuilder:object:root=true
type RouteFilterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RouteFilter `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RouteFilter{}, &RouteFilterList{})
}
