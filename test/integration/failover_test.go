package integration

import (
	"context"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/operator"
)

// leaseDuration is controller-runtime's default leader election lease duration, which the
// manager keeps.
const leaseDuration = 15 * time.Second

// statusRecorder keeps every status of one object the API server announced while it watched.
type statusRecorder struct {
	mu   sync.Mutex
	seen []map[string]metav1.Condition // condition type → condition, per announced status
	stop func()
}

// recordConditions watches obj and records its conditions (those conditions(obj) returns) at
// every change, until the test ends.
func recordConditions(t *testing.T, obj client.Object, list client.ObjectList, conditions func(client.Object) []metav1.Condition) *statusRecorder {
	t.Helper()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(context.Background(), list, client.InNamespace(obj.GetNamespace()),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", obj.GetName())})
	if err != nil {
		t.Fatal(err)
	}
	r := &statusRecorder{stop: w.Stop}
	t.Cleanup(w.Stop)
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			o, ok := ev.Object.(client.Object)
			if !ok {
				continue
			}
			byType := map[string]metav1.Condition{}
			for _, c := range conditions(o) {
				byType[c.Type] = c
			}
			r.mu.Lock()
			r.seen = append(r.seen, byType)
			r.mu.Unlock()
		}
	}()
	return r
}

// steady fails the test when a condition of want went missing or changed status, reason or
// lastTransitionTime in any recorded status (messages may change: counts do).
func (r *statusRecorder) steady(t *testing.T, what string, want map[string]metav1.Condition) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, seen := range r.seen {
		for typ, w := range want {
			c, ok := seen[typ]
			switch {
			case !ok:
				t.Errorf("%s status #%d lost its %s condition", what, i, typ)
			case c.Status != w.Status || c.Reason != w.Reason || !c.LastTransitionTime.Equal(&w.LastTransitionTime):
				t.Errorf("%s status #%d: %s went %s/%s (since %s), was %s/%s (since %s)", what, i, typ,
					c.Status, c.Reason, c.LastTransitionTime, w.Status, w.Reason, w.LastTransitionTime)
			}
		}
	}
}

// saw says whether a recorded status had condition typ with a message containing msg.
func (r *statusRecorder) saw(typ, msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, seen := range r.seen {
		if c, ok := seen[typ]; ok && strings.Contains(c.Message, msg) {
			return true
		}
	}
	return false
}

func gatewayConditions(o client.Object) []metav1.Condition {
	return o.(*gwapiv1.Gateway).Status.Conditions
}

// routeConditions are the conditions of the route's entries for Flotilla, prefixed with the parent.
func routeConditions(o client.Object) []metav1.Condition {
	var out []metav1.Condition
	for _, p := range o.(*gwapiv1.HTTPRoute).Status.Parents {
		if p.ControllerName != controller.ControllerName {
			continue
		}
		for _, c := range p.Conditions {
			c.Type = string(p.ParentRef.Name) + "/" + c.Type
			out = append(out, c)
		}
	}
	return out
}

// The leader stops: the follower takes over status within the lease duration, no status entry is
// lost or flaps, and the Envoy connected to the survivor is sent nothing (it already has the very
// versions the new leader serves).
func TestLeaderFailover(t *testing.T) {
	tenantClass(t, "failover", nil)
	ns := "team-failover"
	namespace(t, ns, nil)
	gw := gateway(ns, "edge", "failover", nil)
	create(t, gw)
	rt := httpRoute(ns, "app", []gwapiv1.ParentReference{{Name: "edge"}}, "web")
	rt.Spec.Hostnames = []gwapiv1.Hostname{"a.example.com"}
	create(t, rt)
	routeObserved(t, rt)
	conf := fleetTLS(t, gw)
	claim := ns + "/edge"

	followerAddr, _ := startReplica(t, "survivor", time.Second, 3*time.Second)
	// However the test ends, the main manager comes back (as a follower until the survivor stops,
	// which t.Cleanup does after this), for the tests after this one.
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			return
		}
		if err := startMain(); err != nil {
			t.Errorf("starting the main manager again: %v", err)
		}
	})
	onLeader := dialFleet(t, conf, claim)
	waitXDS(t, onLeader, "the fleet's listeners", hasListener(onLeader))
	survivor := dialServed(t, followerAddr, conf, "survivor-envoy", claim)
	dataPlaneCondition(t, gw, metav1.ConditionTrue, controller.ReasonDataPlaneAccepted, "2 connected Envoys on 2 replicas accepted")
	if got, want := versions(survivor), versions(onLeader); !maps.Equal(got, want) {
		t.Fatalf("the replicas serve different versions: %v and %v", got, want)
	}

	cur := &gwapiv1.Gateway{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(gw), cur); err != nil {
		t.Fatal(err)
	}
	gwWant := map[string]metav1.Condition{}
	for _, c := range cur.Status.Conditions {
		gwWant[c.Type] = c
	}
	curRoute := &gwapiv1.HTTPRoute{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(rt), curRoute); err != nil {
		t.Fatal(err)
	}
	rtWant := map[string]metav1.Condition{}
	for _, c := range routeConditions(curRoute) {
		rtWant[c.Type] = c
	}
	gwSeen := recordConditions(t, gw, &gwapiv1.GatewayList{}, gatewayConditions)
	rtSeen := recordConditions(t, rt, &gwapiv1.HTTPRouteList{}, routeConditions)
	before, responses := versions(survivor), 0
	for _, typ := range allTypes {
		responses += survivor.Responses(typ)
	}

	// The leader stops (releasing its lease, as a rolling update does).
	restarted = true
	stopped := time.Now()
	if err := stopMain(); err != nil {
		t.Errorf("main manager: %v", err)
	}
	// Only the new leader can say so: the old one is gone, and the survivor's Envoy is the only one.
	dataPlaneCondition(t, gw, metav1.ConditionTrue, controller.ReasonDataPlaneAccepted, "1 connected Envoy on 1 replica accepted")
	if took := time.Since(stopped); took > leaseDuration {
		t.Errorf("the follower took over status %s after the leader stopped, the lease lasts %s", took, leaseDuration)
	}
	// The new leader writes the route status it has resolved already: give it time to, then compare.
	time.Sleep(2 * time.Second)
	gwSeen.stop()
	rtSeen.stop()

	// DataPlaneAccepted's message counts Envoys; everything else says exactly what it said.
	if !gwSeen.saw(controller.ConditionDataPlaneAccepted, "1 connected Envoy on 1 replica") {
		t.Errorf("the recorder missed the new leader's status")
	}
	gwSeen.steady(t, "Gateway", gwWant)
	rtSeen.steady(t, "HTTPRoute", rtWant)
	if got := versions(survivor); !maps.Equal(got, before) {
		t.Errorf("the survivor's Envoy moved from %v to %v on a change of leader", before, got)
	}
	total := 0
	for _, typ := range allTypes {
		total += survivor.Responses(typ)
	}
	if total != responses {
		t.Errorf("the survivor's Envoy was sent %d responses on a change of leader, want none", total-responses)
	}
}
