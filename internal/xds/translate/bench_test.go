package translate

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
)

var benchSizes = []int{100, 1000, 10000}

// BenchmarkTranslate resolves and translates a Gateway with n HTTPRoutes, as a reconcile does.
func BenchmarkTranslate(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			in := benchInput(n)
			b.ReportAllocs()
			for b.Loop() {
				res := gatewayapi.Resolve(in)
				if _, err := Translate(&res.Fleet, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTranslateOnly is Translate alone, on the model of BenchmarkTranslate's input.
func BenchmarkTranslateOnly(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			f := gatewayapi.Resolve(benchInput(n)).Fleet
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Translate(&f, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchInput is a Gateway with an HTTP listener on port 80 and n HTTPRoutes in namespace
// "bench", each with its own hostname and two rules (one match each) that modify a request
// header and split traffic between two Services of three ready endpoints each.
func benchInput(n int) gatewayapi.Input {
	const ns = "bench"
	all := gwapiv1.NamespacesFromAll
	in := gatewayapi.Input{
		ControllerName: "gateway.flotilla.dev/controller",
		Gateway: &gwapiv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "infra", Generation: 1, ResourceVersion: "1"},
			Spec: gwapiv1.GatewaySpec{GatewayClassName: "flotilla", Listeners: []gwapiv1.Listener{{
				Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType,
				AllowedRoutes: &gwapiv1.AllowedRoutes{Namespaces: &gwapiv1.RouteNamespaces{From: &all}},
			}}},
		},
	}
	gwNS := gwapiv1.Namespace("infra")
	prefix, exact := gwapiv1.PathMatchPathPrefix, gwapiv1.PathMatchExact
	for i := range n {
		var refs []gwapiv1.HTTPBackendRef
		for j, w := range []int32{80, 20} {
			svc := fmt.Sprintf("svc-%d-%d", i, j)
			port := int32(8080)
			refs = append(refs, gwapiv1.HTTPBackendRef{BackendRef: gwapiv1.BackendRef{
				BackendObjectReference: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(svc), Port: &port}, Weight: &w}})
			in.Services = append(in.Services, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns, ResourceVersion: "1"},
				Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: port}}},
			})
			name, ready, target := "http", true, int32(80)
			es := &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Name: svc + "-1", Namespace: ns, ResourceVersion: "1", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &target}},
			}
			for k := range 3 {
				es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
					Addresses:  []string{fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j*3+k+1)},
					Conditions: discoveryv1.EndpointConditions{Ready: &ready},
				})
			}
			in.EndpointSlices = append(in.EndpointSlices, es)
		}
		header := []gwapiv1.HTTPRouteFilter{{Type: gwapiv1.HTTPRouteFilterRequestHeaderModifier,
			RequestHeaderModifier: &gwapiv1.HTTPHeaderFilter{Set: []gwapiv1.HTTPHeader{{Name: "x-route", Value: fmt.Sprint(i)}}}}}
		api, health := fmt.Sprintf("/api/v%d", i%5), "/healthz"
		in.HTTPRoutes = append(in.HTTPRoutes, &gwapiv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("route-%d", i), Namespace: ns, Generation: 1, ResourceVersion: "1"},
			Spec: gwapiv1.HTTPRouteSpec{
				CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "gw", Namespace: &gwNS}}},
				Hostnames:       []gwapiv1.Hostname{gwapiv1.Hostname(fmt.Sprintf("app-%d.example.com", i))},
				Rules: []gwapiv1.HTTPRouteRule{
					{Matches: []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: &prefix, Value: &api}}}, Filters: header, BackendRefs: refs},
					{Matches: []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: &exact, Value: &health}}}, Filters: header, BackendRefs: refs},
				},
			},
		})
	}
	return in
}

