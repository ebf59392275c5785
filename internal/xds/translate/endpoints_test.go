package translate

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/model"
	"github.com/flotilla-dev/flotilla/internal/xds/server"
)

// mutateSlice changes the EndpointSlices of one Service of in at random, as Pods come and go:
// an endpoint added, removed, made not ready, terminating but serving, moved to a zone; a slice
// added or deleted; a slice of FQDN addresses. The slices are replaced, never changed in place
// (they are the informer's). It returns the Service ("ns/name") and its slices now.
func mutateSlice(rng *rand.Rand, in *gatewayapi.Input, step int) (string, []*discoveryv1.EndpointSlice) {
	i := rng.IntN(len(in.EndpointSlices))
	es := in.EndpointSlices[i].DeepCopy()
	svc := es.Labels[discoveryv1.LabelServiceName]
	yes, no := true, false
	switch rng.IntN(7) {
	case 0:
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.200.%d.%d", step/250%250, step%250+1)},
			Conditions: discoveryv1.EndpointConditions{Ready: &yes}})
	case 1:
		if len(es.Endpoints) > 0 {
			es.Endpoints = slices.Delete(es.Endpoints, 0, 1)
		}
	case 2:
		if len(es.Endpoints) > 0 {
			es.Endpoints[rng.IntN(len(es.Endpoints))].Conditions = discoveryv1.EndpointConditions{Ready: &no}
		}
	case 3:
		if len(es.Endpoints) > 0 {
			es.Endpoints[rng.IntN(len(es.Endpoints))].Conditions = discoveryv1.EndpointConditions{Ready: &no, Serving: &yes, Terminating: &yes}
		}
	case 4:
		if len(es.Endpoints) > 0 {
			z := fmt.Sprintf("zone-%d", rng.IntN(3))
			es.Endpoints[rng.IntN(len(es.Endpoints))].Zone = &z
		}
	case 5: // a second slice for the Service
		extra := es.DeepCopy()
		extra.Name = fmt.Sprintf("%s-extra-%d", svc, step)
		for j := range extra.Endpoints {
			extra.Endpoints[j].Addresses = []string{fmt.Sprintf("10.201.%d.%d", step%250, j+1)}
		}
		in.EndpointSlices = append(slices.Clip(in.EndpointSlices), extra)
	case 6:
		if rng.IntN(2) == 0 && len(in.EndpointSlices) > 1 {
			in.EndpointSlices = slices.Delete(slices.Clone(in.EndpointSlices), i, i+1)
			return es.Namespace + "/" + svc, slicesOf(in, es.Namespace, svc)
		}
		es.AddressType = discoveryv1.AddressTypeFQDN
	}
	in.EndpointSlices = slices.Clone(in.EndpointSlices)
	es.ResourceVersion = fmt.Sprint("es-", step)
	in.EndpointSlices[i] = es
	return es.Namespace + "/" + svc, slicesOf(in, es.Namespace, svc)
}

func slicesOf(in *gatewayapi.Input, ns, svc string) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for _, es := range in.EndpointSlices {
		if es.Namespace == ns && es.Labels[discoveryv1.LabelServiceName] == svc {
			out = append(out, es)
		}
	}
	return out
}

