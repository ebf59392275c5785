package explain_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/flotilla-dev/flotilla/internal/offline"
	"github.com/flotilla-dev/flotilla/internal/xds/explain"
	"github.com/flotilla-dev/flotilla/internal/xds/translate"
)

// goldenDir holds the translator's golden cases: what each explain case walks.
const goldenDir = "../translate/testdata"

// loadGolden resolves and translates a translator golden input through flotillactl's own path
// (internal/offline), with the golden test's two conventions: TLS termination on, and Secrets
// annotated "test.flotilla.dev/translate-data: missing" given to Translate without data. It fails
// unless the result is exactly the golden output, so the cases below explain what the golden
// shows.
func loadGolden(t *testing.T, name string) *translate.Resources {
	t.Helper()
	in := filepath.Join(goldenDir, name+".in.yaml")
	if name == "routefilters" { // the resolver's case, which the translator's golden shares
		in = filepath.Join("..", "..", "gatewayapi", "testdata", name+".in.yaml")
	}
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	set, err := offline.Load([]offline.Source{{Name: in, Dir: filepath.Dir(in), Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	gws, _, err := set.Gateways("")
	if err != nil {
		t.Fatal(err)
	}
	input := set.Input(gws[0])
	input.TLSTerminate = true
	var secrets []*corev1.Secret
	for _, s := range set.Docs.SecretData {
		if s.Annotations["test.flotilla.dev/translate-data"] != "missing" {
			secrets = append(secrets, s)
		}
	}
	f, err := offline.Run(input, secrets)
	if err != nil {
		t.Fatal(err)
	}
	warnings := f.Resources.Warnings
	if warnings == nil {
		warnings = []string{}
	}
	got, err := translate.RenderYAML(f.Resources.Messages(), warnings)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(goldenDir, name+".out.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("translating %s does not give its golden output (stale golden? run go test ./internal/xds/translate -update)", in)
	}
	return f.Resources
}

// tc is one request and what Envoy does with it. Empty fields are not checked, but route: an
// empty route means no route matches.
type tc struct {
	req     string
	headers []string
	// client is the client address (explain --client).
	client string

	route    string
	action   string
	status   int
	location string
	// backends is "cluster=percent" per share, in order, comma-separated.
	backends string
	chain    string
	vhost    string
	// why is a part of the action's summary or reason.
	why string
	// ops are parts of filter details, each expected in some filter; notOps in none.
	ops, notOps []string
}

func run(t *testing.T, name string, cases []tc) {
	res := loadGolden(t, name)
	for _, c := range cases {
		t.Run(strings.Join(append([]string{c.req, c.client}, c.headers...), " "), func(t *testing.T) {
			req, err := explain.ParseRequest(c.req, c.headers)
			if err != nil {
				t.Fatal(err)
			}
			req.Client = c.client
			d, err := explain.Explain(res, req)
			if err != nil {
				t.Fatal(err)
			}
			var text bytes.Buffer
			if err := d.Text(&text); err != nil {
				t.Fatal(err)
			}
			fail := func(format string, args ...any) {
				t.Helper()
				t.Errorf(format+"\n\n%s", append(args, text.String())...)
			}
			got := ""
			if d.Route != nil {
				got = d.Route.Name
			}
			if got != c.route {
				fail("route: got %q, want %q", got, c.route)
			}
			if d.Action.Type != c.action {
				fail("action: got %q, want %q", d.Action.Type, c.action)
			}
			if c.status != 0 && d.Action.Status != c.status {
				fail("status: got %d, want %d", d.Action.Status, c.status)
			}
			if c.location != "" && d.Action.Location != c.location {
				fail("location: got %q, want %q", d.Action.Location, c.location)
			}
			if c.backends != "" {
				var bs []string
				for _, b := range d.Action.Backends {
					bs = append(bs, fmt.Sprintf("%s=%g", b.Cluster, b.Percent))
				}
				if g := strings.Join(bs, ","); g != c.backends {
					fail("backends: got %s, want %s", g, c.backends)
				}
			}
			if c.chain != "" && (d.FilterChain == nil || d.FilterChain.Name != c.chain) {
				fail("filter chain: want %q", c.chain)
			}
			if c.vhost != "" && (d.VirtualHost == nil || d.VirtualHost.Name != c.vhost) {
				fail("virtual host: want %q", c.vhost)
			}
			if c.why != "" && !strings.Contains(d.Action.Summary+" "+d.Action.Reason, c.why) {
				fail("summary and reason: want %q in them", c.why)
			}
			for _, op := range c.ops {
				found := false
				for _, f := range d.Filters {
					found = found || strings.Contains(f.Kind+": "+f.Detail, op)
				}
				for _, b := range d.Action.Backends {
					for _, f := range b.Filters {
						found = found || strings.Contains(b.Cluster+" "+f.Kind+": "+f.Detail, op)
					}
				}
				if !found {
					fail("filters: want %q", op)
				}
			}
			for _, op := range c.notOps {
				for _, f := range d.Filters {
					if strings.Contains(f.Kind+": "+f.Detail, op) {
						fail("filters: do not want %q", op)
					}
				}
			}
		})
	}
}

const fwd, redirect, direct, notFound = explain.ActionForward, explain.ActionRedirect, explain.ActionDirectResponse, explain.ActionNotFound

func TestHTTPBasic(t *testing.T) {
	const shop = "HTTPRoute/apps/shop/rule/"
	run(t, "http-basic", []tc{
		// Exact before the longest prefix before "/".
		{req: "GET http://shop.example.com/cart/checkout", route: shop + "2/match/0", action: fwd, backends: "apps/cart/8080/http=100"},
		{req: "GET http://shop.example.com/cart/checkout/x", route: shop + "1/match/0", action: fwd},
		{req: "GET http://shop.example.com/cart", route: shop + "1/match/0", action: fwd},
		{req: "GET http://shop.example.com/cart/?q=1", route: shop + "1/match/0", action: fwd},
		// A path prefix matches whole segments only, and case matters.
		{req: "GET http://shop.example.com/cartx", route: shop + "0/match/0", action: fwd, backends: "apps/web/8080/http=100"},
		{req: "GET http://shop.example.com/CART/checkout", route: shop + "0/match/0", action: fwd},
		// Host: no case, port stripped; the path normalized and its slashes merged first.
		{req: "GET http://Shop.Example.COM:80/cart", route: shop + "1/match/0", action: fwd, vhost: "shop.example.com"},
		{req: "GET http://shop.example.com/x/../cart/./checkout", route: shop + "2/match/0", action: fwd},
		{req: "GET http://shop.example.com//cart//checkout", route: shop + "2/match/0", action: fwd},
		{req: "GET http://shop.example.com/%63art/checkout", route: shop + "2/match/0", action: fwd},
		// The exact domain wins over the wildcard; the wildcard takes one label or more.
		{req: "GET http://a.example.com/cart/checkout", route: "HTTPRoute/apps/wildcard/rule/0/match/0", action: fwd, vhost: "*.example.com"},
		{req: "GET http://a.b.example.com/", route: "HTTPRoute/apps/wildcard/rule/0/match/0", action: fwd},
		// Anything else: the catch-all virtual host of the route without hostnames.
		{req: "GET http://example.com/healthz", route: "HTTPRoute/apps/catch-all/rule/0/match/0", action: fwd, vhost: "*"},
		{req: "GET http://10.1.2.3/healthz/live", route: "HTTPRoute/apps/catch-all/rule/0/match/0", action: fwd},
		{req: "GET http://example.com/healthzz", action: notFound, status: 404, vhost: "*", why: "none of its 1 route matches"},
		{req: "GET http://shop.example.com:8080/", action: explain.ActionRefused, why: "no TCP listener on port 8080"},
		{req: "GET https://shop.example.com:80/", action: explain.ActionClose, why: "client speaks TLS"},
	})
}

func TestHTTPMatches(t *testing.T) {
	const m = "HTTPRoute/infra/matches/rule/"
	api := "POST http://matches.example.com:8080/api?debug=true&page=12"
	ok := []string{"x-version: v2", "x-user: bob-42"}
	run(t, "http-matches", []tc{
		{req: "GET http://matches.example.com:8080/exact", route: m + "0/match/0", action: fwd},
		{req: "GET http://matches.example.com:8080/exact/more", headers: []string{"x-empty:"}, route: m + "3/match/0", action: fwd},
		// The regular expression matches the whole path, before the prefix.
		{req: "GET http://matches.example.com:8080/items/42", route: m + "0/match/2", action: fwd},
		{req: "GET http://matches.example.com:8080/items/42/x", action: notFound, why: "none of its 5 routes matches"},
		{req: "GET http://matches.example.com:8080/prefix", route: m + "0/match/1", action: fwd},
		{req: "GET http://matches.example.com:8080/prefix/a?b=c", route: m + "0/match/1", action: fwd},
		// Method, headers (exact, regex) and query parameters (exact, regex): all must match.
		{req: api, headers: ok, route: m + "1/match/0", action: fwd},
		{req: "POST http://matches.example.com:8080/api/v1?page=7&debug=true", headers: ok, route: m + "1/match/0", action: fwd},
		{req: "POST http://matches.example.com:8080/api?debug=%74rue&page=1", headers: ok, route: m + "1/match/0", action: fwd},
		{req: "GET http://matches.example.com:8080/api?debug=true&page=12", headers: ok, action: notFound},
		{req: api, headers: []string{"x-version: v2", "x-user: Bob-42"}, action: notFound},
		{req: api, headers: []string{"x-version: v3", "x-user: bob-42"}, action: notFound},
		{req: "POST http://matches.example.com:8080/api?debug=true&page=1234", headers: ok, action: notFound},
		{req: "POST http://matches.example.com:8080/api?debug=true&debug=false&page=1", headers: ok, route: m + "1/match/0", action: fwd},
		{req: "POST http://matches.example.com:8080/api?debug=false&debug=true&page=1", headers: ok, action: notFound},
		{req: "POST http://matches.example.com:8080/api?page=12", headers: append(ok, "x-empty:"), route: m + "3/match/0", action: fwd},
		// An empty regular expression matches only an empty (present) header.
		{req: "GET http://matches.example.com:8080/other", headers: []string{"x-empty: "}, route: m + "3/match/0", action: fwd},
		{req: "GET http://matches.example.com:8080/other", headers: []string{"x-empty: a"}, action: notFound},
		// The prefix "/search?q" can never match: the translator left it out.
		{req: "GET http://matches.example.com:8080/search?q=1", action: notFound, why: "none of its 5 routes"},
		{req: "GET http://other.example.com:8080/exact", action: notFound, why: "no virtual host matches"},
	})
}

func TestHTTPWeighted(t *testing.T) {
	const w = "HTTPRoute/infra/weighted/rule/"
	run(t, "http-weighted", []tc{
		{req: "GET http://weighted.example.com/split", route: w + "0/match/0", action: fwd,
			backends: "infra/web/80/http=90,infra/canary/80/http=10", why: "infra/web/80/http (90%)"},
		{req: "GET http://weighted.example.com/partly/x", route: w + "1/match/0", action: fwd,
			backends: "infra/web/80/http=75,flotilla/invalid-backend=25", why: "500 for 25%"},
		{req: "GET http://weighted.example.com/single-partly", route: w + "2/match/0", action: fwd,
			backends: "infra/web/80/http=50,flotilla/invalid-backend=50", why: "500 for 50%"},
		{req: "GET http://weighted.example.com/all-invalid", route: w + "3/match/0", action: direct, status: 500},
		{req: "GET http://weighted.example.com/all-zero", route: w + "4/match/0", action: direct, status: 500},
		{req: "GET http://weighted.example.com/none", route: w + "5/match/0", action: direct, status: 500},
		{req: "GET http://weighted.example.com/", action: notFound, status: 404, why: "none of its 6 routes"},
	})
}

func TestHTTPRedirect(t *testing.T) {
	const c, p = "HTTPRoute/infra/codes/rule/", "HTTPRoute/infra/parts/rule/"
	const codes, parts = "GET http://codes.example.com:8080", "GET http://parts.example.com:8080"
	run(t, "http-redirect", []tc{
		{req: codes + "/default", route: c + "0/match/0", action: redirect, status: 302, location: "http://new.example.com:8080/default"},
		{req: codes + "/301?a=b", route: c + "1/match/0", action: redirect, status: 301, location: "http://new.example.com:8080/301?a=b"},
		{req: codes + "/303", route: c + "3/match/0", action: redirect, status: 303},
		{req: codes + "/307", route: c + "4/match/0", action: redirect, status: 307},
		{req: codes + "/308", route: c + "5/match/0", action: redirect, status: 308},
		{req: parts + "/to-https", route: p + "0/match/0", action: redirect, location: "https://parts.example.com/to-https"},
		{req: parts + "/to-https-port", route: p + "1/match/0", action: redirect, location: "https://parts.example.com:8443/to-https-port"},
		{req: parts + "/to-https-443", route: p + "2/match/0", action: redirect, location: "https://parts.example.com/to-https-443"},
		{req: parts + "/port-only", route: p + "4/match/0", action: redirect, location: "http://parts.example.com:9090/port-only"},
		{req: parts + "/port-80", route: p + "5/match/0", action: redirect, location: "http://parts.example.com/port-80"},
		{req: parts + "/full-path?x=1", route: p + "6/match/0", action: redirect, location: "http://parts.example.com:8080/new/place?x=1"},
		{req: parts + "/old/a/b?c", route: p + "7/match/0", action: redirect, location: "http://parts.example.com:8080/new/a/b?c"},
		{req: parts + "/strip/a", route: p + "8/match/0", action: redirect, location: "http://parts.example.com:8080/a"},
		{req: parts + "/strip", route: p + "8/match/0", action: redirect, location: "http://parts.example.com:8080/"},
		{req: parts + "/everything/x", route: p + "9/match/0", action: redirect, status: 308, location: "https://all.example.com:8443/else/x"},
		{req: "GET http://plain.example.com/any", route: "HTTPRoute/infra/on-80/rule/0/match/0", action: redirect, location: "http://other.example.com/any"},
		// The listener on 80 does not serve the routes of the listener on 8080.
		{req: "GET http://codes.example.com/default", action: notFound, why: "no virtual host matches"},
	})
}

func TestHTTPRewrite(t *testing.T) {
	const r = "HTTPRoute/infra/rewrite/rule/"
	const host = "GET http://rewrite.example.com"
	run(t, "http-rewrite", []tc{
		{req: host + "/host/x", route: r + "0/match/0", action: fwd, ops: []string{"host-rewrite: Host (:authority) rewritten to backend.internal"}},
		{req: host + "/full/a?x=1", route: r + "1/match/0", action: fwd, ops: []string{"path rewritten to /replaced?x=1"}},
		{req: host + "/foo/bar", route: r + "2/match/0", action: fwd, ops: []string{"path rewritten to /xyz/bar"}},
		{req: host + "/foo", route: r + "2/match/0", action: fwd, ops: []string{"path rewritten to /xyz"}},
		{req: host + "/strip/bar", route: r + "3/match/0", action: fwd, ops: []string{"path rewritten to /bar"}},
		{req: host + "/strip", route: r + "3/match/0", action: fwd, ops: []string{"path rewritten to /"}},
		{req: host + "/both/a", route: r + "4/match/0", action: fwd, ops: []string{"rewritten to both.internal", "path rewritten to /v2/a"}},
		{req: "GET http://root.example.com/bar", route: "HTTPRoute/infra/root/rule/0/match/0", action: fwd, ops: []string{"path rewritten to /app/bar"}},
		{req: "GET http://same.example.com/bar", route: "HTTPRoute/infra/root-to-root/rule/0/match/0", action: fwd},
		{req: host + "/other", action: notFound},
	})
}

func TestHTTPS(t *testing.T) {
	const shopChain, wildChain = "Gateway/infra/gw/shop", "Gateway/infra/gw/wildcard"
	run(t, "https", []tc{
		// SNI: the exact server name before the wildcard, then :authority picks the virtual host.
		{req: "GET https://shop.example.com/", route: "HTTPRoute/infra/shop/rule/1/match/0", action: fwd, chain: shopChain},
		{req: "GET https://app.example.com/x", route: "HTTPRoute/infra/apps/rule/0/match/0", action: fwd, chain: wildChain, vhost: "app.example.com"},
		{req: "GET https://api.example.com:443/x", route: "HTTPRoute/infra/apps/rule/0/match/0", action: fwd, chain: wildChain, vhost: "api.example.com"},
		// A chain only serves its own listener's hosts: a Host of another listener answers 421
		// (misdirected), one the wildcard listener admits but no route has 404.
		{req: "GET https://shop.example.com/", headers: []string{"Host: app.example.com"}, chain: shopChain, route: "misdirected", action: direct, status: 421},
		{req: "GET https://other.example.com/", chain: wildChain, action: notFound, vhost: "*.example.com"},
		// A redirect on HTTPS keeps https and drops the port.
		{req: "GET https://shop.example.com/old/x?y=1", route: "HTTPRoute/infra/shop/rule/0/match/0", action: redirect,
			location: "https://shop.example.com/new/x?y=1"},
		// The chain without server names had no certificate data: left out, so nothing matches.
		{req: "GET https://shop.example.org/", action: explain.ActionClose, why: "matches none of the server names"},
		// Plaintext has no SNI, and every chain wants one.
		{req: "GET http://shop.example.com:443/", action: explain.ActionClose, why: "no SNI and every chain requires a server name"},
	})
}

// TestListenerIsolation walks the requests of Gateway API's GatewayHTTPListenerIsolation test: each
// listener's routes serve only the requests of the hosts it is the most specific listener for.
func TestListenerIsolation(t *testing.T) {
	const r = "HTTPRoute/infra/"
	paths := []string{"empty-hostname", "wildcard-example-com", "wildcard-foo-example-com", "abc-foo-example-com"}
	var cases []tc
	for host, serves := range map[string]string{"bar.com": "empty", "bar.example.com": "wildcard-example-com",
		"bar.foo.example.com": "wildcard-foo-example-com", "abc.foo.example.com": "abc-foo-example-com"} {
		for _, p := range paths {
			c := tc{req: "GET http://" + host + "/" + p, action: notFound}
			if serves == strings.TrimSuffix(p, "-hostname") || serves == p {
				c.route, c.action, c.vhost = r+serves+"/rule/0/match/0", fwd, ""
			}
			cases = append(cases, c)
		}
	}
	// A listener with a hostname and no route: 404, never the "*.example.com" listener's route.
	cases = append(cases, tc{req: "GET http://quiet.example.com/wildcard-example-com", action: notFound, vhost: "quiet.example.com"},
		tc{req: "GET http://other.example.com/wildcard-example-com", route: r + "wildcard-example-com/rule/0/match/0", action: fwd})
	run(t, "http-isolation", cases)
}

// TestMisdirected walks the requests of Gateway API's HTTPRouteHTTPSListenerDetectMisdirectedRequests
// test: SNI picks the listener's chain, then an :authority of another listener answers 421.
func TestMisdirected(t *testing.T) {
	const r, path = "HTTPRoute/infra/", "/detect-misdirected-requests"
	ok := func(sni, host, route string) tc {
		return tc{req: "GET https://" + sni + path, headers: []string{"Host: " + host}, route: r + route + "/rule/0/match/0", action: fwd}
	}
	misdirected := func(sni, host string) tc {
		return tc{req: "GET https://" + sni + path, headers: []string{"Host: " + host}, route: "misdirected", action: direct, status: 421,
			why: "misdirected request"}
	}
	missing := func(sni, host string) tc {
		return tc{req: "GET https://" + sni + path, headers: []string{"Host: " + host}, action: notFound}
	}
	run(t, "https-misdirected", []tc{
		ok("example.org", "example.org", "v1"),
		misdirected("example.org", "second-example.org"),
		missing("example.org", "unknown-example.org"),
		ok("second-example.org", "second-example.org", "v2"),
		misdirected("second-example.org", "example.org"),
		misdirected("second-example.org", "unknown-example.org"),
		ok("third-example.wildcard.org", "third-example.wildcard.org", "v3"),
		ok("third-example.wildcard.org", "fith-example.wildcard.org", "v3"),
		misdirected("third-example.wildcard.org", "fourth-example.wildcard.org"),
		misdirected("third-example.wildcard.org", "second-example.org"),
		misdirected("third-example.wildcard.org", "unknown-example.org"),
		ok("fourth-example.wildcard.org", "fourth-example.wildcard.org", "v4"),
		misdirected("fourth-example.wildcard.org", "fith-example.wildcard.org"),
		ok("unknown-example.org", "example.org", "v1"),
		missing("unknown-example.org", "unknown-example.org"),
		// A host the chain's listener has, on a path no route of it matches: 404, nobody else's route.
		{req: "GET https://second-example.org/other", action: notFound},
	})
}

func TestGRPC(t *testing.T) {
	const g = "GRPCRoute/infra/echo/rule/"
	const host = "POST http://grpc.example.com"
	canary := []string{"x-canary: true"}
	run(t, "grpc", []tc{
		{req: host + "/echo.Echo/Ping", route: g + "0/match/0", action: fwd, ops: []string{"timeout: none"}},
		{req: host + "/echo.Echo/Ping", headers: canary, route: g + "0/match/0", action: fwd},
		{req: host + "/echo.v2.Echo/GetThing", route: g + "3/match/0", action: fwd},
		{req: host + "/echo.Echo/Other", headers: canary, route: g + "1/match/0", action: fwd,
			backends: "infra/echo/50051/grpc=90,flotilla/invalid-backend=10", why: "503 for 10%", ops: []string{"x-route: canary (set)"}},
		{req: host + "/echo.Echo/Other", route: g + "5/match/0", action: fwd},
		{req: host + "/echo.Echo/Health", route: g + "2/match/0", action: fwd},
		{req: host + "/echo.Echo/Health", headers: canary, route: g + "1/match/0", action: fwd},
		{req: host + "/any.Service/Health", route: g + "2/match/0", action: fwd},
		{req: host + "/gone.Gone/Method", route: g + "4/match/0", action: direct, status: 503},
	})
}

// TestTLSMixed walks Gateway API's TLSRouteMixedTerminationSameNamespace: on one port, SNI picks the
// Terminate listener's chain (TLS ends at Envoy, the stream is encrypted again to the backend as its
// BackendTLSPolicy says) or the Passthrough listener's (the client's TLS goes through untouched).
func TestTLSMixed(t *testing.T) {
	const chain = "Gateway/infra/gw/"
	run(t, "tls-mixed", []tc{
		{req: "tls://tls.example.com:8883", chain: chain + "tls-terminate/infra/terminate", action: explain.ActionTCPProxy,
			backends: "infra/backend/8443/tcp=100"},
		{req: "tls://abc.example.com:8883", chain: chain + "tls-passthrough/infra/passthrough", action: explain.ActionTCPProxy,
			backends: "infra/backend/8443/tlspassthrough=100"},
		{req: "tls://other.example.com:8883", action: explain.ActionClose, why: "matches none of the server names"},
	})
}

func TestTLSPassthrough(t *testing.T) {
	const chain = "Gateway/infra/gw/passthrough/infra/"
	run(t, "tls-passthrough", []tc{
		{req: "tls://a.example.com", chain: chain + "single", action: explain.ActionTCPProxy, backends: "infra/secure/443/tlspassthrough=100"},
		{req: "GET https://a.example.com/x", chain: chain + "single", action: explain.ActionTCPProxy},
		{req: "tls://c.example.com:443", chain: chain + "weighted", action: explain.ActionTCPProxy,
			backends: "infra/secure/443/tlspassthrough=60,infra/secure2/443/tlspassthrough=20,flotilla/invalid-backend=20", why: "flotilla/invalid-backend (20%): the share of invalid backends: connections closed"},
		{req: "tls://broken.example.com", chain: chain + "broken", action: explain.ActionClose, why: "no valid backend"},
		{req: "tls://z.example.com", action: explain.ActionClose, why: "SNI z.example.com matches none of the server names"},
		{req: "tcp://:443", action: explain.ActionClose, why: "no SNI"},
		{req: "tls://t.example.com:8443", chain: "Gateway/infra/gw/terminate/infra/terminated", action: explain.ActionTCPProxy,
			backends: "infra/plain/9000/tcp=100"},
		{req: "tls://x.example.com:9443", chain: "closed", action: explain.ActionClose},
	})
}

func TestL4(t *testing.T) {
	run(t, "tcp", []tc{
		{req: "tcp://db.example.com:5432", action: explain.ActionTCPProxy, backends: "infra/postgres/5432/tcp=100"},
		{req: "tcp://:9000", action: explain.ActionTCPProxy,
			backends: "infra/postgres/5432/tcp=50,infra/replica/5432/tcp=25,flotilla/invalid-backend=25"},
		{req: "tcp://:9001", action: explain.ActionClose},
		{req: "udp://:9000", action: explain.ActionRefused, why: "no UDP listener on port 9000"},
	})
	run(t, "udp", []tc{
		{req: "udp://:53", action: explain.ActionUDPProxy, backends: "infra/dns-b/53/udp=100"},
		{req: "udp://:5353", action: explain.ActionUDPProxy, why: "datagrams dropped"},
		{req: "tcp://:53", action: explain.ActionRefused},
	})
}

func TestHTTPFilters(t *testing.T) {
	run(t, "http-headers", []tc{
		{req: "GET http://headers.example.com/both", route: "HTTPRoute/infra/headers/rule/0/match/0", action: fwd,
			backends: "infra/web/80/http=75,infra/canary/80/http=25",
			ops: []string{"x-set: a (set)", "x-add: 100% (appended)", "x-remove removed", "response-header: cache-control: no-store (set)",
				"server removed", "rewritten to internal.example.com", "infra/web/80/http request-header: x-backend: web (set)",
				"infra/canary/80/http response-header: x-canary: true (appended)"}},
		{req: "GET http://headers.example.com/bad", route: "HTTPRoute/infra/headers/rule/2/match/0", action: direct, status: 500},
	})
	run(t, "http-mirror", []tc{
		{req: "GET http://mirror.example.com/percent", route: "HTTPRoute/infra/mirror/rule/0/match/0", action: fwd,
			ops: []string{"25% of requests copied to infra/shadow/80/http with Host mirror.example.com-shadow"}},
		{req: "GET http://mirror.example.com/fractions", route: "HTTPRoute/infra/mirror/rule/2/match/0", action: fwd,
			ops: []string{"33.3333% of requests copied to infra/shadow/80/http", "12.5% of requests copied to infra/shadow/81/http",
				"4.6875% of", "1% of requests"}},
	})
	const origin = "https://app.example.com"
	run(t, "http-cors", []tc{
		{req: "OPTIONS http://cors.example.com/api", headers: []string{"Origin: " + origin, "Access-Control-Request-Method: PUT"},
			route: "HTTPRoute/infra/cors/rule/0/match/0", action: explain.ActionCORSPreflight, status: 200},
		{req: "OPTIONS http://cors.example.com/api", headers: []string{"Origin: https://a.b.example.com", "Access-Control-Request-Method: PUT"},
			route: "HTTPRoute/infra/cors/rule/0/match/0", action: explain.ActionCORSPreflight},
		{req: "OPTIONS http://cors.example.com/api", headers: []string{"Origin: https://evil.example.org", "Access-Control-Request-Method: PUT"},
			route: "HTTPRoute/infra/cors/rule/0/match/0", action: fwd, ops: []string{"is not allowed"}},
		{req: "GET http://cors.example.com/api", headers: []string{"Origin: " + origin}, route: "HTTPRoute/infra/cors/rule/0/match/0",
			action: fwd, ops: []string{"allowed origins: exact \"https://app.example.com\"", "origin https://app.example.com is allowed"}},
		{req: "GET http://cors.example.com:8080/api", headers: []string{"Origin: " + origin}, route: "HTTPRoute/infra/no-cors/rule/0/match/0", action: fwd},
	})
}

// Ingresses go where ingress-nginx would send them (the ingress-nginx golden): regex mode and
// capture rewrites, merged Ingresses, TLS and the 308 redirect, app-root, permanent-redirect,
// backend-protocol, and the HTTPRoute that overrides an Ingress path.
func TestIngressNginx(t *testing.T) {
	const ing = "Ingress/apps/"
	run(t, "ingress-nginx", []tc{
		// shop.example.com has TLS: plain HTTP is redirected with 308, HTTPS gets the Ingress's
		// certificate (its own SNI chain), HSTS, and the capture-group rewrite.
		{req: "GET http://shop.example.com/store/cart?x=1", route: ing + "shop/rule/0/match/0", action: redirect, status: 308,
			location: "https://shop.example.com/store/cart?x=1"},
		{req: "GET https://shop.example.com/store/cart?x=1", route: ing + "shop/rule/0/match/0", action: fwd, backends: "apps/web/8080/http=100",
			chain: "Gateway/infra/gw/https/ingress/shop.example.com",
			ops:   []string{"path rewritten to /cart", "X-Forwarded-Prefix: /store", "Strict-Transport-Security: max-age=31536000; includeSubDomains", "idle-timeout: 2m0s", "timeout: none"}},
		// Regex mode is case-insensitive and anchored at the start only, for every Ingress of the
		// host: shop-api's Exact /Api/V1 matches /api/v1/users.
		{req: "GET https://shop.example.com/STORE", route: ing + "shop/rule/0/match/0", action: fwd, ops: []string{"path rewritten to /"}},
		{req: "GET https://shop.example.com/api/v1/users", route: ing + "shop-api/rule/0/match/0", action: fwd, backends: "apps/api/9090/grpc=100"},
		{req: "GET https://shop.example.com/x/store", action: notFound, status: 404},
		// blog.example.com: Exact, segment-aware Prefix, character prefix (ImplementationSpecific),
		// app-root for "/" alone, the defaultBackend for the rest; ssl-redirect "false" keeps HTTP.
		{req: "GET http://blog.example.com/feed", route: ing + "blog/rule/0/match/1", action: fwd, backends: "apps/blog/8080/http=100",
			ops: []string{"Host (:authority) rewritten to blog.internal"}},
		{req: "GET http://blog.example.com/feed/x", route: ing + "blog/rule/0/match/4", action: fwd, backends: "apps/web/8080/http=100"},
		{req: "GET http://blog.example.com/staticfiles/a.css", route: ing + "blog/rule/0/match/2", action: fwd, backends: "apps/blog/8080/http=100"},
		{req: "GET http://blog.example.com/securex", route: ing + "blog/rule/0/match/4", action: fwd, backends: "apps/web/8080/http=100"},
		{req: "GET http://blog.example.com/secure/x", route: ing + "blog/rule/0/match/3", action: fwd, backends: "apps/vault/8443/http=100"},
		{req: "GET http://blog.example.com/?q=1", route: ing + "blog/rule/0/match/5", action: redirect, status: 302, location: "http://blog.example.com/home"},
		{req: "GET http://blog.example.com/other", route: ing + "blog/rule/0/match/4", action: fwd, backends: "apps/web/8080/http=100"},
		// The HTTPRoute with the same match wins /posts on the listener it attaches to (http); on
		// https the Ingress still serves it. blog's TLS Secret is missing: the Gateway's certificate.
		{req: "GET http://blog.example.com/posts/1", route: "HTTPRoute/apps/blog-v2/rule/0/match/0", action: fwd, backends: "apps/blog-v2/8080/http=100"},
		{req: "GET https://blog.example.com/posts/1", route: ing + "blog/rule/0/match/0", action: fwd, backends: "apps/blog/8080/http=100",
			chain: "Gateway/infra/gw/https"},
		// permanent-redirect: the URL as written, the request's query dropped, the code asked for.
		{req: "GET http://old.example.com/a?b=c", route: ing + "moved/rule/0/match/0", action: redirect, status: 308,
			location: "https://new.example.com/landing?from=old"},
		// backend-protocol HTTPS: its own TLS cluster, with its proxy-connect-timeout (5s) in a variant of its own.
		{req: "GET https://vault.example.com/v1/secret", route: ing + "vault/rule/0/match/0", action: fwd, backends: "apps/vault/8443/http-tls-connect5s=100"},
		// Refused Ingresses serve nothing, and break nothing else.
		{req: "GET http://snippet.example.com/", action: notFound, status: 404},
		{req: "GET http://elsewhere.example.com/", action: notFound, status: 404},
	})
}

// whitelist-source-range (apps/allowlist) admits only its CIDRs; every served Ingress has the
// class's 1m body limit.
func TestIngressProtections(t *testing.T) {
	const allow = "Ingress/apps/allowlist/rule/0/match/0"
	run(t, "ingress-nginx", []tc{
		{req: "GET http://internal.example.com/", client: "10.20.30.40", route: allow, action: fwd,
			ops: []string{"access: client 10.20.30.40 is allowed (client address in 10.0.0.0/8)", "body-size: request bodies over 1048576 bytes are answered 413"}},
		{req: "GET http://internal.example.com/", client: "192.0.2.1", route: allow, action: direct, status: 403, why: "10.0.0.0/8"},
		{req: "GET http://internal.example.com/", route: allow, action: fwd, ops: []string{"only clients with client address in 10.0.0.0/8 are allowed"}},
		{req: "GET http://blog.example.com/feed", route: "Ingress/apps/blog/rule/0/match/1", action: fwd, ops: []string{"over 1048576 bytes"}, notOps: []string{"access"}},
	})
	const ing = "Ingress/apps/"
	alice := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("alice:secret"))
	run(t, "ingress-protections", []tc{
		// denylist-source-range first, then whitelist-source-range.
		{req: "GET http://office.example.com/", client: "10.6.6.6", route: ing + "office/rule/0/match/0", action: direct, status: 403},
		{req: "GET http://office.example.com/", client: "10.7.0.1", route: ing + "office/rule/0/match/0", action: fwd},
		{req: "GET http://office.example.com/", client: "192.168.1.7", route: ing + "office/rule/0/match/0", action: fwd},
		// limit-rps 10 x burst 3, limit-rpm 300 x 3, per client, 503; limit-whitelist exempts.
		{req: "GET http://limited.example.com/", client: "10.1.0.9", route: ing + "limited/rule/0/match/0", action: fwd, ops: []string{
			"10 requests per 1s per client address (bursts up to 30), then 503", "300 requests per 1m0s per client address (bursts up to 900), then 503",
			"exempt from the rate limit: 10.1.0.9 is", "over 8388608 bytes"}, notOps: []string{"over 1048576"}},
		// auth-type basic with auth-realm; proxy-body-size 0 is no limit.
		{req: "GET http://basic.example.com/", route: ing + "basic/rule/0/match/0", action: direct, status: 401},
		{req: "GET http://basic.example.com/", headers: []string{alice}, route: ing + "basic/rule/0/match/0", action: fwd,
			ops: []string{`user "alice" is accepted`}, notOps: []string{"body-size"}},
		{req: "GET http://no-secret.example.com/", route: ing + "no-secret/rule/0/match/0", action: direct, status: 500},
		// auth-url and auth-signin: the check goes to the Service with the request's path.
		{req: "GET http://sso.example.com/app", route: ing + "sso/rule/0/match/0", action: fwd, ops: []string{
			"checked first by apps/oauth2-proxy/4180/http with GET /oauth2/auth;", "x-auth-request-email, x-auth-request-user headers are forwarded",
			"becomes a 302 to https://sso.example.com/oauth2/start?rd=%REQ(:path)%"}},
		// Refused Ingresses are not served.
		{req: "GET http://external.example.com/", action: notFound, status: 404},
		{req: "GET http://digest.example.com/", action: notFound, status: 404},
		{req: "GET http://zero-rps.example.com/", route: ing + "zero-rps/rule/0/match/0", action: fwd, notOps: []string{"rate-limit"}},
		// custom-http-errors with default-backend: the listed codes and 503 from the Service's first port;
		// default-backend alone: Envoy's own 503 (no endpoints).
		{req: "GET http://errors.example.com/", route: ing + "errors/rule/0/match/0", action: fwd, ops: []string{
			"a 404 response is answered by http://error-pages-", "a 500 response", "a 503 response"}},
		{req: "GET http://fallback.example.com/", route: ing + "fallback/rule/0/match/0", action: fwd, ops: []string{"a 503 Envoy answers itself (no endpoints, timeouts...) is answered by http://error-pages-"},
			notOps: []string{"a 404 response", "a 503 response"}},
		{req: "GET http://errors-no-backend.example.com/", action: notFound, status: 404},
		// mirror-target: every request copied to the Service, answers ignored.
		{req: "GET http://mirror.example.com/a?b=c", route: ing + "mirror/rule/0/match/0", action: fwd, ops: []string{"100% of requests copied to apps/shadow/8080/http with the request's Host"}},
		{req: "GET http://mirror-external.example.com/", action: notFound, status: 404},
		{req: "GET http://mirror-path.example.com/", action: notFound, status: 404},
		{req: "GET http://mirror-host.example.com/", action: notFound, status: 404},
	})
}

// RouteFilters' protections, in the connection manager's order (the routefilters golden).
func TestRouteFilterProtections(t *testing.T) {
	const app = "HTTPRoute/infra/app/rule/"
	alice := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("alice:secret"))
	wrong := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("alice:guess"))
	run(t, "routefilters", []tc{
		// Deny first, then allow: 10.6.6.0/24 is inside the allowed 10.0.0.0/8 but denied.
		{req: "GET http://app.example.com/office", client: "10.1.1.1", route: app + "0/match/0", action: fwd, ops: []string{"client 10.1.1.1 is allowed"}},
		{req: "GET http://app.example.com/office", client: "10.6.6.7", route: app + "0/match/0", action: direct, status: 403, why: "and not client address in 10.6.6.0/24"},
		{req: "GET http://app.example.com/office", client: "192.168.1.7", route: app + "0/match/0", action: fwd},
		{req: "GET http://app.example.com/office", client: "192.168.1.8", route: app + "0/match/0", action: direct, status: 403},
		// Two buckets per client; exempt clients are named.
		{req: "GET http://app.example.com/limited", client: "10.1.2.3", route: app + "1/match/0", action: fwd, ops: []string{
			"rate-limit: 10 requests per 1s per client address (bursts up to 50), then 429; per Envoy replica",
			"rate-limit: 600 requests per 1m0s per client address (bursts up to 600), then 429",
			"exempt from the rate limit: 10.1.2.3 is"}},
		{req: "GET http://app.example.com/limited", client: "10.2.0.1", route: app + "1/match/0", action: fwd, ops: []string{"exempt from the rate limit: 10.2.0.1 is not"}},
		{req: "GET http://app.example.com/per-rule", route: app + "2/match/0", action: fwd, ops: []string{"100 requests per 1s for the route (bursts up to 100), then 503"}},
		// Basic auth checks the {SHA} entries as Envoy does; then the body limit.
		{req: "GET http://app.example.com/basic", route: app + "3/match/0", action: direct, status: 401, why: "no Authorization header"},
		{req: "GET http://app.example.com/basic", headers: []string{wrong}, route: app + "3/match/0", action: direct, status: 401, why: `user "alice" or its password`},
		{req: "GET http://app.example.com/basic", headers: []string{alice}, route: app + "3/match/0", action: fwd,
			ops: []string{`user "alice" is accepted`, "request-header: authorization removed", "over 8388608 bytes are answered 413"}},
		// External authorization: the check request, the forwarded headers, the sign-in redirect.
		{req: "GET http://app.example.com/sso", route: app + "4/match/0", action: fwd, ops: []string{
			"checked first by infra/oauth2-proxy/4180/http with GET /oauth2/auth;",
			"x-auth-request-user", "fails closed", "sign-in: a 401 from the authorization service becomes a 302 to https://%REQ(:authority)%/oauth2/start?rd="}},
		{req: "GET http://app.example.com/grpc-authz", route: app + "5/match/0", action: fwd, ops: []string{"gRPC authorization service infra/authz/9000", "fails open"}},
		// A missing or invalid RouteFilter: 500, never served unprotected.
		{req: "GET http://app.example.com/missing", route: app + "6/match/0", action: direct, status: 500},
		{req: "GET http://app.example.com/bcrypt", route: app + "7/match/0", action: direct, status: 500},
		{req: "GET http://app.example.com/sso-errors", route: app + "8/match/0", action: fwd, ops: []string{
			"error-page: a 503 response is answered by http://error-pages-", "error-page: a 404 response", "sign-in: a 401"}},
		// The listener without protections has no protection filter at all.
		{req: "GET http://app.example.com:8080/", route: "HTTPRoute/infra/plain/rule/0/match/0", action: fwd, notOps: []string{"access", "rate-limit", "body-size"}},
	})
}

