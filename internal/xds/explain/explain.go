package explain

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"github.com/flotilla-dev/flotilla/internal/xds/translate"
)

// maxSkipped bounds the skipped routes a Decision lists (Considered still counts them all).
const maxSkipped = 100

// Fleet is one fleet's resources indexed for explaining many requests (not safe for concurrent use).
type Fleet struct {
	res       *translate.Resources
	clusters  map[string]*clusterv3.Cluster
	endpoints map[string]*endpointv3.ClusterLoadAssignment
	regexes   map[string]*regexp.Regexp
	domains   map[*routev3.RouteConfiguration]*domainIndex
}

// Prepare indexes res for Explain.
func Prepare(res *translate.Resources) *Fleet {
	f := &Fleet{res: res, regexes: map[string]*regexp.Regexp{},
		clusters: make(map[string]*clusterv3.Cluster, len(res.Clusters)), endpoints: make(map[string]*endpointv3.ClusterLoadAssignment, len(res.Endpoints))}
	for _, c := range res.Clusters {
		f.clusters[c.GetName()] = c
	}
	for _, cla := range res.Endpoints {
		f.endpoints[cla.GetClusterName()] = cla
	}
	return f
}

// explainer walks one fleet's resources for one request.
type explainer struct {
	*Fleet
	d *Decision
	// req is the request as routing sees it (path normalized, port stripped) once HTTP starts.
	req Request
}

// Explain walks res as Envoy would for req: the listener by port, the filter chain by SNI, the
// HTTP connection manager's route configuration, the virtual host by :authority, the first route
// that matches; then says what that route does. An error means resources that cannot be read
// (a typed config that does not unpack), never a request that fails: that is the Decision's
// Action.
func Explain(res *translate.Resources, req Request) (*Decision, error) {
	return Prepare(res).Explain(req)
}

// Explain is the package's Explain for the fleet f indexes.
func (f *Fleet) Explain(req Request) (*Decision, error) {
	e := &explainer{Fleet: f, req: req,
		d: &Decision{Request: RequestInfo{Method: req.Method, Scheme: req.Scheme, Authority: req.Authority, SNI: req.SNI,
			Port: req.Port, Path: req.Path, Query: req.Query, Headers: req.Headers, Client: req.Client}}}
	if err := e.walk(); err != nil {
		return nil, err
	}
	return e.d, nil
}

func (e *explainer) note(format string, args ...any) {
	e.d.Notes = append(e.d.Notes, fmt.Sprintf(format, args...))
}

func (e *explainer) stop(typ string, status int, summary, reason string) {
	e.d.Action = Action{Type: typ, Status: status, Summary: summary, Reason: reason}
}

func (e *explainer) walk() error {
	// The provisioner maps a Gateway port to the port Envoy binds; the translator binds that.
	port := uint32(provisioner.ContainerPort(int32(e.req.Port)))
	if port != e.req.Port {
		e.note("Gateway port %d is Envoy's port %d", e.req.Port, port)
	}
	proto := corev3.SocketAddress_TCP
	if e.req.Scheme == "udp" {
		proto = corev3.SocketAddress_UDP
	}
	var l *listenerv3.Listener
	var ports []string
	for _, cand := range e.res.Listeners {
		sa := cand.GetAddress().GetSocketAddress()
		ports = append(ports, fmt.Sprintf("%s (%s %d)", cand.GetName(), sa.GetProtocol(), sa.GetPortValue()))
		if sa.GetPortValue() == port && sa.GetProtocol() == proto {
			l = cand
		}
	}
	if l == nil {
		e.stop(ActionRefused, 0, fmt.Sprintf("connection refused: no %s listener on port %d", proto, port),
			"the fleet listens on "+orNone(ports))
		return nil
	}
	e.d.Listener = &ListenerStep{Name: l.GetName(), Port: port, Protocol: proto.String()}
	if proto == corev3.SocketAddress_UDP {
		return e.udp(l)
	}
	sni := e.req.SNI
	if sni != "" && !slices.ContainsFunc(l.GetListenerFilters(), func(f *listenerv3.ListenerFilter) bool {
		return f.GetName() == "envoy.filters.listener.tls_inspector"
	}) {
		e.note("the listener has no TLS inspector: the SNI %s is not read", sni)
		sni = ""
	}
	fc, why := selectChain(l, sni)
	if fc == nil {
		e.stop(ActionClose, 0, "connection closed: no filter chain matches", why)
		return nil
	}
	e.d.FilterChain = &ChainStep{Name: fc.GetName(), ServerNames: fc.GetFilterChainMatch().GetServerNames(), Why: why}
	tls, err := e.chainTLS(fc)
	if err != nil {
		return err
	}
	plaintext := e.req.Scheme == "http" || e.req.Scheme == "tcp"
	switch {
	case tls && plaintext:
		e.stop(ActionClose, 0, "connection fails: the filter chain terminates TLS but the client speaks plaintext",
			"give an https:// or tls:// request")
		return nil
	case !tls && !plaintext && hasHCM(fc):
		e.stop(ActionClose, 0, "connection fails: the client speaks TLS to a plaintext HTTP listener", "give an http:// request")
		return nil
	}
	return e.chainFilters(fc, tls)
}

