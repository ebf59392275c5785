package explain

// Decision is what Envoy does with one request (or connection), step by step, and why. Steps after
// the one that stopped the request are nil.
type Decision struct {
	Request     RequestInfo      `json:"request"`
	Listener    *ListenerStep    `json:"listener,omitempty"`
	FilterChain *ChainStep       `json:"filterChain,omitempty"`
	RouteConfig string           `json:"routeConfiguration,omitempty"`
	VirtualHost *VirtualHostStep `json:"virtualHost,omitempty"`
	// Considered is how many routes of the virtual host were tried, the matched one included.
	Considered int         `json:"routesConsidered,omitempty"`
	Route      *RouteStep  `json:"route,omitempty"`
	Skipped    []Skipped   `json:"skippedRoutes,omitempty"`
	Filters    []Operation `json:"filters,omitempty"`
	Action     Action      `json:"action"`
	Notes      []string    `json:"notes,omitempty"`
}

// RequestInfo is the request as Envoy routes it: the path normalized, the port stripped from
// :authority when the connection manager says so.
type RequestInfo struct {
	Method string `json:"method,omitempty"`
	Scheme string `json:"scheme"`
	// Authority is :authority as routing sees it; SNI is the TLS server name, if any.
	Authority string `json:"authority,omitempty"`
	SNI       string `json:"sni,omitempty"`
	Port      uint32 `json:"port"`
	// Path is the path (without query) routing sees; OriginalPath is the one sent, when it differs.
	Path         string   `json:"path,omitempty"`
	OriginalPath string   `json:"originalPath,omitempty"`
	Query        string   `json:"query,omitempty"`
	Headers      []Header `json:"headers,omitempty"`
	// Client is the client address access rules were evaluated with, if given.
	Client string `json:"client,omitempty"`
}

// ListenerStep is the listener that accepted the connection.
type ListenerStep struct {
	Name     string `json:"name"`
	Port     uint32 `json:"port"`
	Protocol string `json:"protocol"`
}

// ChainStep is the filter chain selected by SNI.
type ChainStep struct {
	Name        string   `json:"name,omitempty"`
	ServerNames []string `json:"serverNames,omitempty"`
	// Why says which rule selected it: an exact server name, the longest wildcard, or the chain
	// without server names.
	Why string `json:"why"`
	// Certificates are the SDS secrets of a chain that terminates TLS; none for passthrough.
	Certificates []string `json:"certificates,omitempty"`
	TLS          bool     `json:"terminatesTLS"`
}

// VirtualHostStep is the virtual host selected by :authority.
type VirtualHostStep struct {
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
	// Domain is the domain that matched, and Why by which of Envoy's rules.
	Domain string `json:"domain"`
	Why    string `json:"why"`
	Routes int    `json:"routes"`
}

// RouteStep is the matched route.
type RouteStep struct {
	Name string `json:"name"`
	// Position is the route's 1-based place in its virtual host.
	Position int     `json:"position"`
	Source   *Source `json:"source,omitempty"`
	// Match describes the route's match, every criterion of which the request met.
	Match string `json:"match"`
}

// Source is the Gateway API rule a route comes from, parsed from its name
// ("<Kind>/<ns>/<name>/rule/<i>/match/<j>").
type Source struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Rule      int    `json:"rule"`
	Match     int    `json:"match"`
}

// Skipped is a route tried before the matched one (or every route, when none matched), and the
// first criterion the request failed.
type Skipped struct {
	Route string `json:"route"`
	Why   string `json:"why"`
}

// Operation is one thing done to the request or response on its way: a header change, a
// rewrite, a mirror, a CORS policy, a timeout or retry policy, the Endpoint Picker that chooses
// an InferencePool's endpoint.
type Operation struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// Action types.
const (
	ActionForward        = "forward"
	ActionRedirect       = "redirect"
	ActionDirectResponse = "direct-response"
	ActionNotFound       = "not-found"
	ActionTCPProxy       = "tcp-proxy"
	ActionUDPProxy       = "udp-proxy"
	ActionClose          = "close"
	ActionRefused        = "refused"
	ActionCORSPreflight  = "cors-preflight"
	ActionIncomplete     = "incomplete"
)

// Action is the outcome: where the request goes, or what answers it.
type Action struct {
	Type string `json:"type"`
	// Status is the HTTP status Envoy answers with (redirects, direct responses, 404s).
	Status   int       `json:"status,omitempty"`
	Location string    `json:"location,omitempty"`
	Backends []Backend `json:"backends,omitempty"`
	// Summary says the outcome in one line; Reason why, when the request fails.
	Summary string `json:"summary"`
	Reason  string `json:"reason,omitempty"`
}

// Backend is one weighted destination.
type Backend struct {
	Cluster string  `json:"cluster"`
	Weight  uint32  `json:"weight"`
	Percent float64 `json:"percent"`
	// Missing says the cluster does not exist (the share of invalid backends): Envoy answers
	// Status for its share of HTTP requests, and closes its share of TCP connections.
	Missing   bool        `json:"missing,omitempty"`
	Status    int         `json:"status,omitempty"`
	Endpoints []string    `json:"endpoints,omitempty"`
	Filters   []Operation `json:"filters,omitempty"`
	Note      string      `json:"note,omitempty"`
}
