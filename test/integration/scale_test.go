package integration

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The scale harness (`make scale`; not part of `make test`): the manager under test converges on
// one Gateway with FLOTILLA_SCALE_ROUTES HTTPRoutes (default 10,000) over a tenth as many
// Services of 3 endpoints each, on the local control plane. It reports, after creation ends: the
// time until every route is Accepted at its generation, the manager's CPU time (the test
// process's, which the manager dominates once creation has ended), resolutions and publishes, and
// the process's RSS once settled. Figures, not assertions: a timed assertion would fail on a
// slower machine and prove nothing on a faster one.
func TestScaleRoutes(t *testing.T) {
	n := scaleCount(t, "FLOTILLA_SCALE_ROUTES", 10000)
	services := max(n/10, 1)
	fast := scaleClient(t)
	tenantClass(t, "scale", nil)
	ns := "scale-routes"
	namespace(t, ns, nil)
	create(t, gateway(ns, "edge", "scale", func(gw *gwapiv1.Gateway) {
		gw.Spec.Listeners[0].AllowedRoutes = &gwapiv1.AllowedRoutes{Namespaces: &gwapiv1.RouteNamespaces{From: ptr.To(gwapiv1.NamespacesFromSame)}}
	}))

	began := time.Now()
	parallel(t, services, func(ctx context.Context, i int) error {
		name := fmt.Sprintf("svc-%d", i)
		if err := fast.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}}}); err != nil { // headless: the test cluster's service range is small
			return err
		}
		es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](80)}}}
		for j := range 3 {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j+1)},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
		}
		return fast.Create(ctx, es)
	})
	parallel(t, n, func(ctx context.Context, i int) error {
		rt := httpRoute(ns, fmt.Sprintf("route-%d", i), []gwapiv1.ParentReference{{Name: "edge"}}, fmt.Sprintf("svc-%d", i%services))
		rt.Spec.Hostnames = []gwapiv1.Hostname{gwapiv1.Hostname(fmt.Sprintf("r%d.example.com", i))}
		return fast.Create(ctx, rt)
	})
	created := time.Now()
	cpu0, res0, pub0 := processCPU(t), counter(t, "flotilla_fleet_resolutions_total"), counter(t, "flotilla_xds_snapshot_publish_total")

	var accepted time.Duration
	deadline := time.Now().Add(15 * time.Minute)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("not every route Accepted within 15 minutes")
		}
		list := &gwapiv1.HTTPRouteList{}
		if err := fast.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		ok := 0
		for _, rt := range list.Items {
			for _, p := range rt.Status.Parents {
				for _, c := range p.Conditions {
					if c.Type == string(gwapiv1.RouteConditionAccepted) && c.Status == metav1.ConditionTrue && c.ObservedGeneration == rt.Generation {
						ok++
					}
				}
			}
		}
		if ok == n {
			accepted = time.Since(created)
			break
		}
		time.Sleep(time.Second)
	}
	cpu1 := processCPU(t)
	settled(t, "flotilla_fleet_resolutions_total", 5*time.Second)
	runtime.GC()
	// FLOTILLA_SCALE_HEAP names a file for the heap profile once converged.
	if f := os.Getenv("FLOTILLA_SCALE_HEAP"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(out); err != nil {
			t.Error(err)
		}
		_ = out.Close()
	}
	report := fmt.Sprintf("scale routes=%d services=%d: created in %s; all Accepted %s after creation ended; CPU to converge %s; "+
		"resolutions %.0f, publishes %.0f while converging; RSS settled %d MiB (heap in use %d MiB)",
		n, services, created.Sub(began).Round(time.Millisecond), accepted.Round(time.Millisecond), cpu1-cpu0,
		counter(t, "flotilla_fleet_resolutions_total")-res0, counter(t, "flotilla_xds_snapshot_publish_total")-pub0, rssMiB(t), heapMiB())
	t.Log(report)
	report += "\n" + propagation(t, fast, ns, n, services)
	if f := os.Getenv("FLOTILLA_SCALE_REPORT"); f != "" {
		if err := os.WriteFile(f, []byte(report+"\n"), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// propagation measures, on the converged fleet, the time from an API write to the new version
// reaching a connected Envoy (an xdstest client): 20 EndpointSlice changes (a Pod added, then
// removed: the EDS version moves) and 20 HTTPRoute edits (a hostname: the RDS version moves);
// median and slowest, with the manager's CPU for each series and the RSS after.
func propagation(t *testing.T, fast client.Client, ns string, n, services int) string {
	gw := &gwapiv1.Gateway{}
	if err := fast.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "edge"}, gw); err != nil {
		t.Fatal(err)
	}
	c := dialFleet(t, fleetTLS(t, gw), ns+"/edge")
	waitXDS(t, c, "the fleet's configuration", func() error {
		if c.Version(resource.RouteType) == "" || c.Version(resource.EndpointType) == "" {
			return fmt.Errorf("versions %v", versions(c))
		}
		return nil
	})
	series := func(what, typ string, edit func(i int)) string {
		var took []time.Duration
		cpu0, res0 := processCPU(t), counter(t, "flotilla_fleet_resolutions_total")
		patch0 := labelledCounter(t, "flotilla_fleet_resolution_paths_total", "path", "patch")
		for i := range 20 {
			before := c.Version(typ)
			t0 := time.Now()
			edit(i)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := c.Wait(ctx, func() bool { return c.Version(typ) != before }); err != nil {
				t.Fatalf("%s %d: the %s version did not move: %v", what, i, typ, err)
			}
			cancel()
			took = append(took, time.Since(t0))
		}
		slices.Sort(took)
		return fmt.Sprintf("%s: median %s, slowest %s (API write to the new version at an Envoy), CPU %s, resolutions %.0f (patched %.0f)",
			what, took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond),
			processCPU(t)-cpu0, counter(t, "flotilla_fleet_resolutions_total")-res0,
			labelledCounter(t, "flotilla_fleet_resolution_paths_total", "path", "patch")-patch0)
	}
	ep := series("20 EndpointSlice changes", resource.EndpointType, func(i int) {
		eventually(t, 10*time.Second, func(ctx context.Context) error {
			es := &discoveryv1.EndpointSlice{}
			if err := fast.Get(ctx, client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("svc-%d", i%services)}, es); err != nil {
				return err
			}
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.250.%d.%d", i/250, i%250+1)},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
			return fast.Update(ctx, es)
		})
	})
	// FLOTILLA_SCALE_PROFILE names a file for the manager's CPU profile of the HTTPRoute edits.
	if f := os.Getenv("FLOTILLA_SCALE_PROFILE"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			t.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); _ = out.Close() }()
	}
	rt := series("20 HTTPRoute edits", resource.RouteType, func(i int) {
		eventually(t, 10*time.Second, func(ctx context.Context) error {
			cur := &gwapiv1.HTTPRoute{}
			if err := fast.Get(ctx, client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("route-%d", (i*37)%n)}, cur); err != nil {
				return err
			}
			cur.Spec.Hostnames = []gwapiv1.Hostname{gwapiv1.Hostname(fmt.Sprintf("edited-%d.example.com", i))}
			return fast.Update(ctx, cur)
		})
	})
	runtime.GC()
	out := fmt.Sprintf("propagation routes=%d: %s; %s; RSS %d MiB", n, ep, rt, rssMiB(t))
	t.Log(out)
	return out
}