// Canary Ingresses go where ingress-nginx's balancer.lua sends them (the ingress-canary golden):
// the cases of ingress-nginx's test/e2e/annotations/canary.go, then Flotilla's own rules (pairing,
// one canary per path, a namespace the listener does not admit, an HTTPRoute override).
func TestIngressCanary(t *testing.T) {
	const ing = "Ingress/apps/"
	const web, canary = "apps/web/8080/http=100", "apps/web-canary/8080/http=100"
	hdr := func(v string) []string { return []string{"CanaryByHeader: " + v} }
	run(t, "ingress-canary", []tc{
		// canary-by-header: always → canary, never → mainline, another value or none → mainline.
		{req: "GET http://header.example.com/info", route: ing + "hdr/rule/0/match/0", action: fwd, backends: web},
		{req: "GET http://header.example.com/info", headers: hdr("always"), route: ing + "hdr/rule/0/match/0/canary-by-header", action: fwd, backends: canary},
		{req: "GET http://header.example.com/info", headers: hdr("never"), route: ing + "hdr/rule/0/match/0/canary-by-header-never", action: fwd, backends: web},
		{req: "GET http://header.example.com/info", headers: hdr("badheadervalue"), route: ing + "hdr/rule/0/match/0", action: fwd, backends: web},
		// The newer canary of the same path is not served: its header does nothing.
		{req: "GET http://header.example.com/info", headers: []string{"Other: always"}, route: ing + "hdr/rule/0/match/0", action: fwd, backends: web},
		// A canary path whose path type differs pairs with nothing.
		{req: "GET http://header.example.com/exact", headers: hdr("always"), route: ing + "hdr/rule/0/match/2", action: fwd, backends: web},
		// The HTTPRoute with the primary's match overrides the path and its canary's routes.
		{req: "GET http://header.example.com/moved", headers: hdr("always"), route: "HTTPRoute/apps/moved/rule/0/match/0", action: fwd, backends: "apps/moved/8080/http=100"},
		// canary-by-header-value: that value → canary; always, never, another → mainline; a
		// value that differs falls through to the cookie.
		{req: "GET http://value.example.com/info", headers: hdr("DoCanary"), route: ing + "value/rule/0/match/0/canary-by-header", action: fwd, backends: canary},
		{req: "GET http://value.example.com/info", headers: hdr("always"), route: ing + "value/rule/0/match/0", action: fwd, backends: web},
		{req: "GET http://value.example.com/info", headers: hdr("never"), route: ing + "value/rule/0/match/0", action: fwd, backends: web},
		{req: "GET http://value.example.com/info", headers: hdr("otherheadervalue"), route: ing + "value/rule/0/match/0", action: fwd, backends: web},
		{req: "GET http://value.example.com/info", headers: append(hdr("otherheadervalue"), "Cookie: CanaryByCookie=always"),
			route: ing + "value/rule/0/match/0/canary-by-cookie", action: fwd, backends: canary},
		// The value wins over the pattern: a value matching the pattern only → mainline.
		{req: "GET http://value.example.com/both", headers: hdr("DoCananry"), route: ing + "value/rule/0/match/1", action: fwd, backends: web},
		{req: "GET http://value.example.com/both", headers: hdr("DoCanary"), route: ing + "value/rule/0/match/1/canary-by-header", action: fwd, backends: canary},
		// canary-by-header-pattern: a match → canary, none → mainline (never is not special).
		{req: "GET http://pattern.example.com/info", headers: hdr("DoCanary"), route: ing + "pattern/rule/0/match/0/canary-by-header", action: fwd, backends: canary},
		{req: "GET http://pattern.example.com/info", headers: hdr("Docanary"), route: ing + "pattern/rule/0/match/0", action: fwd, backends: web},
		{req: "GET http://pattern.example.com/info", headers: hdr("always"), route: ing + "pattern/rule/0/match/0", action: fwd, backends: web},
		// canary-by-cookie: always → canary, never → mainline, another value → mainline; the name
		// is found among other cookies, case-insensitively as nginx's $cookie_ does, not as a suffix.
		{req: "GET http://cookie.example.com/", headers: []string{"Cookie: Canary-By-Cookie=always"}, route: ing + "cookie/rule/0/match/0/canary-by-cookie", action: fwd, backends: canary},
		{req: "GET http://cookie.example.com/", headers: []string{"Cookie: Canary-By-Cookie=never"}, route: ing + "cookie/rule/0/match/0/canary-by-cookie-never", action: fwd, backends: web},
		{req: "GET http://cookie.example.com/", headers: []string{"Cookie: Canary-By-Cookie=badcookievalue"}, route: ing + "cookie/rule/0/match/0", action: fwd, backends: web},
		{req: "GET http://cookie.example.com/", headers: []string{"Cookie: a=1; canary-by-cookie=always; b=2"}, route: ing + "cookie/rule/0/match/0/canary-by-cookie", action: fwd, backends: canary},
		{req: "GET http://cookie.example.com/", headers: []string{"Cookie: x-Canary-By-Cookie=always"}, route: ing + "cookie/rule/0/match/0", action: fwd, backends: web},
		{req: "GET http://cookie.example.com/", headers: []string{"Cookie: Canary-By-Cookie=alwaysx"}, route: ing + "cookie/rule/0/match/0", action: fwd, backends: web},
		// The canary's Service does not exist: its requests get a 500 (ingress-nginx: 503).
		{req: "GET http://cookie.example.com/gone", headers: []string{"Cookie: Canary-By-Cookie=always"}, route: ing + "cookie/rule/0/match/1/canary-by-cookie", action: direct, status: 500},
		{req: "GET http://cookie.example.com/gone", route: ing + "cookie/rule/0/match/1", action: fwd, backends: web},
		// canary-weight: 0 → mainline only, 100 → canary only, weight = total → canary only,
		// 50 → half, 100 of 200 → half, 10 of 10 → 10% (a total under 100 counts as 100).
		{req: "GET http://weight.example.com/zero", route: ing + "weight/rule/0/match/0", action: fwd, backends: web},
		{req: "GET http://weight.example.com/full", route: ing + "weight/rule/0/match/1", action: fwd, backends: canary},
		{req: "GET http://weight.example.com/total", route: ing + "weight/rule/0/match/3", action: fwd, backends: canary},
		{req: "GET http://weight.example.com/split", route: ing + "weight/rule/0/match/4", action: fwd, backends: "apps/web/8080/http=50,apps/web-canary/8080/http=50"},
		{req: "GET http://weight.example.com/small-total", route: ing + "weight/rule/0/match/5", action: fwd, backends: "apps/web/8080/http=90,apps/web-canary/8080/http=10"},
		// A canary in another namespace (admitted by the listeners) pairs too.
		{req: "GET http://weight.example.com/half", route: ing + "weight/rule/0/match/2", action: fwd, backends: "apps/web/8080/http=50,beta/web-canary/8080/http=50"},
		// The HTTPS listener does not admit namespace outsider: its canary is served on HTTP only.
		{req: "GET http://weight.example.com/guarded", route: ing + "weight/rule/0/match/6", action: fwd, backends: "outsider/web-canary/8080/http=100"},
		{req: "GET https://weight.example.com/guarded", route: ing + "weight/rule/0/match/6", action: fwd, backends: web},
		// Precedence: header over cookie over weight (weight 100 here).
		{req: "GET http://order.example.com/", route: ing + "order/rule/0/match/0", action: fwd, backends: canary},
		{req: "GET http://order.example.com/", headers: []string{"Cookie: CanaryByCookie=never"}, route: ing + "order/rule/0/match/0/canary-by-cookie-never", action: fwd, backends: web},
		{req: "GET http://order.example.com/", headers: append(hdr("never"), "Cookie: CanaryByCookie=always"), route: ing + "order/rule/0/match/0/canary-by-header-never", action: fwd, backends: web},
		{req: "GET http://order.example.com/", headers: append(hdr("always"), "Cookie: CanaryByCookie=never"), route: ing + "order/rule/0/match/0/canary-by-header", action: fwd, backends: canary},
		{req: "GET http://order.example.com/", headers: append(hdr("other"), "Cookie: CanaryByCookie=never"), route: ing + "order/rule/0/match/0/canary-by-cookie-never", action: fwd, backends: web},
		// A TLS host: plain HTTP is redirected whatever the canary says; on HTTPS the canary's
		// requests keep the primary's rewrite and HSTS (the canary's own rewrite-target and
		// backend-protocol are ignored).
		{req: "GET http://secure.example.com/app/x", headers: []string{"X-Canary: always"}, route: ing + "secure/rule/0/match/0", action: redirect, status: 308},
		{req: "GET https://secure.example.com/APP/x", headers: []string{"X-Canary: always"}, route: ing + "secure/rule/0/match/0/canary-by-header", action: fwd, backends: canary,
			ops: []string{"path rewritten to /x", "Strict-Transport-Security: max-age=31536000; includeSubDomains"}},
		{req: "GET https://secure.example.com/app/x", route: ing + "secure/rule/0/match/0", action: fwd, backends: web, ops: []string{"path rewritten to /x"}},
		// The catch-all server's canary (both defaultBackends alone).
		{req: "GET http://elsewhere.example.com/x", route: ing + "catch-all/rule/0/match/0", action: fwd, backends: web},
		{req: "GET http://elsewhere.example.com/x", headers: hdr("always"), route: ing + "catch-all/rule/0/match/0/canary-by-header", action: fwd, backends: canary},
		// A canary without a primary serves nothing (the catch-all serves its host).
		{req: "GET http://nothing.example.com/info", headers: hdr("never"), route: ing + "catch-all/rule/0/match/0/canary-by-header-never", action: fwd, backends: web},
	})
}