// checkEndpointSteps applies steps random EndpointSlice changes to in and checks, after each,
// that the shortcut (Result.SetEndpoints, UpdateEndpoints, Publish of what did not change)
// gives byte for byte what a full pass (Resolve, Translate, Publish to a fresh server) gives:
// every resource, the warnings, every status, and the published versions.
func checkEndpointSteps(t *testing.T, in gatewayapi.Input, secrets map[string]TLSSecret, seed uint64, steps int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	res := gatewayapi.Resolve(in)
	out, err := Translate(&res.Fleet, secrets)
	if err != nil {
		t.Fatal(err)
	}
	warned := len(out.Warnings) > 0 // the shortcut declines a fleet with warnings
	inc := server.New(server.Options{})
	if _, err := inc.Publish("f", out.ByType()); err != nil {
		t.Fatal(err)
	}
	shortcuts := 0
	for step := range steps {
		svc, ss := mutateSlice(rng, &in, step)
		changed := res.SetEndpoints(map[string][]*discoveryv1.EndpointSlice{svc: ss})
		next := res
		nout, ok := UpdateEndpoints(out, changed)
		if ok {
			shortcuts++
		} else if nout, err = Translate(&next.Fleet, secrets); err != nil {
			t.Fatal(err)
		}
		if _, err := inc.Publish("f", nout.ByType()); err != nil {
			t.Fatal(err)
		}
		fullRes := gatewayapi.Resolve(in)
		full, err := Translate(&fullRes.Fleet, secrets)
		if err != nil {
			t.Fatal(err)
		}
		fresh := server.New(server.Options{})
		if _, err := fresh.Publish("f", full.ByType()); err != nil {
			t.Fatal(err)
		}
		where := fmt.Sprintf("seed %d step %d (Service %s)", seed, step, svc)
		sameResources(t, where, nout, full)
		a, _ := json.Marshal(next)
		b, _ := json.Marshal(fullRes)
		if string(a) != string(b) {
			t.Fatalf("%s: the resolution differs from a full Resolve", where)
		}
		if va, vb := inc.Versions("f"), fresh.Versions("f"); fmt.Sprint(va) != fmt.Sprint(vb) {
			t.Fatalf("%s: published versions %v, a full pass publishes %v", where, va, vb)
		}
		res, out = next, nout
	}
	if shortcuts == 0 && !warned {
		t.Errorf("seed %d: the shortcut was never taken in %d steps", seed, steps)
	}
}

func sameResources(t *testing.T, where string, got, want *Resources) {
	t.Helper()
	if !slices.Equal(got.Warnings, want.Warnings) || fmt.Sprint(got.RouteWarnings) != fmt.Sprint(want.RouteWarnings) {
		t.Fatalf("%s: warnings %v, a full pass %v", where, got.Warnings, want.Warnings)
	}
	// What is published (Wire: route configurations assembled from encoded virtual hosts) is byte
	// for byte the full pass's resources.
	for typ, gs := range got.Wire() {
		ws := want.ByType()[typ]
		if len(gs) != len(ws) {
			t.Fatalf("%s: %d %s, a full pass has %d", where, len(gs), typ, len(ws))
		}
		for i := range gs {
			a, err := proto.MarshalOptions{Deterministic: true}.Marshal(gs[i])
			if err != nil {
				t.Fatal(err)
			}
			b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(ws[i])
			if string(a) != string(b) {
				t.Fatalf("%s: %s %d differs from a full pass", where, typ, i)
			}
		}
	}
}

// TestEndpointChangesMatchFullPass is the differential test of the endpoint shortcut, over the
// benchmark's fleet and the goldens with Ingresses, backend TLS and InferencePools.
func TestEndpointChangesMatchFullPass(t *testing.T) {
	t.Run("bench", func(t *testing.T) {
		for seed := range uint64(4) {
			checkEndpointSteps(t, benchInput(30), nil, seed, 60)
		}
	})
	for _, name := range []string{"endpoints", "http-weighted", "backend-tls-valid", "backend-tls-fail-closed", "ingress-nginx", "ingress-canary", "ingress-protections"} {
		t.Run(name, func(t *testing.T) {
			c := loadCase(t, "testdata/"+name+".in.yaml")
			if len(c.in.EndpointSlices) == 0 {
				t.Skip("no EndpointSlices")
			}
			for seed := range uint64(3) {
				checkEndpointSteps(t, c.in, c.secrets, seed, 40)
			}
		})
	}
}

// FuzzEndpointChanges: any seed and number of steps, the shortcut is a full pass.
func FuzzEndpointChanges(f *testing.F) {
	f.Add(uint64(1), uint8(20))
	f.Add(uint64(7), uint8(80))
	f.Fuzz(func(t *testing.T, seed uint64, steps uint8) {
		checkEndpointSteps(t, benchInput(8), nil, seed, int(steps%100)+1)
	})
}

