package translate

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/model"
	"github.com/flotilla-dev/flotilla/internal/xds/server"
)

// stages times the three steps of a fleet update and reports each as ms/op. With reuse, each
// translation starts from the last (TranslateFrom), as the xDS controller's do.
type stages struct {
	resolve, translate, publish time.Duration
	reuse                       bool
	prev                        *Resources
	prevRes                     *gatewayapi.Result
}

func (s *stages) run(b *testing.B, srv *server.Server, key string, in gatewayapi.Input) {
	t0 := time.Now()
	res := gatewayapi.ResolveFrom(in, s.prevRes)
	t1 := time.Now()
	var prevFleet *model.Fleet
	if s.prevRes != nil {
		prevFleet = &s.prevRes.Fleet
	}
	out, err := TranslateFrom(&res.Fleet, nil, s.prev, prevFleet)
	if err != nil {
		b.Fatal(err)
	}
	if s.reuse {
		s.prev, s.prevRes = out, &res
	}
	t2 := time.Now()
	if _, err := srv.Publish(key, out.Wire()); err != nil {
		b.Fatal(err)
	}
	s.resolve, s.translate, s.publish = s.resolve+t1.Sub(t0), s.translate+t2.Sub(t1), s.publish+time.Since(t2)
}

// warmed publishes in once, as the fleet's last full pass, and returns the server and stages that
// resolve and translate from it (times reset).
func warmed(b *testing.B, in gatewayapi.Input) (*server.Server, *stages) {
	srv := server.New(server.Options{})
	s := &stages{reuse: true}
	s.run(b, srv, "infra/gw", in)
	s.resolve, s.translate, s.publish = 0, 0, 0
	return srv, s
}

func (s *stages) report(b *testing.B) {
	n := float64(b.N)
	b.ReportMetric(float64(s.resolve.Microseconds())/1000/n, "resolve-ms/op")
	b.ReportMetric(float64(s.translate.Microseconds())/1000/n, "translate-ms/op")
	b.ReportMetric(float64(s.publish.Microseconds())/1000/n, "publish-ms/op")
}

// BenchmarkIncremental is what one HTTPRoute edit costs a Gateway with 10,000 routes: the xDS
// controller resolves the fleet from its last resolution (ResolveFrom: the other routes'
// conversions and virtual hosts are the same), translates it from the last translation
// (TranslateFrom: the same clusters, endpoints and virtual host messages), and the server hashes
// what is new: the route configuration, assembled from encoded virtual hosts (only its version
// moves). Each edit is a new version of the route (a new object, as the informer gives).
func BenchmarkIncremental(b *testing.B) {
	for _, n := range []int{10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			in := benchInput(n)
			srv, s := warmed(b, in)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				edited := in.HTTPRoutes[n/2].DeepCopy()
				edited.Generation++
				edited.ResourceVersion = fmt.Sprint("edit-", i)
				edited.Spec.Rules[0].Filters[0].RequestHeaderModifier.Set[0].Value = fmt.Sprint("edit-", i)
				in.HTTPRoutes[n/2] = edited
				s.run(b, srv, "infra/gw", in)
			}
			s.report(b)
		})
	}
}

// BenchmarkRouteAddDelete is a route added to the 10,000-route fleet of BenchmarkIncremental,
// then deleted again (alternately): the same path as an edit (a patch when its hostname is exact).
func BenchmarkRouteAddDelete(b *testing.B) {
	for _, n := range []int{10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			in := benchInput(n)
			srv, s := warmed(b, in)
			base := in.HTTPRoutes
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				if i%2 == 1 {
					added := base[n/2].DeepCopy()
					added.Name, added.ResourceVersion = fmt.Sprint("added-", i), fmt.Sprint("added-", i)
					added.Spec.Hostnames = []gwapiv1.Hostname{gwapiv1.Hostname(fmt.Sprintf("added-%d.example.com", i))}
					in.HTTPRoutes = append(base[:n:n], added)
				} else {
					in.HTTPRoutes = base
				}
				s.run(b, srv, "infra/gw", in)
			}
			s.report(b)
		})
	}
}

