package model

// FilterType names a route filter.
type FilterType string

// Filter types, as Gateway API names them.
const (
	FilterRequestHeaders  FilterType = "RequestHeaderModifier"
	FilterResponseHeaders FilterType = "ResponseHeaderModifier"
	FilterURLRewrite      FilterType = "URLRewrite"
	FilterMirror          FilterType = "RequestMirror"
	FilterCORS            FilterType = "CORS"
)

// Filter is one route (or backend) filter; the field named by Type is set.
type Filter struct {
	Type            FilterType      `json:"type"`
	RequestHeaders  *HeaderModifier `json:"requestHeaders,omitempty"`
	ResponseHeaders *HeaderModifier `json:"responseHeaders,omitempty"`
	URLRewrite      *URLRewrite     `json:"urlRewrite,omitempty"`
	Mirror          *Mirror         `json:"mirror,omitempty"`
	CORS            *CORS           `json:"cors,omitempty"`
}

// Header is a header name and value.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// HeaderModifier sets, adds and removes headers (in the route's order).
type HeaderModifier struct {
	Set    []Header `json:"set,omitempty"`
	Add    []Header `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// PathModifier rewrites a path: the full path, the part that the route's PathPrefix matched, or
// (Regex) the path a regular expression matches as a whole.
type PathModifier struct {
	ReplaceFullPath    *string       `json:"replaceFullPath,omitempty"`
	ReplacePrefixMatch *string       `json:"replacePrefixMatch,omitempty"`
	Regex              *RegexRewrite `json:"regex,omitempty"`
}

// RegexRewrite replaces a path that Pattern (RE2) matches from its start with Substitution, in
// which \1..\9 are Pattern's capture groups; the query string is kept. A path Pattern does not
// match is left as it is. (An Ingress's rewrite-target.)
type RegexRewrite struct {
	Pattern      string `json:"pattern"`
	Substitution string `json:"substitution"`
}

// URLRewrite rewrites the Host header and/or the path before forwarding.
type URLRewrite struct {
	Hostname string        `json:"hostname,omitempty"`
	Path     *PathModifier `json:"path,omitempty"`
}

// Redirect answers with a redirect; unset fields keep the request's values.
type Redirect struct {
	Scheme     string        `json:"scheme,omitempty"`
	Hostname   string        `json:"hostname,omitempty"`
	Path       *PathModifier `json:"path,omitempty"`
	Port       int32         `json:"port,omitempty"`
	StatusCode int           `json:"statusCode"`
	// StripQuery drops the request's query string from the Location (an Ingress's app-root).
	StripQuery bool `json:"stripQuery,omitempty"`
}

// Mirror copies a share of requests to a cluster, ignoring the answers.
type Mirror struct {
	Cluster string `json:"cluster"`
	// Numerator/Denominator of requests mirrored (100/100 when the route gives no percentage).
	Numerator   int32 `json:"numerator"`
	Denominator int32 `json:"denominator"`
	// KeepHost sends the copy with the request's own Host (ingress-nginx's mirror-host default)
	// instead of Envoy's "<host>-shadow".
	KeepHost bool `json:"keepHost,omitempty"`
}

// CORS is a CORS policy.
type CORS struct {
	AllowOrigins     []string `json:"allowOrigins,omitempty"`
	AllowCredentials bool     `json:"allowCredentials,omitempty"`
	AllowMethods     []string `json:"allowMethods,omitempty"`
	AllowHeaders     []string `json:"allowHeaders,omitempty"`
	ExposeHeaders    []string `json:"exposeHeaders,omitempty"`
	MaxAge           int32    `json:"maxAge,omitempty"`
	// LabelWildcard compares origins as ingress-nginx's cors-allow-origin does: without case, and
	// a "*" (at the start of the host) stands for exactly one DNS label, so "https://*.example.com"
	// admits "https://a.example.com" but not "https://a.b.example.com". Otherwise (Gateway API)
	// origins compare exactly and a "*" spans labels.
	LabelWildcard bool `json:"labelWildcard,omitempty"`
}

// HashPolicy is one input of the hash that a ring-hash cluster picks an endpoint by, for the
// requests of a route: exactly one field is set. Envoy tries a route's policies in order and
// hashes those that yield a value; a request that yields none gets a random endpoint.
type HashPolicy struct {
	// Header hashes a request header's value (":path" is the path with its query, ":authority"
	// the host).
	Header string `json:"header,omitempty"`
	// Cookie hashes a cookie's value (session affinity).
	Cookie *HashCookie `json:"cookie,omitempty"`
	// SourceIP hashes the client connection's source address.
	SourceIP bool `json:"sourceIP,omitempty"`
	// QueryParameter hashes a query parameter's value.
	QueryParameter string `json:"queryParameter,omitempty"`
}

// HashCookie is a cookie a route hashes. With Generate, a request without the cookie gets one:
// Envoy sets it (HttpOnly) on the response, its value naming the endpoint the hash chose.
type HashCookie struct {
	Name     string `json:"name"`
	Generate bool   `json:"generate,omitempty"`
	// MaxAge is the generated cookie's lifetime in seconds; 0 is a session cookie.
	MaxAge int64  `json:"maxAge,omitempty"`
	Path   string `json:"path,omitempty"`
	// Attributes are added to the generated cookie ("SameSite" "Lax", "Secure" ""), in order.
	Attributes []Header `json:"attributes,omitempty"`
}

// Timeouts are Gateway API durations ("10s", "500ms"), empty for none.
type Timeouts struct {
	Request        string `json:"request,omitempty"`
	BackendRequest string `json:"backendRequest,omitempty"`
	// Idle bounds the time a request's stream may see no activity in either direction (an
	// Ingress's proxy-read/send-timeout, which nginx applies between two reads or writes).
	Idle string `json:"idle,omitempty"`
}

// Retry retries failed requests.
type Retry struct {
	Codes    []int  `json:"codes,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	Backoff  string `json:"backoff,omitempty"`
}

