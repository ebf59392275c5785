package model

// Protections are what a route's RouteFilters (or its Ingress's annotations) ask Envoy to do
// before a request is forwarded. Envoy applies them in this order, whatever the order they were
// written in: client access, basic authentication, external authorization, rate limit, body size.
// Error pages and the sign-in redirect act on the response.
type Protections struct {
	// Sources name what asked for them ("RouteFilter/<ns>/<name>", "Ingress/<ns>/<name>"), for
	// explain and logs.
	Sources []string `json:"sources,omitempty"`
	// Invalid says why they cannot be honoured as written: the route then answers every request
	// with a 500 (never forwards it unprotected). The other fields are then empty.
	Invalid string `json:"invalid,omitempty"`

	Access    *AccessControl `json:"access,omitempty"`
	BasicAuth *BasicAuth     `json:"basicAuth,omitempty"`
	ExtAuth   *ExtAuth       `json:"extAuth,omitempty"`
	RateLimit *RateLimit     `json:"rateLimit,omitempty"`
	// MaxRequestBytes answers larger request bodies with a 413; 0: no limit.
	MaxRequestBytes uint64 `json:"maxRequestBytes,omitempty"`
	// ErrorPages replace error responses with a Service's.
	ErrorPages *ErrorPages `json:"errorPages,omitempty"`
}

// ErrorPages send the requests whose responses have one of Codes, internally, to Cluster as
// "GET /" (with X-Code), and answer with what it answers. LocalOnly replaces only the responses
// Envoy makes itself.
type ErrorPages struct {
	Codes     []int  `json:"codes"`
	Cluster   string `json:"cluster"`
	LocalOnly bool   `json:"localOnly,omitempty"`
	// Namespace and Ingress name the Ingress whose annotations asked for the pages: the request
	// to them then carries X-Namespace and X-Ingress-Name, as ingress-nginx's does.
	Namespace string `json:"namespace,omitempty"`
	Ingress   string `json:"ingress,omitempty"`
}

// AccessControl refuses requests (403) whose client address is in Deny, or, when Allow is set,
// not in Allow. Ranges are CIDRs in canonical form ("10.0.0.0/8", "2001:db8::1/128").
type AccessControl struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
	// Peer keys on the connection's peer address; otherwise on the address the fleet derives
	// from X-Forwarded-For with its trusted hops (the peer when it trusts none).
	Peer bool `json:"peer,omitempty"`
}

// BasicAuth checks HTTP basic credentials against Users: htpasswd lines "user:{SHA}<base64>",
// sorted by user. The Authorization header is not forwarded.
type BasicAuth struct {
	Users string `json:"users"`
	Realm string `json:"realm,omitempty"`
}

// ExtAuth asks an authorization service about each request.
type ExtAuth struct {
	// Cluster is the Fleet cluster of the service (protocol GRPC for a gRPC service).
	Cluster string `json:"cluster"`
	GRPC    bool   `json:"grpc,omitempty"`
	// Authority is the host (and port) of the check requests of an HTTP service.
	Authority string `json:"authority,omitempty"`
	// Path is the path and query of every check request of an HTTP service.
	Path string `json:"path,omitempty"`
	// RequestHeaders are client headers sent besides Envoy's own (lower case, sorted).
	RequestHeaders []string `json:"requestHeaders,omitempty"`
	// ResponseHeaders are headers of an allowing answer copied to the upstream request.
	ResponseHeaders []string `json:"responseHeaders,omitempty"`
	// SignIn is the Location a 401 answer becomes a 302 to, with Envoy's %REQ(...)% operators
	// standing for the request's values.
	SignIn   string `json:"signIn,omitempty"`
	FailOpen bool   `json:"failOpen,omitempty"`
	// Timeout of one check ("10s").
	Timeout string `json:"timeout"`
}

// RateLimit is one or two token buckets per key, per Envoy replica.
type RateLimit struct {
	Buckets []TokenBucket `json:"buckets"`
	// PerClient keeps buckets per client address; otherwise one set for the route.
	PerClient bool `json:"perClient,omitempty"`
	// Exempt are client ranges (canonical CIDRs) no bucket applies to.
	Exempt     []string `json:"exempt,omitempty"`
	StatusCode int      `json:"statusCode"`
}

// TokenBucket holds up to MaxTokens and gains Tokens every IntervalSeconds.
type TokenBucket struct {
	MaxTokens       uint32 `json:"maxTokens"`
	Tokens          uint32 `json:"tokens"`
	IntervalSeconds uint32 `json:"intervalSeconds"`
}