// mutateRoute edits the routes of in at random: a header value, a hostname, a backend's
// weight or port (a missing one too), a route removed or added, and now and then an endpoint.
// Routes and slices are replaced, never changed in place.
func mutateRoute(rng *rand.Rand, in *gatewayapi.Input, step int) {
	in.HTTPRoutes = slices.Clone(in.HTTPRoutes)
	i := rng.IntN(len(in.HTTPRoutes))
	rt := in.HTTPRoutes[i].DeepCopy()
	rt.Generation++
	rt.ResourceVersion = fmt.Sprint("rt-", step)
	switch rng.IntN(11) {
	case 0:
		rt.Spec.Rules[0].Filters[0].RequestHeaderModifier.Set[0].Value = fmt.Sprint("edit-", step)
	case 9, 10: // not a route: a Service's port moves (its routes' backends stop or start resolving)
		in.Services = slices.Clone(in.Services)
		k := rng.IntN(len(in.Services))
		svc := in.Services[k].DeepCopy()
		svc.ResourceVersion = fmt.Sprint("svc-", step)
		if svc.Spec.Ports[0].Port == 8080 {
			svc.Spec.Ports[0].Port = 8081
		} else {
			svc.Spec.Ports[0].Port = 8080
		}
		in.Services[k] = svc
		return
	case 7: // a wildcard hostname: the virtual hosts it covers change too
		rt.Spec.Hostnames[0] = gwapiv1.Hostname(fmt.Sprintf("*.w%d.example.com", rng.IntN(3)))
	case 8: // another route's hostname: the two compete for its matches
		rt.Spec.Hostnames[0] = in.HTTPRoutes[rng.IntN(len(in.HTTPRoutes))].Spec.Hostnames[0]
	case 1:
		rt.Spec.Hostnames[0] = gwapiv1.Hostname(fmt.Sprintf("edited-%d.example.com", step))
	case 2:
		w := int32(rng.IntN(100))
		rt.Spec.Rules[0].BackendRefs[0].Weight = &w
	case 3:
		p := gwapiv1.PortNumber(9999) // no such port: that backend's share fails
		rt.Spec.Rules[1].BackendRefs[1].Port = &p
	case 4:
		if len(in.HTTPRoutes) > 2 {
			in.HTTPRoutes = slices.Delete(in.HTTPRoutes, i, i+1)
			return
		}
	case 5:
		rt.Name = fmt.Sprintf("added-%d", step)
		rt.CreationTimestamp = metav1.NewTime(time.Unix(int64(1000-step), 0)) // older than some, younger than others
		in.HTTPRoutes = append(in.HTTPRoutes, rt)
		return
	case 6:
		mutateSlice(rng, in, step)
		return
	}
	in.HTTPRoutes[i] = rt
}

// TestTranslateFromMatchesTranslate is the differential test of the incremental pipeline: after
// each random route or endpoint edit, ResolveFrom (from the last resolution) gives exactly what
// Resolve gives, every status included; TranslateFrom (from the last translation) gives byte for
// byte what Translate gives; and publishing it gives the versions a fresh server gives. It
// fails, too, if nothing was ever reused.
func TestTranslateFromMatchesTranslate(t *testing.T) {
	t.Run("bench", func(t *testing.T) {
		for seed := range uint64(4) {
			paths := map[gatewayapi.ResolutionPath]int{}
			if checkIncrementalSteps(t, benchInput(25), nil, seed, 60, mutateRoute, paths) == 0 {
				t.Errorf("seed %d: no virtual host was ever reused", seed)
			}
			if paths[gatewayapi.PathPatch] == 0 || paths[gatewayapi.PathMemo] == 0 || paths[gatewayapi.PathFull] == 0 {
				t.Errorf("seed %d: resolutions by path %v: the patch, memo and full paths should all be taken", seed, paths)
			}
		}
	})
	for _, name := range []string{"http-weighted", "http-matches", "http-mirror", "http-redirect", "http-basic", "https", "backend-tls-valid", "ingress-nginx", "ingress-canary", "ingress-protections"} {
		t.Run(name, func(t *testing.T) {
			c := loadCase(t, "testdata/"+name+".in.yaml")
			if len(c.in.HTTPRoutes) == 0 {
				t.Skip("no HTTPRoutes")
			}
			versioned(&c.in)
			reused := 0
			for seed := range uint64(3) {
				reused += checkIncrementalSteps(t, c.in, c.secrets, seed, 40, mutateAnyRoute, nil)
			}
			// A route with backend TLS, and an Ingress, are resolved afresh every time; a fleet
			// of one route changes with every edit; one with warnings is translated afresh.
			if reused == 0 && slices.Contains([]string{"http-weighted", "http-mirror", "http-redirect", "http-basic"}, name) {
				t.Error("no virtual host was ever reused")
			}
		})
	}
}

