package explain

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/flotilla-dev/flotilla/internal/model"
	"github.com/flotilla-dev/flotilla/internal/xds/translate"
)

func TestSelectVirtualHost(t *testing.T) {
	vh := func(domains ...string) *routev3.VirtualHost {
		return &routev3.VirtualHost{Name: strings.Join(domains, "|"), Domains: domains}
	}
	vhs := []*routev3.VirtualHost{vh("*"), vh("*.foo.com"), vh("*.bar.foo.com"), vh("*-bar.foo.com"), vh("www.foo.com"),
		vh("foo.*"), vh("foo.bar.*"), vh("api.example.com", "API2.example.com")}
	for host, want := range map[string]string{
		"www.foo.com":      "www.foo.com",
		"WWW.Foo.com":      "www.foo.com",
		"a.foo.com":        "*.foo.com",
		"a.b.foo.com":      "*.foo.com",
		"a.bar.foo.com":    "*.bar.foo.com", // the longest suffix
		"baz-bar.foo.com":  "*-bar.foo.com",
		"-bar.foo.com":     "*.foo.com", // a wildcard matches one character or more: not "*-bar.foo.com"
		".foo.com":         "*",         // nor "*.foo.com" matches the empty label
		"foo.com":          "foo.*",
		"foo.bar.org":      "foo.bar.*", // the longest prefix
		"foo.":             "*",
		"api2.example.com": "api.example.com|API2.example.com",
		"other.org":        "*",
	} {
		got, _, why := selectVirtualHost(vhs, host)
		if got == nil || got.GetName() != want {
			t.Errorf("%s: got %v (%s), want %s", host, got.GetName(), why, want)
		}
	}
	if got, _, why := selectVirtualHost(vhs[1:3], "foo.org"); got != nil || !strings.Contains(why, "closest is virtual host *.foo.com") {
		t.Errorf("foo.org: got %v, %q", got.GetName(), why)
	}
}

func TestSelectChain(t *testing.T) {
	chain := func(name string, names ...string) *listenerv3.FilterChain {
		fc := &listenerv3.FilterChain{Name: name}
		if len(names) > 0 {
			fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: names}
		}
		return fc
	}
	l := &listenerv3.Listener{FilterChains: []*listenerv3.FilterChain{chain("com", "*.com"), chain("example", "*.example.com"),
		chain("b", "*.b.example.com"), chain("exact", "a.b.example.com", "x.example.com"), chain("any")}}
	for sni, want := range map[string]string{
		"a.b.example.com": "exact",
		"A.B.Example.com": "exact",
		"c.b.example.com": "b",
		"x.c.example.com": "example",
		"x.example.com":   "exact",
		"example.com":     "com",
		"example.org":     "any",
		"":                "any",
	} {
		if got, why := selectChain(l, sni); got.GetName() != want {
			t.Errorf("SNI %q: got %s (%s), want %s", sni, got.GetName(), why, want)
		}
	}
	l.FilterChains = l.FilterChains[:4]
	if got, why := selectChain(l, "example.org"); got != nil || !strings.Contains(why, "matches none") {
		t.Errorf("without a default chain: got %s (%s)", got.GetName(), why)
	}
}

func TestNormalizePath(t *testing.T) {
	for in, want := range map[string]string{
		"/":            "/",
		"/a/b":         "/a/b",
		"/a/./b":       "/a/b",
		"/a/../b":      "/b",
		"/../a":        "/a",
		"/a/b/..":      "/a/",
		"/a/.":         "/a/",
		"/a/%62/%2F":   "/a/b/%2F", // unreserved characters are decoded, "/" is not
		"/%7Euser/x.y": "/~user/x.y",
	} {
		if got := normalizePath(in); got != want {
			t.Errorf("normalizePath(%q) = %q, want %q", in, got, want)
		}
	}
	if got := mergeSlashes("//a///b/"); got != "/a/b/" {
		t.Errorf("mergeSlashes: %q", got)
	}
}

