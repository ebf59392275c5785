package controller

import (
	"context"
	"fmt"
	"k8s.io/apimachinery/pkg/util/sets"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	infv1 "sigs.k8s.io/gateway-api-inference-extension/api/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/scheme"
)

func poolParent(controller, gateway string, status metav1.ConditionStatus) infv1.ParentStatus {
	return infv1.ParentStatus{
		ParentRef:      infv1.ParentReference{Kind: "Gateway", Namespace: "infra", Name: infv1.ObjectName(gateway)},
		ControllerName: infv1.ControllerName(controller),
		Conditions:     []metav1.Condition{{Type: "Accepted", Status: status, Reason: "Accepted", LastTransitionTime: metav1.Now()}},
	}
}

func parentNames(p *infv1.InferencePool) []string {
	var out []string
	for _, ps := range p.Status.Parents {
		out = append(out, fmt.Sprintf("%s/%s", ps.ControllerName, ps.ParentRef.Name))
	}
	return out
}

// Our parent entry for the Gateway is written in place (two Gateways sharing a pool never reorder
// it, which would make them rewrite it for ever), removed once the Gateway no longer uses the pool,
// other controllers' entries are kept, and a list of the API's 32 gets none of ours.
func TestPoolParentsAreOursInPlaceAndBounded(t *testing.T) {
	gw := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "edge"}}
	shared := &infv1.InferencePool{ObjectMeta: metav1.ObjectMeta{Namespace: "ai", Name: "shared"}}
	shared.Status.Parents = []infv1.ParentStatus{poolParent(string(ControllerName), "edge", metav1.ConditionFalse),
		poolParent(string(ControllerName), "other-gw", metav1.ConditionTrue), poolParent("example.com/other", "theirs", metav1.ConditionTrue)}
	unused := &infv1.InferencePool{ObjectMeta: metav1.ObjectMeta{Namespace: "ai", Name: "unused"}}
	unused.Status.Parents = []infv1.ParentStatus{poolParent("example.com/other", "theirs", metav1.ConditionTrue),
		poolParent(string(ControllerName), "edge", metav1.ConditionTrue)}
	crowded := &infv1.InferencePool{ObjectMeta: metav1.ObjectMeta{Namespace: "ai", Name: "crowded"}}
	for i := range maxPoolParents {
		crowded.Status.Parents = append(crowded.Status.Parents, poolParent("example.com/other", fmt.Sprint("gw-", i), metav1.ConditionTrue))
	}
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithStatusSubresource(&infv1.InferencePool{}).
		WithObjects(shared, unused, crowded).Build()
	r := &GatewayReconciler{FleetInputs: FleetInputs{Client: c}, Status: &StatusWriter{Client: c, Reader: c}}
	accepted := []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted"}}
	// A pool deleted since it was read comes first: the others are written all the same.
	gone := &infv1.InferencePool{ObjectMeta: metav1.ObjectMeta{Namespace: "ai", Name: "gone"}}
	res := &resolved{pools: []*infv1.InferencePool{gone, shared, unused, crowded}}
	res.result.InferencePools = []gatewayapi.InferencePoolStatus{{Namespace: "ai", Name: "gone", Conditions: accepted},
		{Namespace: "ai", Name: "shared", Conditions: accepted},
		{Namespace: "ai", Name: "crowded", Conditions: accepted}}
	if err := r.writePoolStatuses(context.Background(), gw, res); err != nil {
		t.Fatal(err)
	}
	got := &infv1.InferencePool{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(shared), got); err != nil {
		t.Fatal(err)
	}
	if names := parentNames(got); fmt.Sprint(names) != fmt.Sprint([]string{string(ControllerName) + "/edge", string(ControllerName) + "/other-gw", "example.com/other/theirs"}) {
		t.Errorf("shared pool parents %v: ours must stay first", names)
	}
	if p := got.Status.Parents[0]; p.Conditions[0].Status != metav1.ConditionTrue || p.ParentRef.Namespace != "infra" ||
		p.ParentRef.Group == nil || *p.ParentRef.Group != gwapiv1.GroupName {
		t.Errorf("our entry %+v: want Accepted True, parentRef group and namespace set", p)
	}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(unused), got); err != nil {
		t.Fatal(err)
	}
	if names := parentNames(got); fmt.Sprint(names) != "[example.com/other/theirs]" {
		t.Errorf("unused pool parents %v: want only the other controller's", names)
	}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(crowded), got); err != nil {
		t.Fatal(err)
	}
	if n := len(got.Status.Parents); n != maxPoolParents || got.Status.Parents[n-1].ControllerName == infv1.ControllerName(ControllerName) {
		t.Errorf("a full list got an entry of ours: %d entries", n)
	}
}

