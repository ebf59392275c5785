package gatewayapi

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// hostnamesIntersect says whether two attachments' hostnames (each "" for any) share a name,
// comparing every pair: the reference for hostIndex.
func hostnamesIntersect(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if _, ok := intersectHostname(x, y); ok || y == "" {
				return true
			}
		}
	}
	return false
}

// hostIndex answers exactly what comparing every pair of hostnames answers.
func TestHostIndexIntersects(t *testing.T) {
	names := []string{"", "example.com", "foo.example.com", "a.foo.example.com", "*.example.com", "*.foo.example.com",
		"*.com", "bar.com", "*.bar.com", "fooexample.com", "*.other.com", "x.other.com", "com"}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() []string {
		out := make([]string, 1+rng.IntN(3))
		for i := range out {
			out[i] = names[rng.IntN(len(names))]
		}
		return out
	}
	for range 20000 {
		var set [][]string
		var x hostIndex
		for range rng.IntN(4) {
			hs := pick()
			set = append(set, hs)
			x.add(hs)
		}
		b := pick()
		want := slices.ContainsFunc(set, func(a []string) bool { return hostnamesIntersect(a, b) })
		if got := x.intersects(b); got != want {
			t.Fatalf("set %q, hostnames %q: index says %v, pairs say %v", set, b, got, want)
		}
	}
}

func TestLessSpecific(t *testing.T) {
	wild := map[string]*hostGroup{}
	for _, d := range []string{"*.example.com", "*.a.example.com", "*.com", "*.other.com"} {
		wild[d[1:]] = &hostGroup{domain: d}
	}
	catchAll := &hostGroup{domain: "*"}
	for d, want := range map[string][]string{
		"foo.a.example.com": {"*.a.example.com", "*.example.com", "*.com", "*"},
		"foo.example.com":   {"*.example.com", "*.com", "*"},
		"*.a.example.com":   {"*.example.com", "*.com", "*"},
		"*.example.com":     {"*.com", "*"},
		"*.com":             {"*"},
		"*":                 nil,
		"example.com":       {"*.com", "*"},
		"x.other.com":       {"*.other.com", "*.com", "*"},
		"localhost":         {"*"},
	} {
		var got []string
		for _, g := range lessSpecific(nil, d, wild, catchAll) {
			got = append(got, g.domain)
		}
		if !slices.Equal(got, want) {
			t.Errorf("lessSpecific(%q) = %q, want %q", d, got, want)
		}
	}
}

// With routes on n distinct hostnames and a few catch-all routes, each virtual host holds its
// own routes and the catch-all ones: the model grows linearly, not with n².
func TestFallbackModelSize(t *testing.T) {
	const n, catchAll = 300, 3
	in := scaleInput(n, 0, 0)
	prefix := gwapiv1.PathMatchPathPrefix
	for i := range catchAll {
		p := fmt.Sprintf("/fallback/%d", i)
		in.HTTPRoutes = append(in.HTTPRoutes, &gwapiv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("catch-all-%d", i), Namespace: "infra"},
			Spec: gwapiv1.HTTPRouteSpec{
				CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "gw"}}},
				Rules:           []gwapiv1.HTTPRouteRule{{Matches: []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: &prefix, Value: &p}}}}},
			},
		})
	}
	vhs := Resolve(in).Fleet.Listeners[0].VirtualHosts
	if len(vhs) != n+1 {
		t.Fatalf("%d virtual hosts, want %d", len(vhs), n+1)
	}
	for _, vh := range vhs {
		want := 2 + catchAll // two rules of one route, then the catch-all routes
		if vh.Name == "*" {
			want = catchAll
		}
		names := map[string]bool{}
		for _, r := range vh.Routes {
			names[r.Name] = true
		}
		if len(vh.Routes) != want || len(names) != want {
			t.Fatalf("virtual host %s: %d routes (%d names), want %d", vh.Name, len(vh.Routes), len(names), want)
		}
		if last := vh.Routes[len(vh.Routes)-1].Name; last != "HTTPRoute/infra/catch-all-2/rule/0/match/0" {
			t.Errorf("virtual host %s ends with %s", vh.Name, last)
		}
	}
}
