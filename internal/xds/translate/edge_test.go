package translate

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// TestEdgeModels feeds models that resolve would not normally produce (or that only an
// unvalidated object produces) and checks that the output stays valid for Envoy, with the
// warning that says what was done.
func TestEdgeModels(t *testing.T) {
	const web = "ns/web/80/http"
	const hashed = "ns/web/80/http-ringhash"
	clusters := []model.Cluster{{Name: web, Protocol: model.ClusterHTTP}, {Name: "ns/tcp/80/tcp", Protocol: model.ClusterTCP},
		{Name: hashed, Protocol: model.ClusterHTTP, LoadBalancer: &model.LoadBalancer{Policy: model.LoadBalancerRingHash}}}
	hashRoute := func(hp ...model.HashPolicy) model.Route {
		return model.Route{Name: "r", Backends: &model.Backends{Clusters: []model.WeightedCluster{{Cluster: hashed, Weight: 1}}}, HashPolicies: hp}
	}
	one := &model.Backends{Clusters: []model.WeightedCluster{{Cluster: web, Weight: 1}}}
	httpFleet := func(vhs ...model.VirtualHost) model.Fleet {
		return model.Fleet{Clusters: clusters, Listeners: []model.Listener{{Name: "http-8080", Port: 8080, Protocol: model.ProtocolHTTP, VirtualHosts: vhs}}}
	}
	routes := func(rs ...model.Route) model.Fleet {
		return httpFleet(model.VirtualHost{Name: "a", Domains: []string{"a"}, Routes: rs})
	}
	route := func(f ...model.Filter) model.Route {
		return model.Route{Name: "r", Match: model.Match{Path: &model.StringMatch{Type: model.MatchPathPrefix, Value: "/p"}}, Filters: f, Backends: one}
	}
	headers := func(h model.HeaderModifier) model.Filter {
		return model.Filter{Type: model.FilterRequestHeaders, RequestHeaders: &h}
	}
	redirect := func(rd model.Redirect) model.Route {
		r := route()
		r.Backends, r.Redirect = nil, &rd
		return r
	}
	chains := func(cs ...model.FilterChain) model.Fleet {
		return model.Fleet{Clusters: clusters, Secrets: []model.Secret{{Name: "ns/s"}},
			Listeners: []model.Listener{{Name: "tls-443", Port: 443, Protocol: model.ProtocolTLS, FilterChains: cs}}}
	}
	tcp := &model.Backends{Clusters: []model.WeightedCluster{{Cluster: "ns/tcp/80/tcp", Weight: 1}}}
	cases := []struct {
		name string
		f    model.Fleet
		warn string // a warning that must be there ("" for none)
	}{
		{"domains equal but for case", httpFleet(
			model.VirtualHost{Name: "A.example.com", Domains: []string{"A.example.com"}},
			model.VirtualHost{Name: "a.example.com", Domains: []string{"a.example.com"}}), "already served by another virtual host"},
		{"domain with a newline", httpFleet(model.VirtualHost{Name: "a", Domains: []string{"a\nb"}}), "no usable domain"},
		{"set Host", routes(route(headers(model.HeaderModifier{Set: []model.Header{{Name: "Host", Value: "b"}}}))), ""},
		{"remove Host", routes(route(headers(model.HeaderModifier{Remove: []string{"host"}}))), "Host header cannot be removed"},
		{"pseudo-header", routes(route(headers(model.HeaderModifier{Set: []model.Header{{Name: ":path", Value: "/"}}}))), "answers 500"},
		{"header value with CR", routes(route(headers(model.HeaderModifier{Add: []model.Header{{Name: "x", Value: "a\rb"}}}))), "answers 500"},
		{"response Host", routes(route(model.Filter{Type: model.FilterResponseHeaders, ResponseHeaders: &model.HeaderModifier{
			Set: []model.Header{{Name: "host", Value: "x"}}}})), "response Host header cannot be modified"},
		{"weights overflow", routes(model.Route{Name: "r", Backends: &model.Backends{InvalidWeight: math.MaxUint32, Clusters: []model.WeightedCluster{
			{Cluster: web, Weight: math.MaxUint32}, {Cluster: web, Weight: math.MaxUint32}}}}), ""},
		{"empty path regex", routes(model.Route{Name: "r", Match: model.Match{Path: &model.StringMatch{Type: model.MatchRegex}}, Backends: one}), "can never match"},
		{"prefix with #", routes(model.Route{Name: "r", Match: model.Match{Path: &model.StringMatch{Type: model.MatchPathPrefix, Value: "/a#b"}}, Backends: one}), "can never match"},
		{"empty header name", routes(model.Route{Name: "r", Match: model.Match{Headers: []model.StringMatch{{Type: model.MatchExact}}}, Backends: one}), "can never match"},
		{"long query name", routes(model.Route{Name: "r", Match: model.Match{QueryParams: []model.StringMatch{{Name: strings.Repeat("q", 2000), Type: model.MatchExact}}}, Backends: one}), "can never match"},
		{"mirror without denominator", routes(route(model.Filter{Type: model.FilterMirror, Mirror: &model.Mirror{Cluster: web, Numerator: 1}})), "mirror left out"},
		{"mirror over 100%", routes(route(model.Filter{Type: model.FilterMirror, Mirror: &model.Mirror{Cluster: web, Numerator: 5, Denominator: 3}})), ""},
		{"hash policy on a round-robin cluster", routes(model.Route{Name: "r", Backends: one, HashPolicies: []model.HashPolicy{{SourceIP: true}}}), "need a ring-hash cluster"},
		{"hash cookie path with ;", routes(hashRoute(model.HashPolicy{Cookie: &model.HashCookie{Name: "c", Generate: true, Path: "/a;Domain=x"}})), "is invalid; left out"},
		{"hash cookie attribute with ;", routes(hashRoute(model.HashPolicy{Cookie: &model.HashCookie{Name: "c", Generate: true,
			Attributes: []model.Header{{Name: "SameSite", Value: "Lax; Domain=x"}}}})), "attribute \"SameSite\" is invalid"},
		{"hash header with a space", routes(hashRoute(model.HashPolicy{Header: "x y"})), "hash header"},
		{"empty hash policy", routes(hashRoute(model.HashPolicy{})), "names nothing to hash"},
		{"unknown load balancer", model.Fleet{Clusters: []model.Cluster{{Name: web, Protocol: model.ClusterHTTP, LoadBalancer: &model.LoadBalancer{Policy: "Random"}}}},
			"round robin applies"},
		{"redirect status 399", routes(redirect(model.Redirect{StatusCode: 399})), "302 is used"},
		{"redirect port 70000", routes(redirect(model.Redirect{StatusCode: 301, Port: 70000})), "answers 500"},
		{"redirect scheme", routes(redirect(model.Redirect{StatusCode: 301, Scheme: "1http"})), "answers 500"},
		{"redirect host", routes(redirect(model.Redirect{StatusCode: 301, Hostname: "a/b"})), "answers 500"},
		{"prefix redirect on a regex match", routes(model.Route{Name: "r", Match: model.Match{Path: &model.StringMatch{Type: model.MatchRegex, Value: "/a.*"}},
			Redirect: &model.Redirect{StatusCode: 302, Path: &model.PathModifier{ReplacePrefixMatch: ptr("/b")}}}), "needs a path prefix match"},
		{"bad durations", routes(model.Route{Name: "r", Backends: one, Timeouts: &model.Timeouts{Request: "-1s", BackendRequest: "soon"},
			Retry: &model.Retry{Codes: []int{42, 503}, Attempts: -1, Backoff: "0s"}}), "not a duration"},
		{"CORS origin with a newline", routes(route(model.Filter{Type: model.FilterCORS, CORS: &model.CORS{AllowOrigins: []string{"https://a\n"}}})), "answers 500"},
		{"backend path rewrite", routes(model.Route{Name: "r", Backends: &model.Backends{Clusters: []model.WeightedCluster{{Cluster: web, Weight: 1,
			Filters: []model.Filter{{Type: model.FilterURLRewrite, URLRewrite: &model.URLRewrite{Path: &model.PathModifier{ReplaceFullPath: ptr("/")}}}}}}}}),
			"its share answers 500"},
		{"backend mirror", routes(model.Route{Name: "r", Backends: &model.Backends{Clusters: []model.WeightedCluster{{Cluster: web, Weight: 1,
			Filters: []model.Filter{{Type: model.FilterMirror, Mirror: &model.Mirror{Cluster: web, Numerator: 1, Denominator: 1}}}}}}}), "cannot apply to one backend"},
		{"unknown filter", routes(route(model.Filter{Type: "Magic"})), "answers 500"},
		{"gRPC without backends", routes(model.Route{Name: "r", Match: model.Match{GRPC: true}}), ""},
		{"server names", chains(
			model.FilterChain{Name: "a", ServerNames: []string{"a*b.com", "*.a.com"}, Backends: tcp},
			model.FilterChain{Name: "b", ServerNames: []string{"*.A.com"}, Backends: tcp},
			model.FilterChain{Name: "c", Backends: tcp}, model.FilterChain{Name: "d", Backends: tcp}), "already matches any server name"},
		{"missing certificate", chains(model.FilterChain{Name: "a", TLS: &model.TLSTermination{CertificateSecrets: []string{"ns/s"}}}), "chain left out"},
		{"chain without certificate", chains(model.FilterChain{Name: "a", TLS: &model.TLSTermination{}}), "no certificate"},
		{"endpoints", model.Fleet{Clusters: []model.Cluster{{Name: "ns/e/80/http", Endpoints: []model.Endpoint{
			{Address: "fe80::1%eth0", Port: 80, Ready: true}, {Address: "host.example.com", Port: 80, Ready: true},
			{Address: "10.0.0.1", Port: 0, Ready: true}, {Address: "10.0.0.2", Port: 80, Ready: true}}}}}, "not an IP address and port"},
		{"unknown protocols", model.Fleet{Clusters: []model.Cluster{{Name: "ns/x/1/sctp", Protocol: "SCTP"}},
			Listeners: []model.Listener{{Name: "sctp-1", Port: 1, Protocol: "SCTP"}}}, "not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Translate(&c.f, map[string]TLSSecret{})
			if err != nil {
				t.Fatal(err)
			}
			checkResources(t, res)
			if c.warn != "" && !strings.Contains(strings.Join(res.Warnings, "\n"), c.warn) {
				t.Errorf("no warning with %q in %q", c.warn, res.Warnings)
			}
			if c.warn == "" && len(res.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", res.Warnings)
			}
			// Every warning about route "r" is also a RouteWarning of it, for the route's status.
			var want []RouteWarning
			for _, w := range res.Warnings {
				if msg, ok := strings.CutPrefix(w, "route r: "); ok {
					want = append(want, RouteWarning{Route: "r", Message: msg})
				}
			}
			if !slices.Equal(res.RouteWarnings, want) {
				t.Errorf("route warnings %q, want %q", res.RouteWarnings, want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