// FuzzIncremental: any seed and number of steps, the incremental pipeline is a full pass.
func FuzzIncremental(f *testing.F) {
	f.Add(uint64(1), uint8(20))
	f.Add(uint64(9), uint8(90))
	f.Fuzz(func(t *testing.T, seed uint64, steps uint8) {
		_ = checkIncrementalSteps(t, benchInput(8), nil, seed, int(steps%100)+1, mutateRoute, nil)
	})
}

func checkIncrementalSteps(t *testing.T, in gatewayapi.Input, secrets map[string]TLSSecret, seed uint64, steps int,
	mutate func(*rand.Rand, *gatewayapi.Input, int), paths map[gatewayapi.ResolutionPath]int) (reused int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	prevRes := gatewayapi.ResolveFrom(in, nil)
	prev, err := Translate(&prevRes.Fleet, secrets)
	if err != nil {
		t.Fatal(err)
	}
	inc := server.New(server.Options{})
	if _, err := inc.Publish("f", prev.Wire()); err != nil {
		t.Fatal(err)
	}
	for step := range steps {
		mutate(rng, &in, step)
		res := gatewayapi.ResolveFrom(in, &prevRes)
		if paths != nil {
			paths[res.Path()]++
		}
		full := gatewayapi.Resolve(in)
		where := fmt.Sprintf("seed %d step %d", seed, step)
		a, _ := json.Marshal(res)
		b, _ := json.Marshal(full)
		if string(a) != string(b) {
			t.Fatalf("%s: ResolveFrom differs from Resolve", where)
		}
		got, err := TranslateFrom(&res.Fleet, secrets, prev, &prevRes.Fleet)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Translate(&full.Fleet, secrets)
		if err != nil {
			t.Fatal(err)
		}
		sameResources(t, where, got, want)
		for _, rc := range got.Routes {
			k := slices.IndexFunc(prev.Routes, func(p *routev3.RouteConfiguration) bool { return p.Name == rc.Name })
			for _, vh := range rc.VirtualHosts {
				if k >= 0 && slices.Contains(prev.Routes[k].VirtualHosts, vh) {
					reused++
				}
			}
		}
		if _, err := inc.Publish("f", got.Wire()); err != nil {
			t.Fatal(err)
		}
		fresh := server.New(server.Options{})
		if _, err := fresh.Publish("f", want.ByType()); err != nil {
			t.Fatal(err)
		}
		if va, vb := inc.Versions("f"), fresh.Versions("f"); fmt.Sprint(va) != fmt.Sprint(vb) {
			t.Fatalf("%s: versions %v, a full pass %v", where, va, vb)
		}
		prevRes, prev = res, got
	}
	return reused
}

// versioned gives every object of in without a resourceVersion one, as the API server would.
func versioned(in *gatewayapi.Input) {
	v := reflect.ValueOf(in).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		set := func(x reflect.Value) {
			if o, ok := x.Interface().(metav1.Object); ok && !x.IsNil() && o.GetResourceVersion() == "" {
				o.SetResourceVersion("1")
			}
		}
		switch {
		case f.Kind() == reflect.Pointer:
			set(f)
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Pointer:
			for j := range f.Len() {
				set(f.Index(j))
			}
		}
	}
}