// selectChain picks a filter chain by server name as Envoy does: a chain naming sni exactly, else
// the one with the longest matching wildcard ("*.example.com" for "a.b.example.com" after
// "*.b.example.com"), else the chain without server names (else the listener's default chain).
func selectChain(l *listenerv3.Listener, sni string) (*listenerv3.FilterChain, string) {
	chains := l.GetFilterChains()
	find := func(name string) *listenerv3.FilterChain {
		for _, fc := range chains {
			if slices.ContainsFunc(fc.GetFilterChainMatch().GetServerNames(), func(n string) bool { return strings.EqualFold(n, name) }) {
				return fc
			}
		}
		return nil
	}
	if sni != "" {
		if fc := find(sni); fc != nil {
			return fc, fmt.Sprintf("SNI %s matches server name %s exactly", sni, sni)
		}
		labels := strings.Split(sni, ".")
		for i := 1; i < len(labels); i++ {
			w := "*." + strings.Join(labels[i:], ".")
			if fc := find(w); fc != nil {
				return fc, fmt.Sprintf("SNI %s matches wildcard server name %s (the longest that matches)", sni, w)
			}
		}
	}
	for _, fc := range chains {
		if len(fc.GetFilterChainMatch().GetServerNames()) == 0 {
			if len(chains) == 1 && fc.GetTransportSocket() == nil {
				return fc, "the listener's only filter chain"
			}
			if sni == "" {
				return fc, "the connection has no SNI: the chain without server names"
			}
			return fc, fmt.Sprintf("no server name matches SNI %s: the chain without server names", sni)
		}
	}
	if dfc := l.GetDefaultFilterChain(); dfc != nil {
		return dfc, "no chain matches: the listener's default chain"
	}
	var names []string
	for _, fc := range chains {
		names = append(names, fc.GetFilterChainMatch().GetServerNames()...)
	}
	if sni == "" {
		return nil, "the connection has no SNI and every chain requires a server name (" + orNone(names) + ")"
	}
	return nil, fmt.Sprintf("SNI %s matches none of the server names (%s) and no chain accepts any name", sni, orNone(names))
}

// chainTLS says whether the chain terminates TLS, and records its certificates.
func (e *explainer) chainTLS(fc *listenerv3.FilterChain) (bool, error) {
	ts := fc.GetTransportSocket()
	if ts == nil {
		return false, nil
	}
	ctx := &tlsv3.DownstreamTlsContext{}
	if err := unpack(ts.GetTypedConfig(), ctx); err != nil {
		return false, fmt.Errorf("filter chain %s: transport socket: %w", fc.GetName(), err)
	}
	e.d.FilterChain.TLS = true
	for _, s := range ctx.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs() {
		e.d.FilterChain.Certificates = append(e.d.FilterChain.Certificates, s.GetName())
	}
	return true, nil
}

func hasHCM(fc *listenerv3.FilterChain) bool {
	return slices.ContainsFunc(fc.GetFilters(), func(f *listenerv3.Filter) bool {
		return f.GetTypedConfig().MessageIs(&hcmv3.HttpConnectionManager{})
	})
}

