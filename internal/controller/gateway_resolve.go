package controller

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// writeRouteStatuses writes, on every route of the resolution, this Gateway's parent entries:
// entries of other controllers and of other parents are kept; ours for this Gateway (or its
// ListenerSets) are replaced by what resolve decided, or removed when the route no longer names
// it. Conditions keep their lastTransitionTime when unchanged.
func (r *GatewayReconciler) writeRouteStatuses(ctx context.Context, gw *gwapiv1.Gateway, res *resolved) error {
	mine := sets.New("Gateway/" + gw.Namespace + "/" + gw.Name)
	for _, ls := range res.listenerSets {
		mine.Insert("ListenerSet/" + ls.Namespace + "/" + ls.Name)
	}
	decided := map[string][]gwapiv1.RouteParentStatus{}
	for _, rs := range res.result.Routes {
		decided[rs.Kind+"/"+rs.Namespace+"/"+rs.Name] = rs.Parents
	}
	for _, rk := range routeKinds {
		for _, o := range res.routes[rk.kind] {
			want := decided[rk.kind+"/"+o.GetNamespace()+"/"+o.GetName()]
			obj := rk.newObj()
			before := map[string][]metav1.Condition{}
			wrote, err := r.Status.Update(ctx, client.ObjectKeyFromObject(o), obj, func() {
				parents := rk.parents(obj)
				ours := func(p gwapiv1.RouteParentStatus) bool {
					return p.ControllerName == ControllerName && mine.Has(parentKey(obj.GetNamespace(), p.ParentRef))
				}
				for _, p := range *parents {
					if ours(p) {
						before[refID(obj.GetNamespace(), p.ParentRef)] = slices.Clone(p.Conditions)
					}
				}
				*parents = mergeParents(*parents, want, obj.GetNamespace(), ours)
			})
			if err != nil {
				return err
			}
			if wrote {
				recordRouteTransitions(r.Recorder, obj, before, want)
			}
		}
	}
	return nil
}

// mergeParents replaces the entries ours() selects with want, keeping lastTransitionTime of
// conditions that did not change and the order of entries that stay.
func mergeParents(cur, want []gwapiv1.RouteParentStatus, ns string, ours func(gwapiv1.RouteParentStatus) bool) []gwapiv1.RouteParentStatus {
	wanted := map[string]int{}
	for i, w := range want {
		wanted[refID(ns, w.ParentRef)] = i
	}
	// Our entries keep their places (Gateways sharing a route must not reorder the list: each
	// write would undo the other's, for ever); new ones are appended, stale ones dropped.
	done := make([]bool, len(want))
	// Never nil: the API requires status.parents, and an empty list is how a route says no
	// Gateway has it.
	out := make([]gwapiv1.RouteParentStatus, 0, len(cur)+len(want))
	for _, p := range cur {
		if !ours(p) {
			out = append(out, p)
			continue
		}
		i, ok := wanted[refID(ns, p.ParentRef)]
		if !ok || done[i] {
			continue
		}
		done[i] = true
		w := want[i]
		w.Conditions = mergeConditions(p.Conditions, w.Conditions)
		out = append(out, w)
	}
	for i, w := range want {
		if !done[i] {
			w.Conditions = mergeConditions(nil, w.Conditions)
			out = append(out, w)
		}
	}
	return out
}

// refID identifies a parentRef including sectionName and port.
func refID(ns string, ref gwapiv1.ParentReference) string {
	id := parentKey(ns, ref)
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

// recordRouteTransitions emits an Event for each parent entry whose Accepted or ResolvedRefs
// condition changed what it says (a Warning when it turned False), and a Warning when
// PartiallyInvalid turns True or says something new (its bad state is True).
func recordRouteTransitions(rec recorder.EventRecorder, route client.Object, before map[string][]metav1.Condition, after []gwapiv1.RouteParentStatus) {
	for _, p := range after {
		prev := before[refID(route.GetNamespace(), p.ParentRef)]
		for _, typ := range []string{string(gwapiv1.RouteConditionAccepted), string(gwapiv1.RouteConditionResolvedRefs)} {
			if c := meta.FindStatusCondition(p.Conditions, typ); c != nil {
				recordTransition(rec, route, meta.FindStatusCondition(prev, typ), *c)
			}
		}
		pi := string(gwapiv1.RouteConditionPartiallyInvalid)
		if c := meta.FindStatusCondition(p.Conditions, pi); c != nil && c.Status == metav1.ConditionTrue && rec != nil {
			if old := meta.FindStatusCondition(prev, pi); old == nil || old.Status != c.Status || old.Message != c.Message {
				rec.Eventf(route, nil, corev1.EventTypeWarning, c.Reason, "Validate", "%s", c.Message)
			}
		}
	}
}
