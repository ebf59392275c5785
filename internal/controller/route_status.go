package controller

import (
	"context"
	"fmt"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// writeRouteStatuses writes, on every route of the resolution, this Gateway's parent entries:
// entries of other controllers and of other parents are kept; ours for this Gateway (or its
// ListenerSets) are replaced by what resolve decided, or removed when the route no longer names
// it. Conditions keep their lastTransitionTime when unchanged.
func (r *GatewayReconciler) writeRouteStatuses(ctx context.Context, gw *gwapiv1.Gateway, res *resolved) error {
	mine := sets.New("Gateway/" + provisioner.FleetKey(gw))
	for _, ls := range res.listenerSets {
		mine.Insert("ListenerSet/" + ls.Namespace + "/" + ls.Name)
	}
	decided := map[string][]gwapiv1.RouteParentStatus{}
	for _, rs := range res.result.Routes {
		decided[rs.Kind+"/"+rs.Namespace+"/"+rs.Name] = rs.Parents
	}
	type job struct {
		rk routeKind
		o  client.Object
	}
	var jobs []job
	for _, rk := range routeKinds {
		for _, o := range res.routes[rk.kind] {
			jobs = append(jobs, job{rk, o})
		}
	}
	// A bounded pool: a Gateway with thousands of routes writes their status at the client's
	// rate, not one round trip at a time; the Gateway's own status is already written.
	return forEachParallel(ctx, len(jobs), statusWorkers, func(ctx context.Context, i int) error {
		rk, o := jobs[i].rk, jobs[i].o
		want := decided[rk.kind+"/"+o.GetNamespace()+"/"+o.GetName()]
		obj := rk.newObj()
		list := routeParents(o.GetNamespace(), mine)
		var before map[string][]metav1.Condition
		var full int
		wrote, err := r.Status.Update(ctx, client.ObjectKeyFromObject(o), obj, func() {
			parents := rk.parents(obj)
			*parents, before, full = list.merge(*parents, want)
		})
		if err != nil {
			return err
		}
		if full > 0 {
			ctrl.LoggerFrom(ctx).Info("Route status list is full; this Gateway's entry is left out", "route", klog.KObj(obj), "kind", rk.kind)
		}
		if wrote || full > 0 {
			list.recordEntries(r.Recorder, obj, before, *rk.parents(obj), full,
				string(gwapiv1.RouteConditionAccepted), string(gwapiv1.RouteConditionResolvedRefs), string(gwapiv1.RouteConditionPartiallyInvalid))
		}
		return nil
	})
}

// statusWorkers bounds the status writes one Gateway reconcile makes at once.
const statusWorkers = 8

// forEachParallel runs fn for 0..n-1 on at most workers goroutines and returns the first error
// (the others still finish: each write stands on its own).
func forEachParallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	if n <= 1 || workers <= 1 {
		for i := range n {
			if err := fn(ctx, i); err != nil {
				return err
			}
		}
		return nil
	}
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			var first error
			for i := range next {
				if err := fn(ctx, i); err != nil && first == nil {
					first = err
				}
			}
			errs <- first
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// routeParents is a route's status.parents as a shared list: our entries are those of this
// Gateway and its ListenerSets (mine: "Gateway/<ns>/<name>", "ListenerSet/<ns>/<name>").
func routeParents(ns string, mine sets.Set[string]) sharedList[gwapiv1.RouteParentStatus] {
	return sharedList[gwapiv1.RouteParentStatus]{
		ours: func(p gwapiv1.RouteParentStatus) bool {
			return p.ControllerName == ControllerName && mine.Has(gatewayapi.ParentKey(ns, p.ParentRef))
		},
		id:         func(p gwapiv1.RouteParentStatus) string { return refID(ns, p.ParentRef) },
		conditions: func(p *gwapiv1.RouteParentStatus) *[]metav1.Condition { return &p.Conditions },
		max:        maxRouteParents,
	}
}

// refID identifies a parentRef including sectionName and port.
func refID(ns string, ref gwapiv1.ParentReference) string {
	id := gatewayapi.ParentKey(ns, ref)
	if ref.SectionName != nil {
		id += "#" + string(*ref.SectionName)
	}
	if ref.Port != nil {
		id += fmt.Sprintf(":%d", *ref.Port)
	}
	return id
}

// writeListenerSetStatuses writes each ListenerSet's conditions and listener entries.
func (r *GatewayReconciler) writeListenerSetStatuses(ctx context.Context, res *resolved) error {
	for _, st := range res.result.ListenerSets {
		ls := &gwapiv1.ListenerSet{}
		if _, err := r.Status.Update(ctx, types.NamespacedName{Namespace: st.Namespace, Name: st.Name}, ls, func() {
			ls.Status.Conditions = mergeConditions(ls.Status.Conditions, st.Conditions)
			ls.Status.Listeners = mergeListenerEntries(ls.Status.Listeners, st.Listeners)
		}); err != nil {
			return err
		}
	}
	return nil
}

func mergeListenerEntries(cur, want []gwapiv1.ListenerEntryStatus) []gwapiv1.ListenerEntryStatus {
	out := make([]gwapiv1.ListenerEntryStatus, 0, len(want))
	for _, w := range want {
		var before []metav1.Condition
		for _, c := range cur {
			if c.Name == w.Name {
				before = c.Conditions
			}
		}
		w.Conditions = mergeConditions(before, w.Conditions)
		out = append(out, w)
	}
	return out
}