// Backends is a weighted choice of clusters. InvalidWeight is the share of traffic that went to
// backends that could not be resolved: it MUST be answered with a 500 (a gRPC route answers with
// gRPC status UNAVAILABLE instead). A Backends with no Clusters and a non-zero InvalidWeight
// answers every request with a 500.
type Backends struct {
	Clusters      []WeightedCluster `json:"clusters,omitempty"`
	InvalidWeight uint32            `json:"invalidWeight,omitempty"`
}

// WeightedCluster is one backend of a Backends, in the route's order.
type WeightedCluster struct {
	Cluster string `json:"cluster"`
	Weight  uint32 `json:"weight"`
	// Filters apply only to requests sent to this backend.
	Filters []Filter `json:"filters,omitempty"`
}

// ClusterProtocol is what Envoy speaks to a cluster's endpoints.
type ClusterProtocol string

// Cluster protocols: plain TCP/UDP, TCP carrying a client's TLS through (a passthrough TLSRoute's:
// never encrypted again), HTTP/1.1, HTTP/1.1 with WebSocket upgrades, cleartext HTTP/2, and gRPC
// (HTTP/2).
const (
	ClusterTCP            ClusterProtocol = "TCP"
	ClusterTLSPassthrough ClusterProtocol = "TLSPassthrough"
	ClusterUDP            ClusterProtocol = "UDP"
	ClusterHTTP           ClusterProtocol = "HTTP"
	ClusterWebSocket      ClusterProtocol = "WebSocket"
	ClusterH2C            ClusterProtocol = "H2C"
	ClusterGRPC           ClusterProtocol = "GRPC"
)

// Cluster is a set of endpoints of one Service port.
type Cluster struct {
	// Name is "<ns>/<service>/<port>/<protocol>" in lower case; an InferencePool's cluster is
	// "<ns>/<pool>/inferencepool/<protocol>" and an Endpoint Picker's "<ns>/<service>/<port>/epp".
	Name     string          `json:"name"`
	Protocol ClusterProtocol `json:"protocol"`
	// Service is "<ns>/<name>" and Port its port number, for logs and stats.
	Service string `json:"service"`
	Port    int32  `json:"port"`
	// Endpoints sorted by address and port.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// TLS makes Envoy originate TLS to the endpoints (a BackendTLSPolicy targets the Service, or
	// the cluster is an Endpoint Picker's).
	TLS *UpstreamTLS `json:"tls,omitempty"`
	// EndpointPicker is set on the cluster of an InferencePool that names an Endpoint Picker:
	// Envoy asks the picker (ext_proc) which endpoint serves each request routed to this cluster,
	// sends it there (override_host, reading the pick from dynamic metadata, never from a header
	// a client could set), and falls back to round robin when the picked endpoint is absent or
	// unhealthy.
	EndpointPicker *EndpointPicker `json:"endpointPicker,omitempty"`
	// InferencePool is "<ns>/<name>" of the InferencePool whose Pods × targetPorts the endpoints
	// are (Service is then empty and Port 0). Routes to such a cluster get no default request
	// timeout: inference responses stream for minutes.
	InferencePool string `json:"inferencePool,omitempty"`
	// GRPCHealthCheck, when set, makes Envoy health-check the endpoints with the gRPC health
	// protocol for this service name (an Endpoint Picker's cluster).
	GRPCHealthCheck string `json:"grpcHealthCheck,omitempty"`
	// LoadBalancer is how Envoy picks an endpoint; nil is round robin.
	LoadBalancer *LoadBalancer `json:"loadBalancer,omitempty"`
	// ConnectTimeout bounds the TCP (and TLS) handshake with an endpoint ("5s"); empty: 10s. (An
	// Ingress's proxy-connect-timeout, in a cluster of its own.)
	ConnectTimeout string `json:"connectTimeout,omitempty"`
}

