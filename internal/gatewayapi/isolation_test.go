package gatewayapi

import (
	"bytes"
	"github.com/flotilla-dev/flotilla/internal/golden"
	"reflect"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// TestBadInputIsIsolated resolves a fleet with and without bad input (a malformed route, a route
// contesting a good route's hostname and path, a forbidden cross-namespace backend, a listener
// with a missing Secret): apart from the bad routes' own entries, the model and the good routes'
// status must be identical.
func TestBadInputIsIsolated(t *testing.T) {
	good := Resolve(loadInput(t, "testdata/isolation-good.in.yaml"))
	bad := Resolve(loadInput(t, "testdata/isolation-bad.in.yaml"))
	badRoutes := []string{"apps/malformed/", "apps/conflicting/", "intruder/forbidden/", "apps/grpc-no-secret-listener/"}

	if len(good.Fleet.Listeners) == 0 || len(good.Fleet.Clusters) == 0 {
		t.Fatal("the good case resolved to an empty fleet: the test would prove nothing")
	}
	got := render(t, Result{Fleet: withoutRoutes(bad.Fleet, badRoutes)})
	want := render(t, Result{Fleet: good.Fleet})
	if !bytes.Equal(got, want) {
		t.Errorf("bad input changed the good routes' model:\n%s", golden.Diff(want, got))
	}

	for _, name := range []string{"shop", "blog"} {
		g, b := routeStatus(good, name), routeStatus(bad, name)
		if g == nil || !reflect.DeepEqual(g, b) {
			t.Errorf("route %s: status changed by bad input:\n good %+v\n bad  %+v", name, g, b)
		}
	}
	for i, l := range good.Listeners {
		if !reflect.DeepEqual(l.Conditions, bad.Listeners[i].Conditions) {
			t.Errorf("listener %s: conditions changed by bad input", l.Name)
		}
	}
	// And each bad object did get its own reason.
	for name, reason := range map[string]string{"malformed": "UnsupportedValue", "forbidden": "RefNotPermitted",
		"conflicting": "BackendNotFound", "grpc-no-secret-listener": "Accepted"} {
		st := routeStatus(bad, name)
		if st == nil || !slices.ContainsFunc(st.Parents[0].Conditions, func(c metav1.Condition) bool { return c.Reason == reason }) {
			t.Errorf("route %s: want a condition with reason %s, got %+v", name, reason, st)
		}
	}
	if c := bad.Listeners[2].Conditions; c[2].Reason != "InvalidCertificateRef" {
		t.Errorf("listener https-broken: want ResolvedRefs InvalidCertificateRef, got %+v", c)
	}
}

func routeStatus(res Result, name string) *RouteStatus {
	for i := range res.Routes {
		if res.Routes[i].Name == name {
			return &res.Routes[i]
		}
	}
	return nil
}

// withoutRoutes removes the model routes and filter chains named after the given routes (and the
// virtual hosts and clusters only they used).
func withoutRoutes(f model.Fleet, ids []string) model.Fleet {
	drop := func(name string) bool {
		return slices.ContainsFunc(ids, func(id string) bool { return strings.Contains(name+"/", "/"+id) })
	}
	vhosts := func(vs []model.VirtualHost) []model.VirtualHost {
		var out []model.VirtualHost
		for _, v := range vs {
			n := len(v.Routes)
			v.Routes = slices.DeleteFunc(slices.Clone(v.Routes), func(r model.Route) bool { return drop(r.Name) })
			if len(v.Routes) > 0 || n == 0 {
				out = append(out, v)
			}
		}
		return out
	}
	out := f
	out.Listeners = nil
	for _, l := range f.Listeners {
		l.VirtualHosts = vhosts(l.VirtualHosts)
		var chains []model.FilterChain
		for _, c := range l.FilterChains {
			if !drop(c.Name) {
				c.VirtualHosts = vhosts(c.VirtualHosts)
				chains = append(chains, c)
			}
		}
		l.FilterChains = chains
		out.Listeners = append(out.Listeners, l)
	}
	r := &resolver{}
	for _, c := range f.Clusters {
		r.addCluster(c)
	}
	out.Clusters = r.usedClusters(out)
	return out
}