// BenchmarkBadInputAtScale resolves and translates 1,000 valid HTTPRoutes alone ("valid"), and
// beside 1,000 more whose path regular expressions are invalid, too large, or just under the
// limit ("mixed"): the invalid ones must cost what refusing them costs, so that "mixed" stays within
// 2× of "valid" (compare the two). It also checks that no valid route loses its Accepted status.
func BenchmarkBadInputAtScale(b *testing.B) {
	const n = 1000
	valid := benchInput(n)
	mixed := benchInput(2 * n)
	regex := gwapiv1.PathMatchRegularExpression
	patterns := []string{
		"/(unclosed",                            // does not parse
		"/" + strings.Repeat("[a-z]{1,50}", 40), // far over the program size limit
		"/a{1,1000}",                            // over RE2's repeat limit
		"/" + strings.Repeat("[a-f]", 60),       // near the limit, valid
	}
	for i, r := range mixed.HTTPRoutes[n:] {
		p := patterns[i%len(patterns)]
		r.Spec.Rules[0].Matches = []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: &regex, Value: &p}}}
	}
	res := gatewayapi.Resolve(mixed)
	refused := 0
	for _, st := range res.Routes {
		var i int
		if _, err := fmt.Sscanf(st.Name, "route-%d", &i); err != nil {
			b.Fatal(err)
		}
		accepted := slices.ContainsFunc(st.Parents[0].Conditions, func(c metav1.Condition) bool {
			return c.Type == "Accepted" && c.Status == metav1.ConditionTrue
		})
		switch {
		case i < n && !accepted:
			b.Fatalf("valid route %s is not accepted beside invalid ones: %+v", st.Name, st.Parents[0].Conditions)
		case i >= n && !accepted:
			refused++
		}
	}
	if refused < n/2 {
		b.Fatalf("%d routes refused: the invalid patterns did not reach the resolver", refused)
	}
	for name, in := range map[string]gatewayapi.Input{"valid": valid, "mixed": mixed} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res := gatewayapi.Resolve(in)
				if _, err := Translate(&res.Fleet, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// maxSizeRoute is one HTTPRoute as large as the CRD allows: 16 hostnames, 16 rules with 8 matches
// each (128, the CRD's cap across rules) of a path, a method, 16 headers and 16 query parameters,
// each rule with request and response header modifiers of 16 set, 16 add and 16 remove each, a
// URL rewrite and 13 request mirrors (16 filters), and 16 weighted backends that each modify 16
// request headers. Every Service has three ready endpoints.
func maxSizeRoute() gatewayapi.Input {
	in := benchInput(0)
	const ns = "bench"
	gwNS := gwapiv1.Namespace("infra")
	prefix := gwapiv1.PathMatchPathPrefix
	port := int32(8080)
	var hosts []gwapiv1.Hostname
	for h := range 16 {
		hosts = append(hosts, gwapiv1.Hostname(fmt.Sprintf("big-%d.example.com", h)))
	}
	headers := func(prefix string) []gwapiv1.HTTPHeader {
		var out []gwapiv1.HTTPHeader
		for k := range 16 {
			out = append(out, gwapiv1.HTTPHeader{Name: gwapiv1.HTTPHeaderName(fmt.Sprintf("x-%s-%d", prefix, k)), Value: strings.Repeat("v", 64)})
		}
		return out
	}
	names := func(prefix string) []string {
		var out []string
		for k := range 16 {
			out = append(out, fmt.Sprintf("x-%s-%d", prefix, k))
		}
		return out
	}
	modifier := func(p string) *gwapiv1.HTTPHeaderFilter {
		return &gwapiv1.HTTPHeaderFilter{Set: headers(p + "-set"), Add: headers(p + "-add"), Remove: names(p + "-remove")}
	}
	service := func(name string, i int) {
		in.Services = append(in.Services, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, ResourceVersion: "1"},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: port}}},
		})
		pname, ready, target := "http", true, int32(80)
		es := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name + "-1", Namespace: ns, ResourceVersion: "1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &pname, Port: &target}},
		}
		for k := range 3 {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.9.%d.%d", i, k+1)},
				Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
		}
		in.EndpointSlices = append(in.EndpointSlices, es)
	}
	var rules []gwapiv1.HTTPRouteRule
	for r := range 16 {
		var matches []gwapiv1.HTTPRouteMatch
		for m := range 8 {
			path := fmt.Sprintf("/rule-%d/match-%d", r, m)
			method := gwapiv1.HTTPMethodGet
			var hm []gwapiv1.HTTPHeaderMatch
			var qm []gwapiv1.HTTPQueryParamMatch
			for k := range 16 {
				hm = append(hm, gwapiv1.HTTPHeaderMatch{Name: gwapiv1.HTTPHeaderName(fmt.Sprintf("x-match-%d", k)), Value: fmt.Sprintf("v%d", k)})
				qm = append(qm, gwapiv1.HTTPQueryParamMatch{Name: gwapiv1.HTTPHeaderName(fmt.Sprintf("q%d", k)), Value: fmt.Sprintf("v%d", k)})
			}
			matches = append(matches, gwapiv1.HTTPRouteMatch{Path: &gwapiv1.HTTPPathMatch{Type: &prefix, Value: &path},
				Method: &method, Headers: hm, QueryParams: qm})
		}
		host := gwapiv1.PreciseHostname("upstream.example.com")
		filters := []gwapiv1.HTTPRouteFilter{
			{Type: gwapiv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: modifier("req")},
			{Type: gwapiv1.HTTPRouteFilterResponseHeaderModifier, ResponseHeaderModifier: modifier("resp")},
			{Type: gwapiv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwapiv1.HTTPURLRewriteFilter{Hostname: &host}},
		}
		for k := range 13 {
			name := fmt.Sprintf("mirror-%d-%d", r, k)
			service(name, 16*16+r*13+k)
			filters = append(filters, gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterRequestMirror,
				RequestMirror: &gwapiv1.HTTPRequestMirrorFilter{BackendRef: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(name), Port: &port}}})
		}
		var refs []gwapiv1.HTTPBackendRef
		for k := range 16 {
			name := fmt.Sprintf("big-%d-%d", r, k)
			service(name, r*16+k)
			w := int32(k + 1)
			refs = append(refs, gwapiv1.HTTPBackendRef{
				BackendRef: gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(name), Port: &port}, Weight: &w},
				Filters:    []gwapiv1.HTTPRouteFilter{{Type: gwapiv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gwapiv1.HTTPHeaderFilter{Set: headers("backend")}}},
			})
		}
		rules = append(rules, gwapiv1.HTTPRouteRule{Matches: matches, Filters: filters, BackendRefs: refs})
	}
	in.HTTPRoutes = []*gwapiv1.HTTPRoute{{
		ObjectMeta: metav1.ObjectMeta{Name: "biggest", Namespace: ns, Generation: 1, ResourceVersion: "1"},
		Spec: gwapiv1.HTTPRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "gw", Namespace: &gwNS}}},
			Hostnames:       hosts,
			Rules:           rules,
		},
	}}
	return in
}

// BenchmarkMaxSizeRoute resolves and translates the largest HTTPRoute the CRD admits
// (maxSizeRoute), checking that it is accepted whole: the bound README's "Operating Flotilla"
// states for one route.
func BenchmarkMaxSizeRoute(b *testing.B) {
	in := maxSizeRoute()
	res := gatewayapi.Resolve(in)
	if c := res.Routes[0].Parents[0].Conditions; !slices.ContainsFunc(c, func(c metav1.Condition) bool {
		return c.Type == "Accepted" && c.Status == metav1.ConditionTrue
	}) {
		b.Fatalf("the largest route is not accepted: %+v", c)
	}
	out, err := Translate(&res.Fleet, nil)
	if err != nil {
		b.Fatal(err)
	}
	routes := 0
	for _, rc := range out.Routes {
		for _, vh := range rc.GetVirtualHosts() {
			routes += len(vh.GetRoutes())
		}
	}
	if want := 16 * 128; routes < want {
		b.Fatalf("%d Envoy routes, want at least %d (16 hostnames × 128 matches)", routes, want)
	}
	b.ReportAllocs()
	for b.Loop() {
		res := gatewayapi.Resolve(in)
		if _, err := Translate(&res.Fleet, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(routes), "envoy-routes")
}
