package faults

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/operator"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

const outage = 30 * time.Second

// The API server is unreachable from the manager for 30 s while routes keep changing (a TCP proxy
// between them is cut; the API server keeps taking the test's writes, so the manager must catch
// up on what it missed, through watches that expired: 410 Gone). Meanwhile the manager keeps its
// lease and serves xDS from its cache (a connected Envoy stays connected, a new one gets the same
// configuration), /healthz answers and the manager does not exit. Afterwards it converges: the
// Envoy gets every route's last hostname, every route's status is at its last generation, and no
// fleet object is duplicated.
func TestAPIServerOutage(t *testing.T) {
	ctx := context.Background()
	apiURL, err := url.Parse(mgrConfig.Host)
	if err != nil {
		t.Fatal(err)
	}
	p, err := startProxy(apiURL.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg := rest.CopyConfig(mgrConfig)
	cfg.Host = "https://" + p.Addr()
	xdsAddr, probeAddr := freeAddr(t), freeAddr(t)
	mgr, err := operator.New(cfg, operator.Options{MetricsAddr: "0", ProbeAddr: probeAddr, XDSBindAddress: xdsAddr,
		LeaderElection: true, LeaderElectionNamespace: "kube-system", ReplicaName: "outage"})
	if err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	exited := make(chan error, 1)
	go func() { exited <- mgr.Start(mctx) }()
	defer func() {
		stop()
		<-exited
	}()

	const n = 20
	ns := "team-outage"
	class(t, "outage")
	namespace(t, ns)
	gw := gateway(ns, "edge", "outage")
	create(t, gw)
	final := make([]string, n)
	for i := range n {
		create(t, service(ns, fmt.Sprintf("svc-%d", i)))
		final[i] = fmt.Sprintf("r%d-v0.example", i)
		create(t, route(ns, fmt.Sprintf("r%d", i), "edge", final[i], fmt.Sprintf("svc-%d", i)))
	}
	programmed(t, gw, 60*time.Second)
	envoy := dial(t, xdsAddr, fleetTLS(t, gw), gw, "envoy-0")
	hosts := func() []string { out := slices.Clone(final); slices.Sort(out); return out }
	waitXDS(t, envoy, 30*time.Second, "the fleet's routes before the outage", func() error {
		if got, want := domains(envoy), hosts(); !slices.Equal(got, want) {
			return fmt.Errorf("domains %v, want %v", got, want)
		}
		return nil
	})
	lease := &coordinationv1.Lease{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "kube-system", Name: operator.LeaderElectionID}, lease); err != nil {
		t.Fatal(err)
	}
	holder := *lease.Spec.HolderIdentity
	var routes gwapiv1.HTTPRouteList
	if err := k8s.List(ctx, &routes, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	rvBefore := routes.ResourceVersion

	// The burst: every route's hostname changes, one route every 50 ms, until told to stop.
	var mu sync.Mutex
	burstDone, stopBurst := make(chan struct{}), make(chan struct{})
	edits := 0
	var stopOnce sync.Once
	endBurst := func() { stopOnce.Do(func() { close(stopBurst) }); <-burstDone }
	defer endBurst() // a failed test returns only once the burst stopped
	go func() {
		defer close(burstDone)
		for round := 1; ; round++ {
			for i := range n {
				select {
				case <-stopBurst:
					return
				case <-time.After(50 * time.Millisecond):
				}
				host := fmt.Sprintf("r%d-v%d.example", i, round)
				err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
					rt := &gwapiv1.HTTPRoute{}
					if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("r%d", i)}, rt); err != nil {
						return err
					}
					rt.Spec.Hostnames = []gwapiv1.Hostname{gwapiv1.Hostname(host)}
					return k8s.Update(ctx, rt)
				})
				if err != nil {
					t.Errorf("editing route r%d: %v", i, err)
					return
				}
				mu.Lock()
				final[i] = host
				edits++
				mu.Unlock()
			}
		}
	}()
	time.Sleep(2 * time.Second)

	p.Cut()
	cutAt := time.Now()
	healthz := func() error {
		resp, err := http.Get("http://" + probeAddr + "/healthz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz answered %s", resp.Status)
		}
		return nil
	}
	dialed := false
	for time.Since(cutAt) < outage {
		if err := healthz(); err != nil {
			t.Fatalf("%s into the outage: %v", time.Since(cutAt).Round(time.Second), err)
		}
		select {
		case err := <-exited:
			t.Fatalf("the manager exited %s into the outage: %v", time.Since(cutAt).Round(time.Second), err)
		case <-envoy.Done():
			t.Fatalf("the Envoy's stream ended %s into the outage: %v", time.Since(cutAt).Round(time.Second), envoy.Err())
		default:
		}
		if !dialed && time.Since(cutAt) > 10*time.Second {
			// A new Envoy (a Pod restarted meanwhile) gets the configuration from the cache.
			dialed = true
			fresh := dial(t, xdsAddr, fleetTLS(t, gw), gw, "envoy-1")
			want := versions(envoy)
			waitXDS(t, fresh, 10*time.Second, "a new Envoy during the outage", func() error {
				if got := versions(fresh); !mapsEqual(got, want) {
					return fmt.Errorf("versions %v, want the connected Envoy's %v", got, want)
				}
				return nil
			})
		}
		time.Sleep(time.Second)
	}
	p.Restore()
	t.Logf("API server unreachable from the manager for %s", time.Since(cutAt).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	endBurst()
	mu.Lock()
	t.Logf("%d route edits during the burst", edits)
	mu.Unlock()

	// The watches the manager had open cannot resume where they stopped: etcd compacted it.
	w, err := client.NewWithWatch(env.Config, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	wi, err := w.Watch(ctx, &gwapiv1.HTTPRouteList{}, client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rvBefore}})
	if err == nil {
		select {
		case ev := <-wi.ResultChan():
			st, ok := ev.Object.(*metav1.Status)
			if ev.Type != watch.Error || !ok || st.Code != http.StatusGone {
				t.Errorf("a watch from before the outage got %s %T, want 410 Gone: the test does not exercise a relist", ev.Type, ev.Object)
			}
		case <-time.After(10 * time.Second):
			t.Error("a watch from before the outage got nothing, want 410 Gone")
		}
		wi.Stop()
	} else if !apierrors.IsGone(err) && !apierrors.IsResourceExpired(err) {
		t.Errorf("watch from before the outage: %v, want 410 Gone", err)
	}

	waitXDS(t, envoy, 60*time.Second, "every route's last hostname after the outage", func() error {
		if got, want := domains(envoy), hosts(); !slices.Equal(got, want) {
			return fmt.Errorf("domains %v, want %v", got, want)
		}
		return nil
	})
	eventually(t, 60*time.Second, func(ctx context.Context) error {
		var routes gwapiv1.HTTPRouteList
		if err := k8s.List(ctx, &routes, client.InNamespace(ns)); err != nil {
			return err
		}
		for i := range routes.Items {
			if why := routeAccepted(&routes.Items[i]); why != "" {
				return fmt.Errorf("%s", why)
			}
		}
		return nil
	})
	programmed(t, gw, 30*time.Second)
	for _, list := range []client.ObjectList{&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.ConfigMapList{}, &corev1.SecretList{}, &corev1.ServiceAccountList{}} {
		if err := k8s.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{provisioner.LabelManagedBy: provisioner.ManagedByValue}); err != nil {
			t.Fatal(err)
		}
		if n := len(objectsOf(list)); n != 1 {
			t.Errorf("%T: %d fleet objects, want 1", list, n)
		}
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "kube-system", Name: operator.LeaderElectionID}, lease); err != nil {
		t.Fatal(err)
	}
	if got := *lease.Spec.HolderIdentity; got != holder {
		t.Errorf("lease holder %q after the outage, want %q (the leader kept its lease)", got, holder)
	}
	select {
	case err := <-exited:
		t.Fatalf("the manager exited: %v", err)
	default:
	}
}

func objectsOf(list client.ObjectList) []string {
	var out []string
	switch l := list.(type) {
	case *appsv1.DeploymentList:
		for _, o := range l.Items {
			out = append(out, o.Name)
		}
	case *corev1.ServiceList:
		for _, o := range l.Items {
			out = append(out, o.Name)
		}
	case *corev1.ConfigMapList:
		for _, o := range l.Items {
			out = append(out, o.Name)
		}
	case *corev1.SecretList:
		for _, o := range l.Items {
			out = append(out, o.Name)
		}
	case *corev1.ServiceAccountList:
		for _, o := range l.Items {
			out = append(out, o.Name)
		}
	}
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
