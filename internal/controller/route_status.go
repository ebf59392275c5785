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
		rk  routeKind
		o   client.Object
		key string
	}
	var jobs []job
	// A route whose object is the version whose status was last found as wanted, and whose
	// wanted entries are those very entries (an unchanged route keeps its entries through an
	// incremental resolution), needs no read: a route edit in a large fleet costs the routes it
	// changed, not a read and comparison of every route.
	gwKey := provisioner.FleetKey(gw)
	last := r.confirmed.get(gwKey)
	next := make(map[string]confirmedStatus, len(res.result.Routes))
	for _, rk := range routeKinds {
		for _, o := range res.routes[rk.kind] {
			key := rk.kind + "/" + o.GetNamespace() + "/" + o.GetName()
			if c, ok := last[key]; ok && c.same(o.GetResourceVersion(), decided[key]) {
				next[key] = c
				continue
			}
			jobs = append(jobs, job{rk, o, key})
		}
	}
	found := make([]confirmedStatus, len(jobs))
	defer func() {
		for i, c := range found {
			if c.rv != "" {
				next[jobs[i].key] = c
			}
		}
		r.confirmed.set(gwKey, next)
	}()
	// A bounded pool: a Gateway with thousands of routes writes their status at the client's
	// rate, not one round trip at a time; the Gateway's own status is already written.
	return forEachParallel(ctx, len(jobs), statusWorkers, func(ctx context.Context, i int) error {
		rk, o := jobs[i].rk, jobs[i].o
		want := decided[jobs[i].key]
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
		if full == 0 && obj.GetResourceVersion() != "" {
			found[i] = confirmedStatus{rv: obj.GetResourceVersion(), want: want}
		}
		return nil
	})
}

// confirmedStatus is a route's status as last written or found: the route's resourceVersion
// then, and the wanted entries it held.
type confirmedStatus struct {
	rv   string
	want []gwapiv1.RouteParentStatus
}

// same says whether a route at resourceVersion rv that should hold want is as confirmed: the
// same version, and the very same wanted entries (a resolution's entries are never written in
// place, so the same slice is the same entries).
func (c confirmedStatus) same(rv string, want []gwapiv1.RouteParentStatus) bool {
	return c.rv == rv && len(c.want) == len(want) && (len(want) == 0 || &c.want[0] == &want[0])
}

// confirmedStatuses are the confirmed route statuses by Gateway (the leader's status pass
// writes them; one Gateway's passes are serialised).
type confirmedStatuses struct {
	mu sync.Mutex
	m  map[string]map[string]confirmedStatus
}

func (c *confirmedStatuses) get(gw string) map[string]confirmedStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[gw]
}

// forget drops a Gateway's confirmed statuses (it is gone).
func (c *confirmedStatuses) forget(gw string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, gw)
}

func (c *confirmedStatuses) set(gw string, m map[string]confirmedStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]map[string]confirmedStatus{}
	}
	c.m[gw] = m
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