func TestSplitHostPort(t *testing.T) {
	for in, want := range map[string]string{"a.com:80": "a.com", "a.com": "a.com", "[::1]:8080": "[::1]", "[::1]": "[::1]", "a.com:x": "a.com:x"} {
		if got, _, _ := splitHostPort(in); got != want {
			t.Errorf("splitHostPort(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRequest(t *testing.T) {
	r, err := ParseRequest("post https://App.example.com:8443/a/b?x=1&y", []string{"X-Version: v2", "Host: other.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	want := Request{Method: "POST", Scheme: "https", Authority: "other.example.com", SNI: "app.example.com", Port: 8443, Path: "/a/b",
		Query: "x=1&y", Headers: []Header{{Name: "x-version", Value: "v2"}}}
	if r.Method != want.Method || r.Scheme != want.Scheme || r.Authority != want.Authority || r.SNI != want.SNI || r.Port != want.Port ||
		r.Path != want.Path || r.Query != want.Query || len(r.Headers) != 1 || r.Headers[0] != want.Headers[0] {
		t.Errorf("got %+v, want %+v", r, want)
	}
	for line, port := range map[string]uint32{"example.com": 80, "GET http://example.com": 80, "https://example.com": 443, "tls://db": 443, "tcp://:9000": 9000} {
		if r, err := ParseRequest(line, nil); err != nil || r.Port != port {
			t.Errorf("%s: port %d (%v), want %d", line, r.Port, err, port)
		}
	}
	for _, bad := range []string{"GET ftp://x/", "tcp://host", "GET tls://x", "GET http://x:99999/"} {
		if _, err := ParseRequest(bad, nil); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if _, err := ParseRequest("GET http://x/", []string{"no colon"}); err == nil {
		t.Error("a header without colon: no error")
	}
	if r, _ := ParseRequest("https://10.0.0.1/", nil); r.SNI != "" {
		t.Errorf("an IP address has no SNI: got %q", r.SNI)
	}
}

func TestParseSource(t *testing.T) {
	if s := ParseSource("HTTPRoute/apps/shop/rule/2/match/1"); s == nil || *s != (Source{"HTTPRoute", "apps", "shop", 2, 1}) {
		t.Errorf("got %+v", s)
	}
	for _, bad := range []string{"http-80", "HTTPRoute/apps/shop/rule/x/match/1", "a/b/c/rules/1/match/2"} {
		if s := ParseSource(bad); s != nil {
			t.Errorf("%s: got %+v", bad, s)
		}
	}
}

func TestSubstitution(t *testing.T) {
	for in, want := range map[string]string{`/x/\1`: "/x/${1}", `a\\b`: `a\b`, `$1`: `$$1`} {
		if got := substitution(in); got != want {
			t.Errorf("substitution(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMatchers(t *testing.T) {
	e := &explainer{Fleet: &Fleet{regexes: map[string]*regexp.Regexp{}}, req: Request{Method: "GET", Scheme: "http", Authority: "a.com", Path: "/Api/v1",
		Query: "n=5", Headers: []Header{{"x-a", "1"}, {"x-a", "2"}, {"x-n", "42"}}}}
	hm := func(name string, invert bool, m *routev3.HeaderMatcher) *routev3.HeaderMatcher {
		m.Name, m.InvertMatch = name, invert
		return m
	}
	for i, c := range []struct {
		m    *routev3.HeaderMatcher
		want bool
	}{
		{hm("x-a", false, &routev3.HeaderMatcher{HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "1,2"}}}}), true},
		{hm("x-a", true, &routev3.HeaderMatcher{HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "1,2"}}}}), false},
		{hm("X-Missing", false, &routev3.HeaderMatcher{HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: false}}), true},
		{hm("x-missing", true, &routev3.HeaderMatcher{HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "z"}}}}), false},
		{hm("x-n", false, &routev3.HeaderMatcher{HeaderMatchSpecifier: &routev3.HeaderMatcher_RangeMatch{RangeMatch: &typev3.Int64Range{Start: 40, End: 43}}}), true},
		{hm("x-n", false, &routev3.HeaderMatcher{HeaderMatchSpecifier: &routev3.HeaderMatcher_RangeMatch{RangeMatch: &typev3.Int64Range{Start: 40, End: 42}}}), false},
		{hm(":method", false, &routev3.HeaderMatcher{HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "g"}, IgnoreCase: true}}}), true},
		{hm(":authority", false, &routev3.HeaderMatcher{HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "a"}}}}}), false},
	} {
		if got, why := e.matchHeader(c.m); got != c.want {
			t.Errorf("case %d (%s): got %t, want %t (%s)", i, describeHeader(c.m), got, c.want, why)
		}
	}
	insensitive := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/api"},
		CaseSensitive: wrapperspb.Bool(false)}
	if ok, why := e.matchRoute(insensitive); !ok {
		t.Errorf("case-insensitive prefix: %s", why)
	}
	insensitive.CaseSensitive = nil
	if ok, _ := e.matchRoute(insensitive); ok {
		t.Error("case-sensitive prefix matched /Api/v1")
	}
}

