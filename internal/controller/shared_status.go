package controller

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Status list caps of the API: an update with more entries is rejected whole.
const (
	maxRouteParents    = 32 // HTTPRoute/GRPCRoute/... status.parents
	maxPolicyAncestors = 16 // BackendTLSPolicy status.ancestors (GEP-713)
	maxPoolParents     = 32 // InferencePool status.parents
)

// ReasonStatusListFull is the Warning Event reason when a shared status list has no room for this
// Gateway's entry (other controllers and Gateways hold every place the API allows).
const ReasonStatusListFull = "StatusListFull"

// sharedList is a status list that several controllers and Gateways write: a route's parents, a
// policy's ancestors, a pool's parents. Flotilla owns only the entries ours selects.
type sharedList[T any] struct {
	// ours says whether an entry is this Gateway's (controller name and parent).
	ours func(T) bool
	// id identifies an entry, to match what resolve wants with what the list holds.
	id func(T) string
	// conditions gives an entry's conditions.
	conditions func(*T) *[]metav1.Condition
	// max is the API's cap on the list.
	max int
}

// merge replaces our entries of cur with want: entries that stay keep their places (Gateways
// sharing an object must not reorder the list: each write would undo the other's, for ever) and
// their conditions' lastTransitionTime when unchanged; new entries are appended while the list
// has room; ours that resolve no longer wants are dropped; other entries are never touched.
// before holds the conditions our entries had, by id; full counts wanted entries left out.
func (l sharedList[T]) merge(cur, want []T) (out []T, before map[string][]metav1.Condition, full int) {
	wanted := make(map[string]int, len(want))
	for i, w := range want {
		wanted[l.id(w)] = i
	}
	done := make([]bool, len(want))
	before = map[string][]metav1.Condition{}
	// Never nil: the APIs require the list, and an empty one is how an object says no Gateway has it.
	out = make([]T, 0, len(cur)+len(want))
	for _, e := range cur {
		if !l.ours(e) {
			out = append(out, e)
			continue
		}
		id := l.id(e)
		before[id] = *l.conditions(&e)
		i, ok := wanted[id]
		if !ok || done[i] {
			continue
		}
		done[i] = true
		w := want[i]
		*l.conditions(&w) = mergeConditions(*l.conditions(&e), *l.conditions(&w))
		out = append(out, w)
	}
	for i, w := range want {
		if done[i] {
			continue
		}
		if len(out) >= l.max {
			full++
			continue
		}
		*l.conditions(&w) = mergeConditions(nil, *l.conditions(&w))
		out = append(out, w)
	}
	return out, before, full
}

// recordEntries emits, for every entry of ours in after, an Event for each condition that changed
// what it says (recordTransition: a Warning when it turns False, a Normal when it turns True
// again), a Warning when PartiallyInvalid turns True or says something new (its bad state is
// True), and a Warning when the list had no room for full of our entries.
func (l sharedList[T]) recordEntries(rec recorder.EventRecorder, obj runtime.Object, before map[string][]metav1.Condition, after []T, full int, types ...string) {
	if rec == nil {
		return
	}
	for _, e := range after {
		if !l.ours(e) {
			continue
		}
		prev := before[l.id(e)]
		for _, c := range *l.conditions(&e) {
			if len(types) > 0 && !slices.Contains(types, c.Type) {
				continue
			}
			old := meta.FindStatusCondition(prev, c.Type)
			if c.Type == string(gwapiv1.RouteConditionPartiallyInvalid) {
				if c.Status == metav1.ConditionTrue && (old == nil || old.Status != c.Status || old.Message != c.Message) {
					rec.Eventf(obj, nil, corev1.EventTypeWarning, c.Reason, "Validate", "%s", c.Message)
				}
				continue
			}
			recordTransition(rec, obj, old, c)
		}
	}
	if full > 0 {
		rec.Eventf(obj, nil, corev1.EventTypeWarning, ReasonStatusListFull, "Validate",
			"The status list is full (%d entries, the API's limit): this Gateway's entry is left out", l.max)
	}
}
