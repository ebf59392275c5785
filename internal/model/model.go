// Package model is Flotilla's intermediate representation of one fleet: what its Envoys listen on,
// how they route and where they send traffic. Plain, sorted Go structs; no Kubernetes or Envoy types.
package model

// Protocol is what a Listener speaks on its port.
type Protocol string

// Listener protocols. HTTPS and TLS share a port (both dispatch on SNI), so a Listener of protocol
// TLS may carry HTTPS filter chains as well.
const (
	ProtocolHTTP  Protocol = "HTTP"
	ProtocolHTTPS Protocol = "HTTPS"
	ProtocolTLS   Protocol = "TLS"
	ProtocolTCP   Protocol = "TCP"
	ProtocolUDP   Protocol = "UDP"
)

// Fleet is everything one Gateway's Envoys need. Every slice is sorted: Listeners by port and
// protocol, Clusters and Secrets by name.
type Fleet struct {
	// Key is the fleet key, "<gateway-namespace>/<gateway-name>".
	Key       string     `json:"key"`
	Listeners []Listener `json:"listeners,omitempty"`
	Clusters  []Cluster  `json:"clusters,omitempty"`
	Secrets   []Secret   `json:"secrets,omitempty"`
	// TrustBundles are the CA bundles clusters verify their backends with and HTTPS chains their
	// clients with, sorted by name.
	TrustBundles []TrustBundle `json:"trustBundles,omitempty"`
	// TrustedForwardedHops is how many X-Forwarded-For entries (from the right) the fleet's
	// Envoys skip to find the client address; 0: the connection's peer.
	TrustedForwardedHops uint32 `json:"trustedForwardedHops,omitempty"`
	// Telemetry, when set, is where the fleet's Envoys export OpenTelemetry spans (and, with
	// AccessLog, access log records); nil: they trace nothing.
	Telemetry *Telemetry `json:"telemetry,omitempty"`
}

// Telemetry is a fleet's OpenTelemetry export: one OTLP/gRPC collector, reached by DNS.
type Telemetry struct {
	// Host and Port are the collector's (a Service's DNS name, or the address a class named).
	Host string `json:"host"`
	Port int32  `json:"port"`
	// SamplingPercent of the requests without a sampling decision of their own are traced.
	SamplingPercent float64 `json:"samplingPercent"`
	// ServiceName is the spans' service.name.
	ServiceName string `json:"serviceName"`
	// ResourceAttributes go on the resource of every span and log record, sorted by key.
	ResourceAttributes []Attribute `json:"resourceAttributes,omitempty"`
	// AccessLog sends the access log to the collector as OTLP log records.
	AccessLog bool `json:"accessLog,omitempty"`
}