// chainFilters follows the chain's terminal network filter: HTTP, TCP proxy or close.
func (e *explainer) chainFilters(fc *listenerv3.FilterChain, tls bool) error {
	for _, f := range fc.GetFilters() {
		tc := f.GetTypedConfig()
		switch {
		case tc.MessageIs(&hcmv3.HttpConnectionManager{}):
			hcm := &hcmv3.HttpConnectionManager{}
			if err := unpack(tc, hcm); err != nil {
				return fmt.Errorf("filter chain %s: %w", fc.GetName(), err)
			}
			if e.req.Scheme != "http" && e.req.Scheme != "https" {
				e.stop(ActionIncomplete, 0, "the chain serves HTTP: give an http:// or https:// request to see its route", "")
				return nil
			}
			return e.http(hcm, tls)
		case tc.MessageIs(&tcpproxyv3.TcpProxy{}):
			tp := &tcpproxyv3.TcpProxy{}
			if err := unpack(tc, tp); err != nil {
				return fmt.Errorf("filter chain %s: %w", fc.GetName(), err)
			}
			e.tcpProxy(tp)
			return nil
		case f.GetName() == "envoy.filters.network.direct_response":
			e.stop(ActionClose, 0, "connection closed at once", "the chain's direct_response filter closes every connection (no valid backend)")
			return nil
		}
	}
	e.stop(ActionIncomplete, 0, "the chain has no filter this tool follows", "")
	return nil
}

// share is one weighted cluster of an action.
type share struct {
	cluster string
	weight  uint32
	cw      *routev3.WeightedCluster_ClusterWeight
}

// failure says what becomes of a share that cannot be served: for HTTP the status Envoy answers
// when its cluster does not exist (no endpoints: 503); for TCP and UDP, what becomes of the
// connections or datagrams.
type failure struct {
	status int
	l4     string
}

var (
	tcpFailure = failure{l4: "connections closed"}
	udpFailure = failure{l4: "datagrams dropped"}
)

// backends describes weighted clusters: their share, their endpoints, and what a share that
// cannot be served gets.
func (e *explainer) backends(shares []share, f failure) []Backend {
	var total uint64
	for _, s := range shares {
		total += uint64(s.weight)
	}
	out := make([]Backend, 0, len(shares))
	for _, s := range shares {
		b := Backend{Cluster: s.cluster, Weight: s.weight}
		if total > 0 {
			b.Percent = float64(s.weight) * 100 / float64(total)
		}
		c, ok := e.clusters[s.cluster]
		switch {
		case !ok && s.cluster == translate.InvalidBackendCluster:
			b.Missing, b.Status, b.Note = true, f.status, "the share of invalid backends"
		case !ok:
			b.Missing, b.Status, b.Note = true, f.status, "the fleet has no such cluster"
		default:
			b.Endpoints = e.clusterEndpoints(c)
			if len(b.Endpoints) == 0 {
				b.Note = "no endpoints: Envoy answers 503 (no healthy upstream)"
			}
		}
		if f.l4 != "" && b.Note != "" {
			b.Note = strings.Replace(b.Note, "Envoy answers 503 (no healthy upstream)", f.l4, 1)
			if b.Missing {
				b.Note += ": " + f.l4
			}
		}
		if s.cw != nil {
			b.Filters = clusterWeightOps(s.cw)
		}
		out = append(out, b)
	}
	return out
}

// clusterEndpoints lists a cluster's endpoints ("ip:port", with a health status other than
// HEALTHY).
func (e *explainer) clusterEndpoints(c *clusterv3.Cluster) []string {
	cla := c.GetLoadAssignment()
	if c.GetType() == clusterv3.Cluster_EDS {
		name := c.GetEdsClusterConfig().GetServiceName()
		if name == "" {
			name = c.GetName()
		}
		cla = e.endpoints[name]
	}
	var out []string
	for _, le := range cla.GetEndpoints() {
		for _, lb := range le.GetLbEndpoints() {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			s := fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue())
			if strings.Contains(sa.GetAddress(), ":") {
				s = fmt.Sprintf("[%s]:%d", sa.GetAddress(), sa.GetPortValue())
			}
			if h := lb.GetHealthStatus(); h != corev3.HealthStatus_HEALTHY && h != corev3.HealthStatus_UNKNOWN {
				s += " (" + h.String() + ")"
			}
			out = append(out, s)
		}
	}
	return out
}

func unpack(a *anypb.Any, m proto.Message) error {
	if a == nil {
		return fmt.Errorf("no typed config (want %s)", m.ProtoReflect().Descriptor().FullName())
	}
	if err := a.UnmarshalTo(m); err != nil {
		return fmt.Errorf("unpacking %s: %w", a.GetTypeUrl(), err)
	}
	return nil
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}