// server-alias, service-upstream and ssl-passthrough (the ingress-alias-passthrough golden).
func TestIngressAliasPassthrough(t *testing.T) {
	const ing = "Ingress/apps/"
	run(t, "ingress-alias-passthrough", []tc{
		// The aliases of www.example.com's oldest Ingress serve all of the host's paths; an alias
		// that is another rule's host stays that rule's; a newer Ingress's alias is ignored.
		{req: "GET http://www.example.com/", route: ing + "www/rule/0/match/0", action: fwd, backends: "apps/web/8080/http-svc=100"},
		{req: "GET http://example.com/docs/a", route: ing + "www-docs/rule/0/match/0", action: fwd, backends: "apps/docs/8080/http=100"},
		{req: "GET http://a.example.org/", route: ing + "www/rule/0/match/0", action: fwd, vhost: "*.example.org"},
		{req: "GET http://api.example.com/docs", route: ing + "api/rule/0/match/0", action: fwd, backends: "apps/docs/8080/http=100"},
		{req: "GET http://docs.example.net/docs", action: notFound, status: 404},
		// ssl-passthrough: the host's TLS goes unterminated to the Service of its "/" path; other
		// hosts on the port are still terminated with the Gateway's certificate.
		{req: "tls://vault.example.com:443", action: explain.ActionTCPProxy, backends: "apps/vault/8443/tcp=100",
			chain: "Gateway/infra/gw/https/passthrough/vault.example.com"},
		{req: "GET https://www.example.com/", route: ing + "www/rule/0/match/0", action: fwd, chain: "Gateway/infra/gw/https"},
		{req: "GET http://vault.example.com/", route: ing + "vault/rule/0/match/0", action: fwd},
		// The class "plain" does not enable ssl-passthrough: that Ingress is refused.
		{req: "GET http://other.example.com/", action: notFound, status: 404},
		// proxy-ssl-*: verified against the Secret's ca.crt and proxy-ssl-name, with its client
		// certificate; a missing Secret fails closed; another namespace's Secret refuses the Ingress.
		{req: "GET http://secure.example.com/", route: ing + "secure/rule/0/match/0", action: fwd,
			backends: "apps/vault/8443/http/apps/vault-client/verify/vault.internal=100"},
		{req: "GET http://missing.example.com/", route: ing + "secure-missing/rule/0/match/0", action: fwd, why: "503"},
		{req: "GET http://cross.example.com/", action: notFound, status: 404},
		// The class's defaults: no HSTS, the larger of its read timeout (300s) and the send timeout.
		{req: "GET https://plain.example.com/", route: ing + "plain-app/rule/0/match/0", action: fwd,
			chain: "Gateway/infra/gw/https/ingress/plain.example.com", ops: []string{"idle-timeout: 5m0s"}, notOps: []string{"Strict-Transport-Security"}},
		{req: "GET http://plain.example.com/", route: ing + "plain-app/rule/0/match/0", action: redirect, status: 308},
	})
}