func scaleCount(t *testing.T, env string, def int) int {
	t.Helper()
	if os.Getenv("FLOTILLA_SCALE") == "" {
		t.Skip("the scale harness runs with FLOTILLA_SCALE=1 (make scale)")
	}
	if v := os.Getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q", env, v)
		}
		return n
	}
	return def
}

// scaleClient is a client without client-side rate limits, so that creating objects is not what
// the harness measures.
func scaleClient(t *testing.T) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 2000, 4000
	c, err := client.New(cfg, client.Options{Scheme: k8s.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// parallel runs fn for 0..n-1 on 16 workers and fails the test on the first error.
func parallel(t *testing.T, n int, fn func(ctx context.Context, i int) error) {
	t.Helper()
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 16 {
		wg.Go(func() {
			for i := range next {
				if err := fn(context.Background(), i); err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

// processCPU is the test process's user+system CPU time so far.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc/self/stat:", err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

func rssMiB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb / 1024
		}
	}
	return -1
}

func heapMiB() int {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int(m.HeapInuse / (1 << 20))
}

// The harness's second scenario (`make scale`): FLOTILLA_SCALE_GATEWAYS Gateways (default 500),
// each with 20 HTTPRoutes to one Service, in one namespace: the time until the first and the
// last is Programmed after creation ends, the xDS controller's reconciles and the publishes.
func TestScaleGateways(t *testing.T) {
	n := scaleCount(t, "FLOTILLA_SCALE_GATEWAYS", 500)
	const routes = 20
	fast := scaleClient(t)
	tenantClass(t, "scale-gw", nil)
	ns := "scale-gateways"
	namespace(t, ns, nil)
	if err := fast.Create(context.Background(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}}}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	parallel(t, n, func(ctx context.Context, i int) error {
		gw := gateway(ns, fmt.Sprintf("gw-%d", i), "scale-gw", nil)
		gw.Spec.Listeners = gw.Spec.Listeners[:1]
		return fast.Create(ctx, gw)
	})
	parallel(t, n*routes, func(ctx context.Context, i int) error {
		rt := httpRoute(ns, fmt.Sprintf("gw-%d-r-%d", i/routes, i%routes), []gwapiv1.ParentReference{{Name: gwapiv1.ObjectName(fmt.Sprintf("gw-%d", i/routes))}}, "web")
		rt.Spec.Hostnames = []gwapiv1.Hostname{gwapiv1.Hostname(fmt.Sprintf("r%d.gw%d.example.com", i%routes, i/routes))}
		return fast.Create(ctx, rt)
	})
	created := time.Now()
	cpu0, rec0, pub0 := processCPU(t), reconciles(t, "xds"), counter(t, "flotilla_xds_snapshot_publish_total")
	var first, all time.Duration
	deadline := time.Now().Add(20 * time.Minute)
	for all == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("not every Gateway Programmed within 20 minutes")
		}
		list := &gwapiv1.GatewayList{}
		if err := fast.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		programmed := 0
		for _, gw := range list.Items {
			for _, c := range gw.Status.Conditions {
				if c.Type == string(gwapiv1.GatewayConditionProgrammed) && c.Status == metav1.ConditionTrue {
					programmed++
				}
			}
		}
		if programmed > 0 && first == 0 {
			first = time.Since(created)
		}
		if programmed == n {
			all = time.Since(created)
		}
		time.Sleep(time.Second)
	}
	cpu1 := processCPU(t)
	report := fmt.Sprintf("scale gateways=%d routes=%d: created in %s; first Programmed %s, all Programmed %s after creation ended; "+
		"CPU %s; xDS reconciles %.0f, publishes %.0f after creation ended; RSS %d MiB",
		n, n*routes, created.Sub(began).Round(time.Millisecond), first.Round(time.Millisecond), all.Round(time.Millisecond), cpu1-cpu0,
		reconciles(t, "xds")-rec0, counter(t, "flotilla_xds_snapshot_publish_total")-pub0, rssMiB(t))
	t.Log(report)
	if f := os.Getenv("FLOTILLA_SCALE_REPORT"); f != "" {
		data, _ := os.ReadFile(f)
		if err := os.WriteFile(f, append(data, report+"\n"...), 0o644); err != nil {
			t.Error(err)
		}
	}
}
