package controller

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/scheme"
)

func ancestor(controller, gateway string, status metav1.ConditionStatus) gwapiv1.PolicyAncestorStatus {
	return gwapiv1.PolicyAncestorStatus{
		AncestorRef:    gwapiv1.ParentReference{Name: gwapiv1.ObjectName(gateway)},
		ControllerName: gwapiv1.GatewayController(controller),
		Conditions:     []metav1.Condition{{Type: "Accepted", Status: status, Reason: "Accepted", LastTransitionTime: metav1.Now()}},
	}
}

// Our ancestor entry for the Gateway is replaced, other controllers' entries are kept, and a
// list already holding the API's 16 entries gets none of ours rather than a refused write.
func TestPolicyAncestorsAreOursOnlyAndBounded(t *testing.T) {
	gw := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "edge"}}
	policy := func(name string, others int) *gwapiv1.BackendTLSPolicy {
		p := &gwapiv1.BackendTLSPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name}}
		for i := range others {
			p.Status.Ancestors = append(p.Status.Ancestors, ancestor("example.com/other", fmt.Sprint("gw-", i), metav1.ConditionTrue))
		}
		p.Status.Ancestors = append(p.Status.Ancestors, ancestor(string(ControllerName), "edge", metav1.ConditionFalse))
		return p
	}
	some, full := policy("some", 2), policy("full", 16)
	full.Status.Ancestors = full.Status.Ancestors[1:] // 15 others and ours: 16
	crowded := policy("crowded", 16)
	crowded.Status.Ancestors = crowded.Status.Ancestors[:16] // 16 others, none of ours
	released := policy("released", 0)                        // ours only, and the Gateway no longer has the policy
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithStatusSubresource(&gwapiv1.BackendTLSPolicy{}).
		WithObjects(some, full, crowded, released).Build()
	r := &GatewayReconciler{FleetInputs: FleetInputs{Client: c}, Status: &StatusWriter{Client: c, Reader: c}}
	want := []gwapiv1.PolicyAncestorStatus{ancestor(string(ControllerName), "edge", metav1.ConditionTrue)}
	want[0].AncestorRef.Namespace = ptr.To(gwapiv1.Namespace("apps"))
	res := &resolved{policies: []*gwapiv1.BackendTLSPolicy{some, full, crowded, released}}
	res.result.BackendTLSPolicies = []gatewayapi.PolicyStatus{{Namespace: "apps", Name: "some", Ancestors: want},
		{Namespace: "apps", Name: "full", Ancestors: want}, {Namespace: "apps", Name: "crowded", Ancestors: want}}
	if err := r.writePolicyStatuses(context.Background(), gw, res); err != nil {
		t.Fatal(err)
	}
	got := &gwapiv1.BackendTLSPolicy{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(some), got); err != nil {
		t.Fatal(err)
	}
	if n := len(got.Status.Ancestors); n != 3 || got.Status.Ancestors[2].Conditions[0].Status != metav1.ConditionTrue ||
		got.Status.Ancestors[0].ControllerName != "example.com/other" {
		t.Errorf("ancestors %+v: want the 2 others, then ours now True", got.Status.Ancestors)
	}
	// The full list: ours was one of the 16; replaced, it fits again.
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(full), got); err != nil {
		t.Fatal(err)
	}
	if n := len(got.Status.Ancestors); n != 16 || got.Status.Ancestors[15].Conditions[0].Status != metav1.ConditionTrue {
		t.Errorf("full list: %d ancestors, last %+v", n, got.Status.Ancestors[n-1])
	}
	// The last entry going leaves an empty list, not none: the API requires status.ancestors.
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(released), got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Ancestors == nil || len(got.Status.Ancestors) != 0 {
		t.Errorf("released policy ancestors %#v, want an empty list", got.Status.Ancestors)
	}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(crowded), got); err != nil {
		t.Fatal(err)
	}
	for _, a := range got.Status.Ancestors {
		if a.ControllerName == ControllerName || len(got.Status.Ancestors) != 16 {
			t.Errorf("a list of 16 others got an entry of ours: %d entries", len(got.Status.Ancestors))
			break
		}
	}
}