// A plaintext request to a chain that terminates TLS fails the handshake, whatever its routes.
func TestPlaintextToTLSChain(t *testing.T) {
	tlsCtx, err := anypb.New(&tlsv3.DownstreamTlsContext{})
	if err != nil {
		t.Fatal(err)
	}
	hcm, err := anypb.New(&hcmv3.HttpConnectionManager{})
	if err != nil {
		t.Fatal(err)
	}
	res := &translate.Resources{Listeners: []*listenerv3.Listener{{
		Name:            "https-443",
		Address:         &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 443}}}},
		ListenerFilters: []*listenerv3.ListenerFilter{{Name: "envoy.filters.listener.tls_inspector"}},
		FilterChains: []*listenerv3.FilterChain{{Name: "default",
			TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: tlsCtx}},
			Filters:         []*listenerv3.Filter{{Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm}}}}},
	}}}
	req, err := ParseRequest("GET http://example.com:443/", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Explain(res, req)
	if err != nil {
		t.Fatal(err)
	}
	if d.Action.Type != ActionClose || !strings.Contains(d.Action.Summary, "plaintext") || d.FilterChain == nil || d.FilterChain.Name != "default" {
		t.Errorf("got %+v via %+v", d.Action, d.FilterChain)
	}
}

// An InferencePool's Endpoint Picker is named where it applies: on the route that forwards to
// the pool alone, on the pool's share of a weighted route, with its failure mode.
func TestEndpointPicker(t *testing.T) {
	pool := model.Cluster{Name: "ns/llm/inferencepool/http", Protocol: model.ClusterHTTP, InferencePool: "ns/llm",
		EndpointPicker: &model.EndpointPicker{Cluster: "ns/epp/9002/epp", FailOpen: true}, Endpoints: []model.Endpoint{{Address: "10.0.0.1", Port: 8000, Ready: true}}}
	f := model.Fleet{Clusters: []model.Cluster{pool,
		{Name: "ns/epp/9002/epp", Protocol: model.ClusterGRPC, TLS: &model.UpstreamTLS{Unverified: true}},
		{Name: "ns/web/80/http", Protocol: model.ClusterHTTP}},
		Listeners: []model.Listener{{Name: "http-80", Port: 80, Protocol: model.ProtocolHTTP, VirtualHosts: []model.VirtualHost{{
			Name: "a.example.com", Domains: []string{"a.example.com"}, Routes: []model.Route{
				{Name: "split", Match: model.Match{Path: &model.StringMatch{Type: model.MatchPathPrefix, Value: "/split"}},
					Backends: &model.Backends{Clusters: []model.WeightedCluster{{Cluster: "ns/web/80/http", Weight: 1}, {Cluster: pool.Name, Weight: 1}}}},
				{Name: "pool", Backends: &model.Backends{Clusters: []model.WeightedCluster{{Cluster: pool.Name, Weight: 1}}}},
			}}}}}}
	res, err := translate.Translate(&f, nil)
	if err != nil {
		t.Fatal(err)
	}
	explainPath := func(path string) *Decision {
		req, err := ParseRequest("POST http://a.example.com"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Explain(res, req)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	const want = "the Endpoint Picker ns/epp/9002/epp chooses the endpoint; if it cannot answer, round robin does (FailOpen)"
	if d := explainPath("/v1/completions"); !slices.Contains(d.Filters, Operation{Kind: "endpoint-picker", Detail: want}) {
		t.Errorf("route to the pool: filters %+v", d.Filters)
	}
	d := explainPath("/split")
	if len(d.Action.Backends) != 2 || len(d.Action.Backends[0].Filters) != 0 ||
		!slices.Contains(d.Action.Backends[1].Filters, Operation{Kind: "endpoint-picker", Detail: want}) {
		t.Errorf("weighted route: backends %+v", d.Action.Backends)
	}
}
