package integration

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	infv1 "sigs.k8s.io/gateway-api-inference-extension/api/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/operator"
)

// The test cluster serves the experimental Gateway API channel (ListenerSet, TLSRoute... and the
// experimental fields of the standard kinds) and the Inference Extension's InferencePool.
func TestClusterServesGatewayAPIAndInferenceCRDs(t *testing.T) {
	scheme := operator.NewScheme()
	if err := infv1.Install(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, list := range []client.ObjectList{
		&gwapiv1.ListenerSetList{}, &gwapiv1.TLSRouteList{}, &gwapiv1.BackendTLSPolicyList{},
		&gwapiv1.GRPCRouteList{}, &gwapiv1.HTTPRouteList{}, &gwapiv1.ReferenceGrantList{},
	} {
		if err := c.List(ctx, list); err != nil {
			t.Errorf("listing %T: %v", list, err)
		}
	}
	pool := &infv1.InferencePool{
		ObjectMeta: metav1.ObjectMeta{Name: "crd-smoke", Namespace: "default"},
		Spec: infv1.InferencePoolSpec{
			Selector:    infv1.LabelSelector{MatchLabels: map[infv1.LabelKey]infv1.LabelValue{"app": "vllm"}},
			TargetPorts: []infv1.Port{{Number: 8000}},
		},
	}
	if err := c.Create(ctx, pool); err != nil {
		t.Fatalf("creating an InferencePool: %v", err)
	}
	t.Cleanup(func() { _ = c.Delete(ctx, pool) })
}
