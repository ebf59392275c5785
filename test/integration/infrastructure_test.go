package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// GatewayInfrastructure: spec.infrastructure labels and annotations reach every fleet object (and
// the Pods), and a reserved key is refused with the key named.
func TestInfrastructureMetadataIsPropagated(t *testing.T) {
	create(t, gatewayClass("infra", nil)) // no FleetClass: infrastructure metadata allowed, reserved keys not
	classCondition(t, "infra", string(gwapiv1.GatewayClassConditionStatusAccepted), metav1.ConditionTrue, string(gwapiv1.GatewayClassReasonAccepted))
	namespace(t, "team-infra", nil)
	gw := gateway("team-infra", "edge", "infra", func(gw *gwapiv1.Gateway) {
		gw.Spec.Infrastructure = &gwapiv1.GatewayInfrastructure{
			Labels:      map[gwapiv1.LabelKey]gwapiv1.LabelValue{"example.com/team": "infra"},
			Annotations: map[gwapiv1.AnnotationKey]gwapiv1.AnnotationValue{"example.com/owner": "alice"},
		}
	})
	create(t, gw)
	gatewayCondition(t, gw, gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonAccepted)
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ServiceAccount{}, &corev1.ConfigMap{}, &corev1.Secret{}} {
		get(t, fleetName(gw), obj)
		if obj.GetLabels()["example.com/team"] != "infra" || obj.GetAnnotations()["example.com/owner"] != "alice" {
			t.Errorf("%T: labels %v annotations %v lack the infrastructure metadata", obj, obj.GetLabels(), obj.GetAnnotations())
		}
	}
	d := &appsv1.Deployment{}
	get(t, fleetName(gw), d)
	if d.Spec.Template.Labels["example.com/team"] != "infra" {
		t.Errorf("Pod template labels %v", d.Spec.Template.Labels)
	}

	reserved := gateway("team-infra", "reserved", "infra", func(gw *gwapiv1.Gateway) {
		gw.Spec.Infrastructure = &gwapiv1.GatewayInfrastructure{
			Labels: map[gwapiv1.LabelKey]gwapiv1.LabelValue{"app.kubernetes.io/managed-by": "me"},
		}
	})
	create(t, reserved)
	c, _ := gatewayCondition(t, reserved, gwapiv1.GatewayConditionAccepted, metav1.ConditionFalse, gwapiv1.GatewayReasonInvalidParameters)
	if !strings.Contains(c.Message, "app.kubernetes.io/managed-by") {
		t.Errorf("message %q does not name the reserved key", c.Message)
	}
}

// Autoscaling within bounds gives the fleet an HPA and no fixed replica count; turning it off
// removes the HPA again.
func TestAutoscalingAddsAndRemovesTheHPA(t *testing.T) {
	tenantClass(t, "scaling", func(s *flotillav1alpha1.FleetClassSpec) {
		s.Tenancy = &flotillav1alpha1.Tenancy{Overrides: &flotillav1alpha1.OverrideBounds{
			Replicas: &flotillav1alpha1.ReplicaBounds{Min: 1, Max: 10}}}
	})
	namespace(t, "team-scaling", nil)
	cfg := &flotillav1alpha1.FleetConfig{ObjectMeta: metav1.ObjectMeta{Name: "scale", Namespace: "team-scaling"},
		Spec: flotillav1alpha1.FleetConfigSpec{Autoscaling: &flotillav1alpha1.Autoscaling{MinReplicas: 2, MaxReplicas: 6}}}
	create(t, cfg)
	gw := gateway("team-scaling", "edge", "scaling", func(gw *gwapiv1.Gateway) {
		gw.Spec.Infrastructure = &gwapiv1.GatewayInfrastructure{ParametersRef: &gwapiv1.LocalParametersReference{
			Group: "gateway.flotilla.dev", Kind: "FleetConfig", Name: "scale"}}
	})
	create(t, gw)
	gatewayCondition(t, gw, gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonAccepted)
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	eventually(t, 10*time.Second, func(ctx context.Context) error { return k8s.Get(ctx, fleetName(gw), hpa) })
	if *hpa.Spec.MinReplicas != 2 || hpa.Spec.MaxReplicas != 6 || hpa.Spec.ScaleTargetRef.Name != "flotilla-edge" {
		t.Errorf("HPA spec %+v", hpa.Spec)
	}
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cur := &flotillav1alpha1.FleetConfig{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(cfg), cur); err != nil {
			return err
		}
		cur.Spec.Autoscaling = nil
		return k8s.Update(ctx, cur)
	})
	eventually(t, 10*time.Second, func(ctx context.Context) error {
		err := k8s.Get(ctx, fleetName(gw), &autoscalingv2.HorizontalPodAutoscaler{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("HPA still there: %v", err)
	})
}
