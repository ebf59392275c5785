package translate

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	otelalv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/open_telemetry/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// checkTelemetry asserts the tracer's invariants: every HTTP connection manager traces alike
// (all or none), with Envoy's OpenTelemetry tracer, a sampling percentage in [0, 100] and a gRPC
// service on a cluster that exists, speaks HTTP/2 (OTLP/gRPC) and has its endpoint inline
// (STRICT_DNS); an OTLP access log goes to the same cluster; every route of a traced fleet
// carries its route's span tags; and a collector cluster exists only when something uses it.
func checkTelemetry(t testing.TB, r *Resources) {
	t.Helper()
	byName := map[string]*clusterv3.Cluster{}
	for _, c := range r.Clusters {
		byName[c.Name] = c
	}
	traced, untraced := 0, 0
	used := map[string]bool{}
	checkCollector := func(where, name string) {
		used[name] = true
		c := byName[name]
		if c == nil {
			t.Errorf("%s: collector cluster %q is not emitted", where, name)
			return
		}
		if c.GetType() != clusterv3.Cluster_STRICT_DNS || len(c.GetLoadAssignment().GetEndpoints()) != 1 ||
			len(c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()) != 1 {
			t.Errorf("%s: collector cluster %s is not STRICT_DNS with one inline endpoint", where, name)
		}
		var opts httpv3.HttpProtocolOptions
		a := c.GetTypedExtensionProtocolOptions()[nameHTTPOptions]
		if a == nil {
			t.Errorf("%s: collector cluster %s has no HTTP protocol options (OTLP/gRPC needs HTTP/2)", where, name)
			return
		}
		unpack(t, a, &opts)
		if opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
			t.Errorf("%s: collector cluster %s does not speak HTTP/2", where, name)
		}
	}
	for _, l := range r.Listeners {
		for _, fc := range l.FilterChains {
			for _, f := range fc.Filters {
				if f.Name != nameHCM {
					continue
				}
				where := "listener " + l.Name + " chain " + fc.Name
				var h hcmv3.HttpConnectionManager
				unpack(t, f.GetTypedConfig(), &h)
				checkHCMTelemetry(t, where, &h, checkCollector, &traced, &untraced)
			}
		}
	}
	if traced > 0 && untraced > 0 {
		t.Errorf("%d connection managers trace and %d do not", traced, untraced)
	}
	for _, rc := range r.Routes {
		for _, vh := range rc.VirtualHosts {
			for _, rt := range vh.Routes {
				tags := len(rt.GetTracing().GetCustomTags())
				switch {
				case traced > 0 && fromRoute(rt.Name) && tags != 3:
					t.Errorf("route %s of a traced fleet has %d span tags, want the route's kind, namespace and name", rt.Name, tags)
				case traced == 0 && tags > 0:
					t.Errorf("route %s has span tags in a fleet that does not trace", rt.Name)
				}
			}
		}
	}
	if c := byName[CollectorCluster]; c != nil && !used[CollectorCluster] && hasHCM(r.Listeners) {
		t.Errorf("cluster %s is emitted but nothing sends to it", CollectorCluster)
	}
}

func checkHCMTelemetry(t testing.TB, where string, h *hcmv3.HttpConnectionManager, checkCollector func(string, string), traced, untraced *int) {
	t.Helper()
	tr := h.GetTracing()
	if tr == nil {
		*untraced++
		if len(h.GetAccessLog()) > 0 {
			t.Errorf("%s: an OTLP access log without tracing", where)
		}
		return
	}
	*traced++
	if p := tr.GetRandomSampling().GetValue(); p < 0 || p > 100 {
		t.Errorf("%s: random sampling %v%%", where, p)
	}
	if tr.GetProvider().GetName() != nameOTelTracer {
		t.Errorf("%s: tracer %q", where, tr.GetProvider().GetName())
		return
	}
	var otel tracev3.OpenTelemetryConfig
	unpack(t, tr.GetProvider().GetTypedConfig(), &otel)
	if err := otel.ValidateAll(); err != nil {
		t.Errorf("%s: %v", where, err)
	}
	if otel.GetServiceName() == "" {
		t.Errorf("%s: tracer without a service name", where)
	}
	checkCollector(where+" tracer", otel.GetGrpcService().GetEnvoyGrpc().GetClusterName())
	for _, al := range h.GetAccessLog() {
		if al.Name != nameOTelAccessLog {
			continue
		}
		var c otelalv3.OpenTelemetryAccessLogConfig
		unpack(t, al.GetTypedConfig(), &c)
		if err := c.ValidateAll(); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		svc := c.GetCommonConfig().GetGrpcService() //nolint:staticcheck // what Envoy 1.36 reads
		if got, want := svc.GetEnvoyGrpc().GetClusterName(), otel.GetGrpcService().GetEnvoyGrpc().GetClusterName(); got != want {
			t.Errorf("%s: OTLP access log to %q, spans to %q", where, got, want)
		}
		checkCollector(where+" access log", svc.GetEnvoyGrpc().GetClusterName())
	}
}

// fromRoute says whether a route is an HTTPRoute's, GRPCRoute's or Ingress's (not one of
// Flotilla's own: misdirected, error pages).
func fromRoute(name string) bool {
	kind, _, _ := strings.Cut(name, "/")
	return kind == "HTTPRoute" || kind == "GRPCRoute" || kind == "Ingress"
}

func hasHCM(ls []*listenerv3.Listener) bool {
	for _, l := range ls {
		for _, fc := range l.FilterChains {
			for _, f := range fc.Filters {
				if f.Name == nameHCM {
					return true
				}
			}
		}
	}
	return false
}
