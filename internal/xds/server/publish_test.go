package server

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Publish refuses what would make a broken snapshot, and keeps the previous one.
func TestPublishRefusesBadInput(t *testing.T) {
	with := func(change func(map[resource.Type][]types.Resource)) map[resource.Type][]types.Resource {
		res := specA().resources()
		change(res)
		return res
	}
	for name, tc := range map[string]struct {
		res  map[resource.Type][]types.Resource
		want string
	}{
		"unknown type": {with(func(r map[resource.Type][]types.Resource) {
			r["type.googleapis.com/example.Thing"] = nil
		}), "unknown resource type"},
		"wrong message": {with(func(r map[resource.Type][]types.Resource) {
			r[resource.ListenerType] = append(r[resource.ListenerType], &clusterv3.Cluster{Name: "x"})
		}), "is a type.googleapis.com/envoy.config.cluster.v3.Cluster"},
		"nil resource": {with(func(r map[resource.Type][]types.Resource) {
			r[resource.RouteType] = append(r[resource.RouteType], nil)
		}), "is nil"},
		"no name": {with(func(r map[resource.Type][]types.Resource) {
			r[resource.ListenerType] = append(r[resource.ListenerType], &listenerv3.Listener{})
		}), "has no name"},
		"duplicate": {with(func(r map[resource.Type][]types.Resource) {
			r[resource.ClusterType] = append(r[resource.ClusterType], r[resource.ClusterType][0])
		}), `named "a-backend"`},
		"endpoints no cluster names": {with(func(r map[resource.Type][]types.Resource) {
			r[resource.EndpointType] = append(r[resource.EndpointType], endpoints("orphan", "10.9.9.9", 80))
		}), "inconsistent snapshot"},
		"route configuration no listener names": {with(func(r map[resource.Type][]types.Resource) {
			r[resource.RouteType] = append(r[resource.RouteType], &routev3.RouteConfiguration{Name: "orphan"})
		}), "inconsistent snapshot"},
	} {
		t.Run(name, func(t *testing.T) {
			s := New(Options{})
			if _, err := s.Publish("infra/a", specA().resources()); err != nil {
				t.Fatal(err)
			}
			before := s.Versions("infra/a")
			changed, err := s.Publish("infra/a", tc.res)
			if err == nil || !strings.Contains(err.Error(), tc.want) || changed {
				t.Errorf("Publish = %v, %v; want an error containing %q", changed, err, tc.want)
			}
			if got := s.Versions("infra/a"); !mapsEqual(got, before) {
				t.Errorf("versions moved: %v, was %v", got, before)
			}
		})
	}
	if _, err := New(Options{}).Publish("", nil); err == nil {
		t.Error("an empty fleet key was accepted")
	}
}

// An empty fleet still has a version for each Envoy type, so Envoy gets an (empty) answer.
func TestEmptyFleetHasVersions(t *testing.T) {
	s := New(Options{})
	if changed, err := s.Publish("infra/empty", nil); err != nil || !changed {
		t.Fatalf("Publish = %v, %v", changed, err)
	}
	v := s.Versions("infra/empty")
	for typ := range envoyTypeNames {
		if v[typ] == "" {
			t.Errorf("no version for %s", typ)
		}
	}
	if changed, _ := s.Publish("infra/empty", map[resource.Type][]types.Resource{resource.ListenerType: {}}); changed {
		t.Error("an empty list differs from no list")
	}
}

// A second Server on the same registry shares the first one's collectors instead of failing.
func TestServersShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, second := New(Options{Registerer: reg}), New(Options{Registerer: reg})
	if _, err := second.Publish("infra/a", specA().resources()); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(first.metrics.publishes.WithLabelValues("infra/a")); got != 1 {
		t.Errorf("publishes seen through the first server: %v", got)
	}
}

// Publish and Forget from many goroutines; the result only depends on the content.
func TestConcurrentPublish(t *testing.T) {
	s := New(Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				fleet := fmt.Sprintf("ns/f%d", i%10)
				spec := specA()
				spec.endpoint = fmt.Sprintf("10.0.%d.%d", g, i)
				if _, err := s.Publish(fleet, spec.resources()); err != nil {
					t.Error(err)
				}
				if i%7 == 0 {
					s.Forget(fleet)
				}
				_ = s.DataPlaneStatus(fleet)
			}
		})
	}
	wg.Wait()
	for i := range 10 {
		fleet := fmt.Sprintf("ns/f%d", i)
		if _, err := s.Publish(fleet, specA().resources()); err != nil {
			t.Fatal(err)
		}
		if got, want := s.Versions(fleet), s.Versions("ns/f0"); !mapsEqual(got, want) {
			t.Errorf("%s: %v, want %v", fleet, got, want)
		}
	}
}

// BenchmarkPublish publishes to 500 fleets, each of 20 EDS clusters (with their endpoints and CA
// secrets) and 2 listeners (with their route configurations and certificates), 66 resources:
// unchanged (the cost every reconcile pays) and with every fleet's endpoints changed.
func BenchmarkPublish(b *testing.B) {
	const fleets = 500
	res := make([]map[resource.Type][]types.Resource, fleets)
	alt := make([]map[resource.Type][]types.Resource, fleets)
	for i := range fleets {
		res[i], alt[i] = benchFleet(i, "10.0.0."), benchFleet(i, "10.0.1.")
	}
	for _, changing := range []bool{false, true} {
		name := "unchanged"
		if changing {
			name = "changed"
		}
		b.Run(name, func(b *testing.B) {
			s := New(Options{})
			for i := range fleets {
				if _, err := s.Publish(fmt.Sprintf("ns/f%d", i), res[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n++
				for i := range fleets {
					in := res[i]
					if changing && n%2 == 1 {
						in = alt[i]
					}
					if changed, err := s.Publish(fmt.Sprintf("ns/f%d", i), in); err != nil || changed != changing {
						b.Fatalf("Publish = %v, %v", changed, err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*fleets), "ns/fleet")
		})
	}
}

func benchFleet(i int, subnet string) map[resource.Type][]types.Resource {
	out := map[resource.Type][]types.Resource{}
	for j := range 20 {
		spec := fleetSpec{prefix: fmt.Sprintf("f%d-%d", i, j), port: uint32(8000 + j), endpoint: fmt.Sprintf("%s%d", subnet, j),
			cert: fmt.Sprintf("cert-%d-%d", i, j), path: "/"}
		for typ, rs := range spec.resources() {
			for _, r := range rs {
				if j >= 2 && (typ == resource.ListenerType || typ == resource.RouteType || resourceName(r) == spec.prefix+"-cert") {
					continue
				}
				out[typ] = append(out[typ], r)
			}
		}
	}
	return out
}