// Ingress CORS, affinity, hashing and load balancing (the ingress-cors-affinity golden), with the
// HTTP checks of ingress-nginx's test/e2e/annotations/cors.go and affinity.go as the spec: a
// preflight is answered by the proxy, an allowed origin gets Access-Control-Allow-Origin, one
// that is not allowed gets none; the affinity cookie pins a client to an endpoint.
func TestIngressCORSAffinity(t *testing.T) {
	const ing = "Ingress/apps/"
	preflight := func(origin string) []string {
		return []string{"Origin: " + origin, "Access-Control-Request-Method: POST"}
	}
	allowed, notAllowed := "is allowed: the response gets access-control-allow-origin", "is not allowed"
	run(t, "ingress-cors-affinity", []tc{
		// enable-cors alone: every origin, ingress-nginx's methods, headers and max-age; no
		// credentials with origin * (see docs/ingress.md).
		{req: "GET http://cors.example.com/", headers: []string{"Origin: https://anything.example.net"}, route: ing + "cors-default/rule/0/match/0",
			action: fwd, backends: "apps/web/8080/http=100",
			ops: []string{`allowed origins: regex ".*"`, "methods: GET,PUT,POST,DELETE,PATCH,OPTIONS",
				"headers: DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization",
				"max age: 1728000", allowed}, notOps: []string{"credentials allowed"}},
		{req: "OPTIONS http://cors.example.com/", headers: preflight("https://anything.example.net"), route: ing + "cors-default/rule/0/match/0",
			action: explain.ActionCORSPreflight, status: 200},
		{req: "GET http://cors.example.com/", route: ing + "cors-default/rule/0/match/0", action: fwd, ops: []string{"no Origin header"}},
		// An origin list: the port must match, the wildcard is one label, case does not matter.
		{req: "GET https://api.example.com/", headers: []string{"Origin: https://origin.cors.com:8080"}, route: ing + "cors-list/rule/0/match/0",
			action: fwd, ops: []string{allowed, "credentials allowed", "methods: GET,POST", "headers: DNT,User-Agent",
				"exposed headers: X-CustomResponseHeader,X-CustomSecondHeader", "max age: 600"}},
		{req: "GET https://api.example.com/", headers: []string{"Origin: https://origin.cors.com"}, route: ing + "cors-list/rule/0/match/0",
			action: fwd, ops: []string{notAllowed}},
		{req: "GET https://api.example.com/", headers: []string{"Origin: https://origin.cors.com:9090"}, route: ing + "cors-list/rule/0/match/0",
			action: fwd, ops: []string{notAllowed}},
		{req: "GET https://api.example.com/", headers: []string{"Origin: http://foo.origin.cors.com"}, route: ing + "cors-list/rule/0/match/0",
			action: fwd, ops: []string{allowed}},
		{req: "GET https://api.example.com/", headers: []string{"Origin: http://bar-foo.origin.cors.com"}, route: ing + "cors-list/rule/0/match/0",
			action: fwd, ops: []string{allowed}},
		{req: "GET https://api.example.com/", headers: []string{"Origin: http://bar.foo.origin.cors.com"}, route: ing + "cors-list/rule/0/match/0",
			action: fwd, ops: []string{notAllowed}},
		{req: "GET https://api.example.com/", headers: []string{"Origin: http://origin.cors.com"}, route: ing + "cors-list/rule/0/match/0",
			action: fwd, ops: []string{notAllowed}},
		{req: "GET https://api.example.com/", headers: []string{"Origin: HTTPS://App.Example.com"}, route: ing + "cors-list/rule/0/match/0",
			action: fwd, ops: []string{allowed}},
		{req: "GET https://api.example.com/", headers: []string{"Origin: https://appxexample.com"}, route: ing + "cors-list/rule/0/match/0",
			action: fwd, ops: []string{notAllowed}},
		{req: "OPTIONS https://api.example.com/", headers: preflight("https://app.example.com"), route: ing + "cors-list/rule/0/match/0",
			action: explain.ActionCORSPreflight, status: 200},
		{req: "OPTIONS https://api.example.com/", headers: preflight("https://evil.example.org"), route: ing + "cors-list/rule/0/match/0",
			action: fwd, backends: "apps/api/8080/http=100", ops: []string{notAllowed}},
		{req: "GET http://public.example.com/", headers: []string{"Origin: https://app.example.com"}, route: ing + "cors-no-credentials/rule/0/match/0",
			action: fwd, ops: []string{allowed}, notOps: []string{"credentials allowed"}},
		// Cookie affinity: a ring-hash cluster of its own; Envoy sets the cookie (HttpOnly, the
		// location's path, Secure over HTTPS only) when the request has none.
		{req: "GET http://shop.example.com/cart", route: ing + "sticky/rule/0/match/0", action: fwd, backends: "apps/cart/8080/http-ringhash=100",
			ops: []string{"apps/cart/8080/http-ringhash: consistent hash (ring_hash)",
				"cookie route (absent: Envoy picks an endpoint and sets route=<endpoint>; Max-Age=172800; Path=/cart; HttpOnly; SameSite=Lax)"},
			notOps: []string{"Secure"}},
		{req: "GET https://shop.example.com/cart/items", route: ing + "sticky/rule/0/match/0", action: fwd, backends: "apps/cart/8080/http-ringhash=100",
			ops: []string{"Path=/cart; HttpOnly; SameSite=Lax; Secure"}},
		{req: "GET https://shop.example.com/cart", headers: []string{"Cookie: a=b; route=3f2a"}, route: ing + "sticky/rule/0/match/0", action: fwd,
			ops: []string{`cookie route ("3f2a": the endpoint it names)`}},
		{req: "GET http://shop.example.com/staticfiles/a.css", route: ing + "sticky/rule/0/match/1", action: fwd, backends: "apps/cart/8080/http-ringhash=100",
			ops: []string{"Path=/static;"}},
		// A newer Ingress to the same upstream is sticky too, with its own path.
		{req: "GET http://shop.example.com/checkout", route: ing + "sticky-later/rule/0/match/0", action: fwd, backends: "apps/cart/8080/http-ringhash=100",
			ops: []string{"Path=/checkout;"}, notOps: []string{"the path with its query"}},
		// No max-age or expires: a session cookie, ingress-nginx's default name.
		{req: "GET http://sticky.example.com/", route: ing + "shared-sticky/rule/0/match/0", action: fwd, backends: "apps/shared/8080/http-ringhash=100",
			ops: []string{"sets INGRESSCOOKIE=<endpoint>; Path=/; HttpOnly)"}},
		// The HTTPRoute to the same Service port keeps its round-robin cluster.
		{req: "GET http://shared.example.com/", route: "HTTPRoute/apps/shared/rule/0/match/0", action: fwd, backends: "apps/shared/8080/http=100",
			notOps: []string{"load-balancer", "hash"}},
		// Regex mode: the cookie path is "/"; backend-protocol HTTPS and affinity.
		{req: "GET https://vault.example.com/v1/secret", route: ing + "sticky-tls/rule/0/match/0", action: fwd, backends: "apps/vault/8443/http-tls-ringhash=100",
			ops: []string{"Max-Age=3600; Path=/; HttpOnly; Secure"}},
		// upstream-hash-by.
		{req: "GET http://search.example.com/header", headers: []string{"X-User-Id: 42"}, route: ing + "hash-header/rule/0/match/0", action: fwd,
			backends: "apps/search/8081/http-ringhash=100", ops: []string{`header x-user-id ("42")`}},
		{req: "GET http://search.example.com/header", route: ing + "hash-header/rule/0/match/0", action: fwd, ops: []string{"header x-user-id (absent: a random endpoint)"}},
		{req: "GET http://search.example.com/ip", route: ing + "hash-ip/rule/0/match/0", action: fwd, ops: []string{"the client's source IP address"}},
		{req: "GET http://search.example.com/cookie", headers: []string{"Cookie: session=abc"}, route: ing + "hash-cookie/rule/0/match/0", action: fwd,
			ops: []string{`cookie session ("abc": the endpoint it names)`}},
		{req: "GET http://search.example.com/cookie", route: ing + "hash-cookie/rule/0/match/0", action: fwd, ops: []string{"cookie session (absent: a random endpoint)"}},
		{req: "GET http://search.example.com/arg?tenant=acme&x=1", route: ing + "hash-arg/rule/0/match/0", action: fwd, ops: []string{`query parameter tenant ("acme")`}},
		// load-balance ewma: least request, for the newer Ingress of the upstream too.
		{req: "GET http://ewma.example.com/", route: ing + "ewma/rule/0/match/0", action: fwd, backends: "apps/legacy/8080/http-leastrequest=100",
			ops: []string{"least request"}},
		{req: "GET http://legacy.example.com/", route: ing + "ewma-later/rule/0/match/0", action: fwd, backends: "apps/legacy/8080/http-leastrequest=100"},
		// Refused Ingresses serve nothing.
		{req: "GET http://persistent.example.com/", action: notFound, status: 404},
		{req: "GET http://composite.example.com/", action: notFound, status: 404},
	})
}