// Attribute is one OpenTelemetry attribute.
type Attribute struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Listener is one port of the fleet. Exactly one of VirtualHosts (HTTP), FilterChains (HTTPS and
// TLS), or Backends (TCP, UDP) is used.
type Listener struct {
	// Name is "<protocol>-<port>" in lower case, e.g. "http-80": unique in the fleet.
	Name     string   `json:"name"`
	Port     int32    `json:"port"`
	Protocol Protocol `json:"protocol"`
	// Sources are the Gateway API listeners merged into this port, as
	// "Gateway/<ns>/<name>/<section>" or "ListenerSet/<ns>/<name>/<section>", sorted.
	Sources []string `json:"sources,omitempty"`
	// VirtualHosts of a plain HTTP port, sorted by name.
	VirtualHosts []VirtualHost `json:"virtualHosts,omitempty"`
	// FilterChains of an HTTPS/TLS port, sorted by name.
	FilterChains []FilterChain `json:"filterChains,omitempty"`
	// Backends of a TCP or UDP port (empty: connections are refused).
	Backends *Backends `json:"backends,omitempty"`
}

// FilterChain is one SNI-selected chain of an HTTPS or TLS port.
type FilterChain struct {
	// Name is unique within the Listener.
	Name string `json:"name"`
	// ServerNames are the SNI values the chain accepts, sorted; empty matches any (or none).
	ServerNames []string `json:"serverNames,omitempty"`
	// TLS terminates the connection with these certificates; nil is TLS passthrough.
	TLS *TLSTermination `json:"tls,omitempty"`
	// VirtualHosts of a terminated HTTPS chain, sorted by name.
	VirtualHosts []VirtualHost `json:"virtualHosts,omitempty"`
	// Backends of a TLS chain (passthrough, or terminated and proxied as TCP).
	Backends *Backends `json:"backends,omitempty"`
}

// TLSTermination says how a chain terminates TLS.
type TLSTermination struct {
	// CertificateSecrets name Secrets of the Fleet (Secret.Name), in listener order.
	CertificateSecrets []string `json:"certificateSecrets"`
	// ClientValidation asks clients for a certificate and verifies it (the Gateway's
	// spec.tls.frontend); nil: clients are not asked for one. Every HTTPS chain of a port has
	// the same value.
	ClientValidation *ClientValidation `json:"clientValidation,omitempty"`
}

// ClientValidation is how a terminating chain verifies client certificates.
type ClientValidation struct {
	// TrustBundle names the Fleet's TrustBundle of the CAs a client certificate must chain to.
	TrustBundle string `json:"trustBundle"`
	// InsecureFallback (mode AllowInsecureFallback) accepts a connection without a client
	// certificate or with one that fails verification; without it a verified certificate is
	// required.
	InsecureFallback bool `json:"insecureFallback,omitempty"`
}

// VirtualHost is a set of domains and the routes that serve them.
type VirtualHost struct {
	// Name is unique within its Listener or FilterChain.
	Name string `json:"name"`
	// Domains are exact ("foo.example.com"), wildcard ("*.example.com") or "*", sorted.
	Domains []string `json:"domains"`
	// Routes in match order: the first route that matches a request serves it. A virtual host
	// without routes answers 404 to every request.
	Routes []Route `json:"routes,omitempty"`
	// Misdirected virtual hosts (no routes) answer 421 Misdirected Request: their domains belong to
	// another listener (certificate) of the port than the TLS connection's.
	Misdirected bool `json:"misdirected,omitempty"`
}

// Route is one match of one rule of an HTTPRoute or GRPCRoute, with its action.
type Route struct {
	// Name is "<kind>/<ns>/<name>/rule/<i>/match/<j>": unique and stable.
	Name  string `json:"name"`
	Match Match  `json:"match"`
	// Filters run in order before the action.
	Filters []Filter `json:"filters,omitempty"`
	// Exactly one of Redirect or Backends is set.
	Redirect *Redirect `json:"redirect,omitempty"`
	Backends *Backends `json:"backends,omitempty"`
	Timeouts *Timeouts `json:"timeouts,omitempty"`
	Retry    *Retry    `json:"retry,omitempty"`
	// HashPolicies choose the endpoint of a ring-hash cluster (an Ingress's affinity or
	// upstream-hash-by); only a route whose every cluster balances by RingHash has them.
	HashPolicies []HashPolicy `json:"hashPolicies,omitempty"`
	// Protections are checked before the request is forwarded (RouteFilters, an Ingress's
	// access, limit and auth annotations); the matches of a rule share them.
	Protections *Protections `json:"protections,omitempty"`
}

// MatchType is how a value is compared.
type MatchType string

// Match types. PathPrefix matches whole path segments, as Gateway API defines; Prefix (paths
// only) matches characters, as nginx's prefix locations do: "/foo" matches "/foobar" (an
// Ingress's ImplementationSpecific path).
const (
	MatchExact      MatchType = "Exact"
	MatchPathPrefix MatchType = "PathPrefix"
	MatchPrefix     MatchType = "Prefix"
	MatchRegex      MatchType = "RegularExpression"
)

// Match is a request match: every set field must match.
type Match struct {
	Path        *StringMatch  `json:"path,omitempty"`
	Method      string        `json:"method,omitempty"`
	Headers     []StringMatch `json:"headers,omitempty"`
	QueryParams []StringMatch `json:"queryParams,omitempty"`
	// GRPC says the route came from a GRPCRoute (HTTP/2, gRPC status on errors).
	GRPC bool `json:"grpc,omitempty"`
}

// StringMatch matches a path, header or query parameter value (Name is empty for a path).
type StringMatch struct {
	Name  string    `json:"name,omitempty"`
	Type  MatchType `json:"type"`
	Value string    `json:"value"`
}