// LoadBalancerPolicy names how a cluster picks an endpoint.
type LoadBalancerPolicy string

// Load balancer policies: round robin (the default), the endpoint with the fewest active
// requests of two picked at random, and a consistent hash ring over the routes' HashPolicies.
const (
	LoadBalancerRoundRobin   LoadBalancerPolicy = "RoundRobin"
	LoadBalancerLeastRequest LoadBalancerPolicy = "LeastRequest"
	LoadBalancerRingHash     LoadBalancerPolicy = "RingHash"
)

// LoadBalancer is a cluster's load balancing (an Ingress's load-balance, upstream-hash-by or
// affinity; Gateway API clusters have none).
type LoadBalancer struct {
	Policy LoadBalancerPolicy `json:"policy"`
}

// EndpointPicker is an InferencePool's Endpoint Picker, as a cluster of pool endpoints uses it.
type EndpointPicker struct {
	// Cluster names the Fleet cluster of the picker's Service port (protocol GRPC, TLS).
	Cluster string `json:"cluster"`
	// FailOpen lets requests through (round robin) when the picker cannot be reached or fails;
	// otherwise (FailClose, the default) such requests fail.
	FailOpen bool `json:"failOpen,omitempty"`
}

// UpstreamTLS is how Envoy originates TLS to a cluster's endpoints and verifies them.
type UpstreamTLS struct {
	// Invalid says why the policy cannot be honoured. The cluster then fails closed: it gets no
	// endpoints (Envoy answers 503 for its share), never plaintext.
	Invalid string `json:"invalid,omitempty"`
	// Unverified encrypts without verifying the server's certificate: an Endpoint Picker that no
	// BackendTLSPolicy targets (EPPs serve self-signed certificates by default). TrustBundle,
	// SystemTrust and SubjectAltNames are then empty.
	Unverified bool `json:"unverified,omitempty"`
	// IngressBackendProtocol says an Ingress's backend-protocol (HTTPS, GRPCS) asked for the
	// unverified TLS, as ingress-nginx originates it without proxy-ssl-verify.
	IngressBackendProtocol bool `json:"ingressBackendProtocol,omitempty"`
	// SNI is the server name Envoy sends (the policy's hostname).
	SNI string `json:"sni,omitempty"`
	// TrustBundle names the Fleet's TrustBundle to verify the backend with; empty with SystemTrust.
	TrustBundle string `json:"trustBundle,omitempty"`
	// SystemTrust verifies with the Envoy image's system CA bundle.
	SystemTrust bool `json:"systemTrust,omitempty"`
	// SubjectAltNames the backend's certificate must carry one of; none: SNI as a DNS SAN.
	SubjectAltNames []SubjectAltName `json:"subjectAltNames,omitempty"`
	// ClientCertificate names a Secret of the Fleet (Secret.Name) presented to the backend: the
	// Gateway's spec.tls.backend.clientCertificateRef. Empty for none.
	ClientCertificate string `json:"clientCertificate,omitempty"`
}

// SubjectAltName is one name a backend certificate may carry.
type SubjectAltName struct {
	// Type is "Hostname" (a DNS SAN) or "URI".
	Type  string `json:"type"`
	Value string `json:"value"`
}

// TrustBundle is a set of CA certificates (PEM), concatenated from the ConfigMaps and Secrets a
// BackendTLSPolicy, or the Gateway's spec.tls.frontend, names. It reaches Envoy as an SDS
// validation context, so a changed bundle is an SDS update alone.
type TrustBundle struct {
	// Name is unique in the Fleet and never a Secret's name (they share SDS):
	// "BackendTLSPolicy/<policy-namespace>/<policy-name>", or for client certificates
	// "Gateway/<ns>/<name>/frontend/default" and "Gateway/<ns>/<name>/frontend/port/<port>".
	Name string `json:"name"`
	PEM  string `json:"pem"`
}

// Endpoint is one address of a cluster. Ready endpoints take traffic; serving but terminating ones
// only when no endpoint is ready (Kubernetes' own rule).
type Endpoint struct {
	Address     string `json:"address"`
	Port        int32  `json:"port"`
	Ready       bool   `json:"ready"`
	Serving     bool   `json:"serving"`
	Terminating bool   `json:"terminating,omitempty"`
	Zone        string `json:"zone,omitempty"`
}

// Secret is a TLS certificate and key held in a Kubernetes Secret; the translator reads the data
// itself and hands it to Envoy over SDS.
type Secret struct {
	// Name is "<ns>/<name>" of the Kubernetes Secret.
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Secret    string `json:"secret"`
}