// Route parent entries of ours keep their places too: two Gateways writing one route in turn
// leave it as it was.
func TestMergeParentsKeepsOrder(t *testing.T) {
	entry := func(gw string, status metav1.ConditionStatus) gwapiv1.RouteParentStatus {
		return gwapiv1.RouteParentStatus{ParentRef: gwapiv1.ParentReference{Name: gwapiv1.ObjectName(gw)}, ControllerName: ControllerName,
			Conditions: []metav1.Condition{{Type: "Accepted", Status: status, Reason: "Accepted"}}}
	}
	cur := []gwapiv1.RouteParentStatus{entry("a", metav1.ConditionTrue), entry("b", metav1.ConditionTrue)}
	mergeParents := func(cur, want []gwapiv1.RouteParentStatus, gw string) []gwapiv1.RouteParentStatus {
		out, _, _ := routeParents("ns", sets.New("Gateway/ns/"+gw)).merge(cur, want)
		return out
	}
	out := mergeParents(cur, []gwapiv1.RouteParentStatus{entry("a", metav1.ConditionFalse)}, "a")
	if len(out) != 2 || out[0].ParentRef.Name != "a" || out[0].Conditions[0].Status != metav1.ConditionFalse || out[1].ParentRef.Name != "b" {
		t.Errorf("after a's write: %+v", out)
	}
	out = mergeParents(out, nil, "a")
	if len(out) != 1 || out[0].ParentRef.Name != "b" {
		t.Errorf("after a lets go: %+v", out)
	}
	// The last entry going leaves an empty list, not none: the API requires status.parents.
	if out = mergeParents(out, nil, "b"); out == nil || len(out) != 0 {
		t.Errorf("after b lets go: %#v, want an empty list", out)
	}
}

// A shared list the API has no more room in keeps every other entry and reports ours as left out;
// the same merger caps every kind (routes 32, policies 16, pools 32).
func TestSharedListHonoursTheCap(t *testing.T) {
	var cur []gwapiv1.RouteParentStatus
	for i := range maxRouteParents {
		cur = append(cur, gwapiv1.RouteParentStatus{ParentRef: gwapiv1.ParentReference{Name: gwapiv1.ObjectName(fmt.Sprintf("other-%d", i))},
			ControllerName: "example.com/other"})
	}
	want := []gwapiv1.RouteParentStatus{{ParentRef: gwapiv1.ParentReference{Name: "gw"}, ControllerName: ControllerName,
		Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted"}}}}
	out, _, full := routeParents("ns", sets.New("Gateway/ns/gw")).merge(cur, want)
	if len(out) != maxRouteParents || full != 1 || out[len(out)-1].ControllerName == ControllerName {
		t.Errorf("full list: %d entries, %d left out, last %s", len(out), full, out[len(out)-1].ControllerName)
	}
	// With room, ours is appended.
	out, _, full = routeParents("ns", sets.New("Gateway/ns/gw")).merge(cur[1:], want)
	if len(out) != maxRouteParents || full != 0 || out[len(out)-1].ControllerName != ControllerName {
		t.Errorf("list with room: %d entries, %d left out", len(out), full)
	}
	if maxPolicyAncestors != 16 || policyAncestors("ns", "ns/gw").max != 16 || poolParents("ns", "ns/gw").max != 32 {
		t.Error("caps differ from the APIs'")
	}
}

// The Pod cache keeps only what resolution reads.
func TestTransformPodKeepsWhatResolutionReads(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ai", Name: "p", Labels: map[string]string{"app": "x"},
		Annotations: map[string]string{"big": "annotation"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		Status: corev1.PodStatus{PodIP: "10.0.0.1", Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	o, err := TransformPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	got := o.(*corev1.Pod)
	if got.Annotations != nil || len(got.Spec.Containers) != 0 || len(got.Status.Conditions) != 1 {
		t.Errorf("transformed Pod keeps too much: %+v", got)
	}
	if !gatewayapi.PodReady(got) || got.Labels["app"] != "x" || got.Name != "p" || got.Namespace != "ai" {
		t.Errorf("transformed Pod lost what resolution reads: %+v", got)
	}
}