// BenchmarkFleetsEdit is one HTTPRoute edited in one of 500 published fleets of 20 routes each
// (a different fleet each time): resolve from that fleet's last resolution, translate, publish
// it alone; the other fleets' versions never move (checked at the end).
func BenchmarkFleetsEdit(b *testing.B) {
	for _, n := range []int{500} {
		b.Run(fmt.Sprintf("gateways=%d", n), func(b *testing.B) {
			ins := make([]gatewayapi.Input, n)
			st := make([]stages, n)
			srv := server.New(server.Options{})
			for g := range ins {
				ins[g] = benchInput(20)
				ins[g].Gateway.Name = fmt.Sprintf("gw-%d", g)
				for _, rt := range ins[g].HTTPRoutes {
					rt.Spec.ParentRefs[0].Name = gwapiv1.ObjectName(ins[g].Gateway.Name)
				}
				st[g].reuse = true
				st[g].run(b, srv, "infra/"+ins[g].Gateway.Name, ins[g])
			}
			before := make([]map[string]string, n)
			for g := range ins {
				before[g] = srv.Versions("infra/" + ins[g].Gateway.Name)
			}
			var total stages
			edited := map[int]bool{}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				g := (i * 7) % n
				edited[g] = true
				in := &ins[g]
				rt := in.HTTPRoutes[i%20].DeepCopy()
				rt.ResourceVersion = fmt.Sprint("edit-", i)
				rt.Spec.Rules[0].Filters[0].RequestHeaderModifier.Set[0].Value = fmt.Sprint("edit-", i)
				in.HTTPRoutes = slices.Clone(in.HTTPRoutes)
				in.HTTPRoutes[i%20] = rt
				s := &st[g]
				s.resolve, s.translate, s.publish = 0, 0, 0
				s.run(b, srv, "infra/"+in.Gateway.Name, *in)
				total.resolve, total.translate, total.publish = total.resolve+s.resolve, total.translate+s.translate, total.publish+s.publish
			}
			for g := range ins {
				if !edited[g] && fmt.Sprint(srv.Versions("infra/"+ins[g].Gateway.Name)) != fmt.Sprint(before[g]) {
					b.Fatalf("fleet %d was not edited, yet its versions moved", g)
				}
			}
			total.report(b)
		})
	}
}

// BenchmarkFleets is a full pass over 500 Gateways of 20 HTTPRoutes each (a restart, or a
// change every fleet sees): resolve, translate and publish every fleet.
func BenchmarkFleets(b *testing.B) {
	for _, n := range []int{500} {
		b.Run(fmt.Sprintf("gateways=%d", n), func(b *testing.B) {
			ins := make([]gatewayapi.Input, n)
			for g := range ins {
				ins[g] = benchInput(20)
				ins[g].Gateway.Name = fmt.Sprintf("gw-%d", g)
				for _, rt := range ins[g].HTTPRoutes {
					rt.Spec.ParentRefs[0].Name = gwapiv1.ObjectName(ins[g].Gateway.Name)
				}
			}
			srv := server.New(server.Options{})
			var s stages
			b.ReportAllocs()
			for b.Loop() {
				for g := range ins {
					s.run(b, srv, "infra/"+ins[g].Gateway.Name, ins[g])
				}
			}
			s.report(b)
		})
	}
}

// BenchmarkFullPass is a full pass over the fleet of BenchmarkIncremental (same input): resolve,
// translate, and publish to a server that has not seen the resources (so hashes everything).
func BenchmarkFullPass(b *testing.B) {
	for _, n := range []int{10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			in := benchInput(n)
			var s stages
			b.ReportAllocs()
			for b.Loop() {
				s.run(b, server.New(server.Options{}), "infra/gw", in)
			}
			s.report(b)
		})
	}
}

