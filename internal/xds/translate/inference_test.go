package translate

import (
	"maps"
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	overridehostv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/override_host/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// Model-level golden cases of the Gateway API Inference Extension: InferencePools whose
// Endpoint Picker chooses the endpoint (testdata/model/inference-*.out.yaml).

// extProcService is the gRPC service an Endpoint Picker's health check asks about.
const extProcService = "envoy.service.ext_proc.v3.ExternalProcessor"

func init() { maps.Copy(modelCases, inferenceCases) }

// pool is the cluster of InferencePool infra/<name> (HTTP/1.1 or h2c), two model servers.
func pool(name string, p model.ClusterProtocol, picker *model.EndpointPicker, ips ...string) model.Cluster {
	c := model.Cluster{Name: "infra/" + name + "/inferencepool/" + strings.ToLower(string(p)), Protocol: p,
		InferencePool: "infra/" + name, EndpointPicker: picker}
	for _, ip := range ips {
		c.Endpoints = append(c.Endpoints, ready(ip, 8000))
	}
	return c
}

// epp is the cluster of Endpoint Picker Service infra/<name> port 9002, with tls (unverified
// when nil: no BackendTLSPolicy targets it).
func epp(name, ip string, tls *model.UpstreamTLS) model.Cluster {
	if tls == nil {
		tls = &model.UpstreamTLS{Unverified: true}
	}
	return model.Cluster{Name: "infra/" + name + "/9002/epp", Protocol: model.ClusterGRPC, Service: "infra/" + name, Port: 9002,
		Endpoints: []model.Endpoint{ready(ip, 9002)}, TLS: tls, GRPCHealthCheck: extProcService}
}

func picker(name string, failOpen bool) *model.EndpointPicker {
	return &model.EndpointPicker{Cluster: "infra/" + name + "/9002/epp", FailOpen: failOpen}
}

// llmRoute is rule <rule> of HTTPRoute infra/llm: requests under prefix to backends.
func llmRoute(rule, prefix string, b *model.Backends) model.Route {
	return model.Route{Name: "HTTPRoute/infra/llm/rule/" + rule + "/match/0",
		Match: model.Match{Path: &model.StringMatch{Type: model.MatchPathPrefix, Value: prefix}}, Backends: b}
}

// weighted is a Backends of clusters and weights, in pairs.
func weighted(pairs ...any) *model.Backends {
	b := &model.Backends{}
	for i := 0; i < len(pairs); i += 2 {
		b.Clusters = append(b.Clusters, model.WeightedCluster{Cluster: pairs[i].(string), Weight: pairs[i+1].(uint32)})
	}
	return b
}

// llmFleet serves routes on llm.example.com, port 80.
func llmFleet(routes []model.Route, clusters ...model.Cluster) model.Fleet {
	return model.Fleet{Key: "infra/gw", Clusters: clusters, Listeners: []model.Listener{{Name: "http-80", Port: 80, Protocol: model.ProtocolHTTP,
		VirtualHosts: []model.VirtualHost{{Name: "llm.example.com", Domains: []string{"llm.example.com"}, Routes: routes}}}}}
}

var inferenceCases = map[string]func(t testing.TB) (model.Fleet, map[string]TLSSecret){
	// One pool whose picker fails closed, one route: the pool's cluster balances with
	// override_host (the picked endpoint from dynamic metadata, else round robin); the picker's
	// cluster speaks gRPC over TLS without verification (no BackendTLSPolicy) and is
	// health-checked; the listener's ext_proc filter is disabled and the route enables it; the
	// route has no timeout.
	"inference-pool": func(testing.TB) (model.Fleet, map[string]TLSSecret) {
		llama := pool("llama", model.ClusterHTTP, picker("llama-epp", false), "10.1.0.1", "10.1.0.2")
		return llmFleet([]model.Route{llmRoute("0", "/", to(llama.Name))}, llama, epp("llama-epp", "10.1.1.1", nil)), nil
	},
	// A pool of h2c model servers whose picker fails open (FailOpen: round robin when the picker
	// cannot answer); a CORS policy on the same route (the CORS filter runs first); a rule with
	// its own request timeout, which stays.
	"inference-pool-fail-open-h2c": func(testing.TB) (model.Fleet, map[string]TLSSecret) {
		qwen := pool("qwen", model.ClusterH2C, picker("qwen-epp", true), "10.2.0.1", "10.2.0.2")
		cors := llmRoute("0", "/v1", to(qwen.Name))
		cors.Filters = []model.Filter{{Type: model.FilterCORS, CORS: &model.CORS{AllowOrigins: []string{"https://chat.example.com"}, AllowMethods: []string{"POST"}}}}
		timed := llmRoute("1", "/batch", to(qwen.Name))
		timed.Timeouts = &model.Timeouts{Request: "600s"}
		return llmFleet([]model.Route{cors, timed}, qwen, epp("qwen-epp", "10.2.1.1", &model.UpstreamTLS{Unverified: true, SNI: "qwen-epp.infra.svc"})), nil
	},
	// 70/30 across two pools with their own pickers (each weighted cluster asks its own pool's
	// picker; the listener's filter names the first picker by name), a backend header filter
	// beside the picker on one share; and a rule to a pool without a picker: round robin, no
	// picker, still no timeout.
	"inference-pool-weighted": func(testing.TB) (model.Fleet, map[string]TLSSecret) {
		a := pool("llama-a", model.ClusterHTTP, picker("llama-a-epp", false), "10.3.0.1", "10.3.0.2")
		b := pool("llama-b", model.ClusterHTTP, picker("llama-b-epp", true), "10.4.0.1")
		plain := pool("mistral", model.ClusterHTTP, nil, "10.5.0.1", "10.5.0.2")
		split := llmRoute("0", "/v1", weighted(b.Name, uint32(30), a.Name, uint32(70)))
		split.Backends.Clusters[1].Filters = []model.Filter{{Type: model.FilterRequestHeaders,
			RequestHeaders: &model.HeaderModifier{Set: []model.Header{{Name: "x-pool", Value: "llama-a"}}}}}
		return llmFleet([]model.Route{split, llmRoute("1", "/mistral", to(plain.Name))},
			a, b, plain, epp("llama-a-epp", "10.3.1.1", nil), epp("llama-b-epp", "10.4.1.1", nil)), nil
	},
	// A Service and a pool on one route, 50/50: only the pool's share asks the picker. A second
	// listener routes to the Service alone: its HTTP connection manager has no ext_proc filter.
	"inference-pool-and-service": func(testing.TB) (model.Fleet, map[string]TLSSecret) {
		llama := pool("llama", model.ClusterHTTP, picker("llama-epp", false), "10.1.0.1")
		web := model.Cluster{Name: "infra/web/80/http", Protocol: model.ClusterHTTP, Service: "infra/web", Port: 80,
			Endpoints: []model.Endpoint{ready("10.6.0.1", 8080)}}
		f := llmFleet([]model.Route{llmRoute("0", "/", weighted(web.Name, uint32(1), llama.Name, uint32(1)))}, llama, web, epp("llama-epp", "10.1.1.1", nil))
		f.Listeners = append(f.Listeners, model.Listener{Name: "http-8080", Port: 8080, Protocol: model.ProtocolHTTP,
			VirtualHosts: []model.VirtualHost{{Name: "web.example.com", Domains: []string{"web.example.com"},
				Routes: []model.Route{{Name: "HTTPRoute/infra/web/rule/0/match/0", Backends: to(web.Name)}}}}})
		return f, nil
	},
	// A BackendTLSPolicy targets the picker's Service: its cluster verifies the picker's
	// certificate with the policy's CA bundle and subject alternative names, as any backend.
	"inference-epp-verified": func(t testing.TB) (model.Fleet, map[string]TLSSecret) {
		ca, _ := testCAs(t)
		llama := pool("llama", model.ClusterHTTP, picker("llama-epp", false), "10.1.0.1")
		f := llmFleet([]model.Route{llmRoute("0", "/", to(llama.Name))}, llama, epp("llama-epp", "10.1.1.1", &model.UpstreamTLS{
			SNI: "llama-epp.infra.svc", TrustBundle: backendCA,
			SubjectAltNames: []model.SubjectAltName{{Type: "URI", Value: "spiffe://cluster.local/ns/infra/sa/llama-epp"}}}))
		f.TrustBundles = []model.TrustBundle{{Name: backendCA, PEM: ca}}
		return f, nil
	},
}

// inference translates an inference golden case, checked.
func inference(t *testing.T, name string) *Resources {
	t.Helper()
	f, secrets := inferenceCases[name](t)
	return translateModel(t, &f, secrets)
}

func findCluster(t *testing.T, r *Resources, name string) *clusterv3.Cluster {
	t.Helper()
	for _, c := range r.Clusters {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no cluster %s", name)
	return nil
}

// hcmFilters are the HTTP filters of listener l's first filter chain.
func hcmFilters(t *testing.T, r *Resources, l string) []*hcmv3.HttpFilter {
	t.Helper()
	for _, ls := range r.Listeners {
		if ls.Name == l {
			var h hcmv3.HttpConnectionManager
			unpack(t, ls.FilterChains[0].Filters[0].GetTypedConfig(), &h)
			return h.HttpFilters
		}
	}
	t.Fatalf("no listener %s", l)
	return nil
}

func routeNamed(t *testing.T, r *Resources, name string) *routev3.Route {
	t.Helper()
	for _, rc := range r.Routes {
		for _, vh := range rc.VirtualHosts {
			for _, rt := range vh.Routes {
				if rt.Name == name {
					return rt
				}
			}
		}
	}
	t.Fatalf("no route %s", name)
	return nil
}

// TestOverrideHostReadsMetadata: the pool's cluster sends a request to the endpoint the picker
// put in dynamic metadata, never to one a request header names (a client could set it), and
// falls back to round robin; a pool without a picker is plain round robin.
func TestOverrideHostReadsMetadata(t *testing.T) {
	r := inference(t, "inference-pool-weighted")
	c := findCluster(t, r, "infra/llama-a/inferencepool/http")
	var oh overridehostv3.OverrideHost
	unpack(t, c.GetLoadBalancingPolicy().GetPolicies()[0].GetTypedExtensionConfig().GetTypedConfig(), &oh)
	if len(oh.OverrideHostSources) != 1 {
		t.Fatalf("sources %v", oh.OverrideHostSources)
	}
	src := oh.OverrideHostSources[0]
	md := src.GetMetadata()
	if src.Header != "" || md.GetKey() != "envoy.lb" || len(md.GetPath()) != 1 || md.GetPath()[0].GetKey() != "x-gateway-destination-endpoint" {
		t.Errorf("override host source %v: want dynamic metadata envoy.lb/x-gateway-destination-endpoint, no header", src)
	}
	if k := oh.GetSelectedHostKey(); k.GetKey() != "envoy.lb" || k.GetPath()[0].GetKey() != "x-gateway-destination-endpoint-served" {
		t.Errorf("selected host key %v", k)
	}
	if fb := oh.GetFallbackPolicy().GetPolicies(); len(fb) != 1 || fb[0].GetTypedExtensionConfig().GetName() != nameRoundRobin {
		t.Errorf("fallback %v", fb)
	}
	if plain := findCluster(t, r, "infra/mistral/inferencepool/http"); plain.LoadBalancingPolicy != nil || plain.LbPolicy != clusterv3.Cluster_ROUND_ROBIN {
		t.Errorf("pool without a picker: %v", plain)
	}
	if e := findCluster(t, r, "infra/llama-a-epp/9002/epp"); len(e.HealthChecks) != 1 || e.HealthChecks[0].GetGrpcHealthCheck().GetServiceName() != extProcService ||
		e.TypedExtensionProtocolOptions[nameHTTPOptions] == nil {
		t.Errorf("picker cluster: health checks %v, protocol options %v", e.HealthChecks, e.TypedExtensionProtocolOptions)
	}
}

// pickerOf is the ext_proc per-route configuration in configs, nil if none.
func pickerOf(t *testing.T, configs map[string]*anypb.Any) *extprocv3.ExtProcOverrides {
	t.Helper()
	a := configs[nameExtProc]
	if a == nil {
		return nil
	}
	var p extprocv3.ExtProcPerRoute
	unpack(t, a, &p)
	return p.GetOverrides()
}

// TestPickerPerRoute: a route to one pool asks its picker; a weighted route asks, per weighted
// cluster, the picker of that pool (failure_mode_allow true only for FailOpen), and nothing for
// a share without a picker; the route to a pool without picker asks none.
func TestPickerPerRoute(t *testing.T) {
	r := inference(t, "inference-pool-weighted")
	split := routeNamed(t, r, "HTTPRoute/infra/llm/rule/0/match/0")
	if pickerOf(t, split.TypedPerFilterConfig) != nil {
		t.Error("a weighted route carries the picker on its weighted clusters, not itself")
	}
	want := map[string]struct {
		picker   string
		failOpen bool
	}{"infra/llama-a/inferencepool/http": {"infra/llama-a-epp/9002/epp", false}, "infra/llama-b/inferencepool/http": {"infra/llama-b-epp/9002/epp", true}}
	for _, cw := range split.GetRoute().GetWeightedClusters().GetClusters() {
		o := pickerOf(t, cw.TypedPerFilterConfig)
		if o.GetGrpcService().GetEnvoyGrpc().GetClusterName() != want[cw.Name].picker || o.GetFailureModeAllow().GetValue() != want[cw.Name].failOpen ||
			o.GetFailureModeAllow() == nil {
			t.Errorf("%s: overrides %v, want picker %+v", cw.Name, o, want[cw.Name])
		}
		m := o.GetProcessingMode()
		if m.GetRequestBodyMode() != extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED || m.GetResponseBodyMode() != extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED ||
			m.GetRequestTrailerMode() != extprocv3.ProcessingMode_SEND || m.GetResponseHeaderMode() != extprocv3.ProcessingMode_SEND {
			t.Errorf("%s: processing mode %v", cw.Name, m)
		}
	}
	if cw := split.GetRoute().GetWeightedClusters().GetClusters()[1]; len(cw.RequestHeadersToAdd) != 1 {
		t.Errorf("%s: the backend's header filter is lost: %v", cw.Name, cw)
	}
	plain := routeNamed(t, r, "HTTPRoute/infra/llm/rule/1/match/0")
	if pickerOf(t, plain.TypedPerFilterConfig) != nil || plain.GetRoute().GetTimeout().AsDuration() != 0 || plain.GetRoute().GetTimeout() == nil {
		t.Errorf("route to a pool without picker: %v", plain)
	}

	r = inference(t, "inference-pool-and-service")
	for _, cw := range routeNamed(t, r, "HTTPRoute/infra/llm/rule/0/match/0").GetRoute().GetWeightedClusters().GetClusters() {
		if asks := pickerOf(t, cw.TypedPerFilterConfig) != nil; asks != strings.Contains(cw.Name, "inferencepool") {
			t.Errorf("%s asks a picker: %t", cw.Name, asks)
		}
	}

	r = inference(t, "inference-pool-fail-open-h2c")
	cors := routeNamed(t, r, "HTTPRoute/infra/llm/rule/0/match/0")
	if o := pickerOf(t, cors.TypedPerFilterConfig); !o.GetFailureModeAllow().GetValue() || cors.TypedPerFilterConfig[nameCORS] == nil {
		t.Errorf("FailOpen route with CORS: %v", cors.TypedPerFilterConfig)
	}
	if d := routeNamed(t, r, "HTTPRoute/infra/llm/rule/1/match/0").GetRoute().GetTimeout().AsDuration().String(); d != "10m0s" {
		t.Errorf("route with its own timeout: %s", d)
	}
	one := routeNamed(t, inference(t, "inference-pool"), "HTTPRoute/infra/llm/rule/0/match/0")
	if o := pickerOf(t, one.TypedPerFilterConfig); o == nil || o.GetFailureModeAllow().GetValue() || o.GetFailureModeAllow() == nil {
		t.Errorf("FailClose route: %v", o)
	}
	if ra := one.GetRoute(); ra.GetTimeout() == nil || ra.GetTimeout().AsDuration() != 0 {
		t.Errorf("route to a pool: timeout %v, want 0s (none)", ra.GetTimeout())
	}
}

// TestExtProcFilter: the ext_proc filter is disabled, after CORS and before the router, with the
// first picker by name as its gRPC service, failing closed, exchanging envoy.lb metadata; an HTTP
// connection manager whose routes ask no picker has none.
func TestExtProcFilter(t *testing.T) {
	r := inference(t, "inference-pool-weighted")
	fs := hcmFilters(t, r, "http-80")
	if len(fs) != 2 || fs[0].Name != nameExtProc || !fs[0].Disabled || fs[1].Name != nameRouter {
		t.Fatalf("filters %v", fs)
	}
	var p extprocv3.ExternalProcessor
	unpack(t, fs[0].GetTypedConfig(), &p)
	if p.GetGrpcService().GetEnvoyGrpc().GetClusterName() != "infra/llama-a-epp/9002/epp" || p.FailureModeAllow ||
		!slices.Equal(p.GetMetadataOptions().GetReceivingNamespaces().GetUntyped(), []string{"envoy.lb"}) ||
		!slices.Equal(p.GetMetadataOptions().GetForwardingNamespaces().GetUntyped(), []string{"envoy.lb"}) {
		t.Errorf("ext_proc filter %v", &p)
	}
	fs = hcmFilters(t, inference(t, "inference-pool-fail-open-h2c"), "http-80")
	if names := []string{fs[0].Name, fs[1].Name, fs[2].Name}; len(fs) != 3 || !slices.Equal(names, []string{nameCORS, nameExtProc, nameRouter}) {
		t.Errorf("filters %v", fs)
	}
	if fs := hcmFilters(t, inference(t, "inference-pool-and-service"), "http-8080"); len(fs) != 1 || fs[0].Name != nameRouter {
		t.Errorf("a listener without pools has filters %v", fs)
	}
}

// TestNoExtProcWithoutPools: no golden input has an InferencePool, and none of their listeners
// has the ext_proc filter.
func TestNoExtProcWithoutPools(t *testing.T) {
	for _, in := range goldenInputs(t) {
		r := loadCase(t, in).translate(t)
		for _, l := range r.Listeners {
			for _, fc := range l.FilterChains {
				for _, f := range fc.Filters {
					if f.Name != nameHCM {
						continue
					}
					var h hcmv3.HttpConnectionManager
					unpack(t, f.GetTypedConfig(), &h)
					for _, hf := range h.HttpFilters {
						if hf.Name == nameExtProc {
							t.Errorf("%s: listener %s has the ext_proc filter", in, l.Name)
						}
					}
				}
			}
		}
	}
}

// TestPickerTLS: an Endpoint Picker's TLS without verification offers h2, sends an SNI only
// when it has one, requires TLS 1.2; and fails closed when it is not a picker's, names what to
// verify with, has an SNI that is not a server name, or is invalid.
func TestPickerTLS(t *testing.T) {
	tlsOf := func(t *testing.T, c *clusterv3.Cluster) *tlsv3.UpstreamTlsContext {
		var ctx tlsv3.UpstreamTlsContext
		unpack(t, c.GetTransportSocket().GetTypedConfig(), &ctx)
		return &ctx
	}
	ctx := tlsOf(t, findCluster(t, inference(t, "inference-pool"), "infra/llama-epp/9002/epp"))
	common := ctx.GetCommonTlsContext()
	if ctx.Sni != "" || common.GetValidationContextType() != nil || !slices.Equal(common.AlpnProtocols, []string{"h2"}) ||
		common.GetTlsParams().GetTlsMinimumProtocolVersion() != tlsv3.TlsParameters_TLSv1_2 {
		t.Errorf("unverified picker TLS %v", ctx)
	}
	if ctx := tlsOf(t, findCluster(t, inference(t, "inference-pool-fail-open-h2c"), "infra/qwen-epp/9002/epp")); ctx.Sni != "qwen-epp.infra.svc" {
		t.Errorf("SNI %q", ctx.Sni)
	}
	if ctx := tlsOf(t, findCluster(t, inference(t, "inference-epp-verified"), "infra/llama-epp/9002/epp")); ctx.GetCommonTlsContext().GetCombinedValidationContext() == nil {
		t.Errorf("verified picker TLS %v", ctx)
	}

	const eppName = "infra/llama-epp/9002/epp"
	cases := []struct {
		name    string
		cluster string // whose TLS is changed
		tls     model.UpstreamTLS
		warn    string
	}{
		{"not a picker", "infra/llama/inferencepool/http", model.UpstreamTLS{Unverified: true}, "only for an Endpoint Picker"},
		{"a trust bundle", eppName, model.UpstreamTLS{Unverified: true, TrustBundle: backendCA}, "names what to verify with"},
		{"the system trust store", eppName, model.UpstreamTLS{Unverified: true, SystemTrust: true}, "names what to verify with"},
		{"SANs", eppName, model.UpstreamTLS{Unverified: true, SubjectAltNames: []model.SubjectAltName{{Type: "Hostname", Value: "a"}}}, "names what to verify with"},
		{"wildcard SNI", eppName, model.UpstreamTLS{Unverified: true, SNI: "*.infra.svc"}, "not a server name"},
		{"invalid", eppName, model.UpstreamTLS{Unverified: true, Invalid: "BackendTLSPolicy infra/epp: no CA"}, "the policy is invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, _ := inferenceCases["inference-pool"](t)
			for i := range f.Clusters {
				if f.Clusters[i].Name == c.cluster {
					f.Clusters[i].TLS = &c.tls
				}
			}
			r := translateModel(t, &f, nil)
			if !containsAll(r.Warnings, "cluster "+c.cluster+" fails closed (no endpoints): backend TLS: ", c.warn) {
				t.Errorf("no warning with %q in %q", c.warn, r.Warnings)
			}
			if findCluster(t, r, c.cluster).TransportSocket != nil {
				t.Error("a cluster that fails closed has a transport socket")
			}
		})
	}
}

// TestPickerModelErrors: a picker that is not a cluster of the fleet, or not an HTTP/2 one, and
// a gRPC health check on an HTTP/1.1 cluster are model bugs: errors, never configuration.
func TestPickerModelErrors(t *testing.T) {
	cases := map[string]func(f *model.Fleet){
		"missing picker cluster": func(f *model.Fleet) { f.Clusters = slices.DeleteFunc(f.Clusters, isEPP) },
		"empty picker cluster":   func(f *model.Fleet) { f.Clusters[0].EndpointPicker.Cluster = "" },
		"HTTP/1.1 picker":        func(f *model.Fleet) { f.Clusters[1].Protocol = model.ClusterHTTP },
		"HTTP/1.1 health check":  func(f *model.Fleet) { f.Clusters[0].GRPCHealthCheck = extProcService },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			f, _ := inferenceCases["inference-pool"](t)
			if f.Clusters[0].EndpointPicker == nil || !isEPP(f.Clusters[1]) {
				t.Fatal("the case's clusters moved")
			}
			change(&f)
			if _, err := Translate(&f, nil); err == nil {
				t.Fatal("no error")
			} else if !strings.Contains(err.Error(), "infra/llama/inferencepool/http") {
				t.Errorf("error %q does not name the cluster", err)
			}
		})
	}
}

func isEPP(c model.Cluster) bool { return strings.HasSuffix(c.Name, "/epp") }
