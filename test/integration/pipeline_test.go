package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// counter is the value of an unlabelled counter of the manager under test.
func counter(t *testing.T, name string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			total := 0.0
			for _, m := range f.GetMetric() {
				total += m.GetCounter().GetValue()
			}
			return total
		}
	}
	return 0
}

// labelledCounter is the value of the counter's series with label name=value.
func labelledCounter(t *testing.T, metric, name, value string) float64 {
	t.Helper()
	return labelledCounters(t, metric, map[string]string{name: value})
}

// labelledCounters is the sum of the counter's series that have all the labels given.
func labelledCounters(t *testing.T, metric string, labels map[string]string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != metric {
			continue
		}
		for _, m := range f.GetMetric() {
			matched := 0
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
					matched++
				}
			}
			if matched == len(labels) {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// settled waits until the counter has not moved for quiet, and returns its value.
func settled(t *testing.T, name string, quiet time.Duration) float64 {
	t.Helper()
	last, since := counter(t, name), time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for time.Since(since) < quiet {
		if time.Now().After(deadline) {
			t.Fatalf("%s never settled (still moving at %v)", name, last)
		}
		time.Sleep(50 * time.Millisecond)
		if v := counter(t, name); v != last {
			last, since = v, time.Now()
		}
	}
	return last
}

// routeObserved waits for the route's Accepted entry for the Gateway to be of its current generation.
func routeObserved(t *testing.T, rt *gwapiv1.HTTPRoute) {
	t.Helper()
	eventually(t, 20*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.HTTPRoute{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(rt), cur); err != nil {
			return err
		}
		for _, p := range cur.Status.Parents {
			for _, c := range p.Conditions {
				if c.Type == string(gwapiv1.RouteConditionAccepted) && c.Status == metav1.ConditionTrue && c.ObservedGeneration == cur.Generation {
					return nil
				}
			}
		}
		return fmt.Errorf("route %s not accepted at generation %d: %+v", rt.Name, cur.Generation, cur.Status.Parents)
	})
}

// One resolution per fleet and change: an HTTPRoute edit is resolved once (the xDS controller's
// resolution feeds the published configuration and the Gateway controller's status alike), and the
// status Flotilla then writes on the route and the Gateway causes no resolution at all.
func TestOneResolutionPerChange(t *testing.T) {
	tenantClass(t, "pipeline", nil)
	ns := "team-pipeline"
	namespace(t, ns, nil)
	gw := gateway(ns, "edge", "pipeline", nil)
	create(t, gw)
	rt := httpRoute(ns, "app", []gwapiv1.ParentReference{{Name: "edge"}}, "web")
	rt.Spec.Hostnames = []gwapiv1.Hostname{"a.example.com"}
	create(t, rt)
	routeObserved(t, rt)

	const resolutions = "flotilla_fleet_resolutions_total"
	before := settled(t, resolutions, 2*time.Second)
	setRouteHostname(t, rt, "b.example.com")
	routeObserved(t, rt)
	after := settled(t, resolutions, 2*time.Second)
	if got := after - before; got != 1 {
		t.Errorf("one HTTPRoute edit caused %v resolutions, want 1", got)
	}
}