// BenchmarkEndpointChange is one EndpointSlice changed (a Pod added, then removed) behind one
// route of the 10,000-route fleet: the resolution's endpoints of that Service's clusters
// (Result.SetEndpoints), their ClusterLoadAssignments (UpdateEndpoints), and a Publish that
// hashes only what is not the same object as before: only the EDS version moves.
func BenchmarkEndpointChange(b *testing.B) {
	for _, n := range []int{10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			in := benchInput(n)
			srv := server.New(server.Options{})
			res := gatewayapi.Resolve(in)
			out, err := Translate(&res.Fleet, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := srv.Publish("infra/gw", out.Wire()); err != nil {
				b.Fatal(err)
			}
			before := srv.Versions("infra/gw")
			orig := in.EndpointSlices[n]
			svc := orig.Namespace + "/" + orig.Labels[discoveryv1.LabelServiceName]
			grown := orig.DeepCopy()
			ready := true
			grown.Endpoints = append(grown.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.250.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
			var s stages
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				es := grown
				if i%2 == 1 {
					es = orig
				}
				i++
				t0 := time.Now()
				changed := res.SetEndpoints(map[string][]*discoveryv1.EndpointSlice{svc: {es}})
				t1 := time.Now()
				nout, ok := UpdateEndpoints(out, changed)
				if !ok || len(changed) != 1 {
					b.Fatalf("shortcut not taken (%v) or %d clusters changed", ok, len(changed))
				}
				t2 := time.Now()
				if _, err := srv.Publish("infra/gw", nout.Wire()); err != nil {
					b.Fatal(err)
				}
				s.resolve, s.translate, s.publish = s.resolve+t1.Sub(t0), s.translate+t2.Sub(t1), s.publish+time.Since(t2)
				out = nout
			}
			after := srv.Versions("infra/gw")
			for typ, v := range before {
				if typ != resource.EndpointType && after[typ] != v {
					b.Fatalf("the %s version moved", typ)
				}
			}
			s.report(b)
		})
	}
}

// BenchmarkRouteConfigFloor is the floor of any route change with one HTTP listener: Envoy's RDS
// resource is the whole RouteConfiguration, so a change re-marshals and re-hashes it (what
// Publish does for it), whatever resolve and translate cost.
func BenchmarkRouteConfigFloor(b *testing.B) {
	for _, n := range []int{10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			res := gatewayapi.Resolve(benchInput(n))
			out, err := Translate(&res.Fleet, nil)
			if err != nil {
				b.Fatal(err)
			}
			rc := out.Routes[0]
			b.Run("encode", func(b *testing.B) { // the whole message encoded again, as before Wire
				var size int
				b.ReportAllocs()
				for b.Loop() {
					buf, err := proto.MarshalOptions{Deterministic: true}.Marshal(rc)
					if err != nil {
						b.Fatal(err)
					}
					_ = sha256.Sum256(buf)
					size = len(buf)
				}
				b.ReportMetric(float64(size), "bytes")
			})
			// With Wire, a changed route configuration is its virtual hosts' encodings put
			// together (all but the changed one's reused) and hashed: the floor of any route
			// change with one HTTP listener.
			raw := out.wire[0].ProtoReflect().GetUnknown()
			b.Run("assembled", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					buf := make([]byte, 0, len(raw))
					buf = append(buf, raw...)
					_ = sha256.Sum256(buf)
				}
				b.ReportMetric(float64(len(raw)), "bytes")
			})
		})
	}
}

// BenchmarkCacheSize states what the caches behind the incremental path cost at 10,000 routes,
// beside the fleet's translated resources: the resolution's memo (ResolveFrom) and the
// translation's (virtual host messages' encodings, route configurations as published), as heap
// after a collection. One measurement per run (the figures are what it reports).
func BenchmarkCacheSize(b *testing.B) {
	in := benchInput(10000)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for b.Loop() {
		h0 := heap()
		plain := gatewayapi.Resolve(in)
		h1 := heap()
		memo := gatewayapi.ResolveFrom(in, nil)
		h2 := heap()
		out, err := Translate(&memo.Fleet, nil)
		if err != nil {
			b.Fatal(err)
		}
		h3 := heap()
		out.vhosts, out.wire = nil, nil // the memos dropped: what is left is the resources
		h4 := heap()
		resolved, resolveMemo := int64(h1)-int64(h0), int64(h2)-int64(h1)-(int64(h1)-int64(h0))
		translated, translateMemo := int64(h4)-int64(h2), int64(h3)-int64(h4)
		b.ReportMetric(float64(resolved)/(1<<20), "resolution-MiB")
		b.ReportMetric(float64(resolveMemo)/(1<<20), "resolve-memo-MiB")
		b.ReportMetric(float64(translated)/(1<<20), "translated-MiB")
		b.ReportMetric(float64(translateMemo)/(1<<20), "translate-memo-MiB")
		runtime.KeepAlive(plain)
		runtime.KeepAlive(memo)
		runtime.KeepAlive(out)
	}
}