// mutateAnyRoute edits the HTTPRoutes of any input at random: a hostname changed, a backend's
// weight changed, a route removed or added again under another name, or only a new version of
// the same route. Routes are replaced, never changed in place.
func mutateAnyRoute(rng *rand.Rand, in *gatewayapi.Input, step int) {
	in.HTTPRoutes = slices.Clone(in.HTTPRoutes)
	if len(in.HTTPRoutes) == 0 {
		return
	}
	i := rng.IntN(len(in.HTTPRoutes))
	rt := in.HTTPRoutes[i].DeepCopy()
	rt.Generation++
	rt.ResourceVersion = fmt.Sprint("rt-", step)
	switch rng.IntN(5) {
	case 0:
		if len(rt.Spec.Hostnames) > 0 {
			rt.Spec.Hostnames[0] = gwapiv1.Hostname(fmt.Sprintf("edited-%d.example.com", step))
		}
	case 1:
		for r := range rt.Spec.Rules {
			if len(rt.Spec.Rules[r].BackendRefs) > 0 {
				w := int32(rng.IntN(100))
				rt.Spec.Rules[r].BackendRefs[0].Weight = &w
				break
			}
		}
	case 2:
		if len(in.HTTPRoutes) > 1 {
			in.HTTPRoutes = slices.Delete(in.HTTPRoutes, i, i+1)
			return
		}
	case 3:
		rt.Name = fmt.Sprintf("added-%d", step)
		in.HTTPRoutes = append(in.HTTPRoutes, rt)
		return
	}
	in.HTTPRoutes[i] = rt
}

// TestTranslateFromReusesVirtualHosts: translating the same model again reuses every virtual
// host's message and the published route configuration itself (so Publish hashes nothing new),
// and the result is byte for byte a full pass's.
func TestTranslateFromReusesVirtualHosts(t *testing.T) {
	for _, name := range []string{"http-weighted", "ingress-protections", "ingress-nginx", "backend-tls-valid"} {
		t.Run(name, func(t *testing.T) {
			c := loadCase(t, "testdata/"+name+".in.yaml")
			res := gatewayapi.Resolve(c.in)
			first, err := Translate(&res.Fleet, c.secrets)
			if err != nil {
				t.Fatal(err)
			}
			if len(first.Warnings) > 0 {
				t.Skip("TranslateFrom translates a fleet with warnings afresh")
			}
			again, err := TranslateFrom(&res.Fleet, c.secrets, first, &res.Fleet)
			if err != nil {
				t.Fatal(err)
			}
			sameResources(t, name, again, first)
			n := 0
			for i, rc := range again.Routes {
				for _, m := range again.vhosts[rc.Name] { // the virtual hosts made from the model's
					n++
					if !slices.Contains(first.Routes[i].VirtualHosts, m.vh) {
						t.Errorf("route configuration %s virtual host %s was translated again", rc.Name, m.vh.Name)
					}
				}
				if again.wire[i] != first.wire[i] {
					t.Errorf("route configuration %s was assembled anew", rc.Name)
				}
			}
			if n == 0 {
				t.Fatal("no virtual host to reuse")
			}
			// The same routes over clusters that became WebSocket ones: the routes read the
			// protocol (no timeout for WebSocket), so their virtual hosts are translated again.
			ws := res.Fleet
			ws.Clusters = slices.Clone(ws.Clusters)
			for i := range ws.Clusters {
				if ws.Clusters[i].Protocol == model.ClusterHTTP {
					ws.Clusters[i].Protocol = model.ClusterWebSocket
				}
			}
			got, err := TranslateFrom(&ws, c.secrets, again, &res.Fleet)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Translate(&ws, c.secrets)
			if err != nil {
				t.Fatal(err)
			}
			sameResources(t, name+" with WebSocket clusters", got, want)
		})
	}
}
