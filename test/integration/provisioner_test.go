package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/pki"
)

// tenantClass creates a FleetClass (ClusterIP Services: the test cluster has no load balancer) and a
// GatewayClass using it, and waits for the class to be accepted.
func tenantClass(t *testing.T, name string, mutate func(*flotillav1alpha1.FleetClassSpec)) {
	t.Helper()
	spec := flotillav1alpha1.FleetClassSpec{
		Replicas: ptr.To[int32](1),
		Service:  flotillav1alpha1.ServiceSpec{Type: flotillav1alpha1.ServiceTypeClusterIP},
	}
	if mutate != nil {
		mutate(&spec)
	}
	create(t, &flotillav1alpha1.FleetClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec})
	create(t, gatewayClass(name, fleetClassRef(name)))
	classCondition(t, name, string(gwapiv1.GatewayClassConditionStatusAccepted), metav1.ConditionTrue, string(gwapiv1.GatewayClassReasonAccepted))
}

func namespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
}

func gateway(ns, name, class string, mutate func(*gwapiv1.Gateway)) *gwapiv1.Gateway {
	gw := &gwapiv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: gwapiv1.GatewaySpec{GatewayClassName: gwapiv1.ObjectName(class), Listeners: []gwapiv1.Listener{
			{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType},
			{Name: "dns", Port: 53, Protocol: gwapiv1.UDPProtocolType},
		}},
	}
	if mutate != nil {
		mutate(gw)
	}
	return gw
}

// gatewayCondition waits for a Gateway condition at the Gateway's current generation.
func gatewayCondition(t *testing.T, gw *gwapiv1.Gateway, typ gwapiv1.GatewayConditionType, status metav1.ConditionStatus, reason gwapiv1.GatewayConditionReason) (metav1.Condition, *gwapiv1.Gateway) {
	t.Helper()
	var got metav1.Condition
	cur := &gwapiv1.Gateway{}
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(gw), cur); err != nil {
			return err
		}
		c := meta.FindStatusCondition(cur.Status.Conditions, string(typ))
		if c == nil || c.Status != status || c.Reason != string(reason) || c.ObservedGeneration != cur.Generation {
			return fmt.Errorf("Gateway %s condition %s = %+v, want %s/%s", gw.Name, typ, c, status, reason)
		}
		got = *c
		return nil
	})
	return got, cur
}

func fleetName(gw *gwapiv1.Gateway) client.ObjectKey {
	return client.ObjectKey{Namespace: gw.Namespace, Name: "flotilla-" + gw.Name}
}

func TestTwoTeamsGetTheirOwnFleets(t *testing.T) {
	tenantClass(t, "teams", nil)
	namespace(t, "team-one", nil)
	namespace(t, "team-two", nil)
	one := gateway("team-one", "edge", "teams", nil)
	two := gateway("team-two", "edge", "teams", nil)
	create(t, one)
	create(t, two)

	for _, gw := range []*gwapiv1.Gateway{one, two} {
		gatewayCondition(t, gw, gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonAccepted)
		_, cur := gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)

		svc := &corev1.Service{}
		if err := k8s.Get(context.Background(), fleetName(gw), svc); err != nil {
			t.Fatal(err)
		}
		if len(cur.Status.Addresses) != 1 || cur.Status.Addresses[0].Value != svc.Spec.ClusterIP {
			t.Errorf("%s addresses = %+v, want the Service's cluster IP %s", gw.Namespace, cur.Status.Addresses, svc.Spec.ClusterIP)
		}
		ports := map[string]corev1.Protocol{}
		for _, p := range svc.Spec.Ports {
			ports[fmt.Sprint(p.Port)] = p.Protocol
		}
		if ports["80"] != corev1.ProtocolTCP || ports["53"] != corev1.ProtocolUDP || len(ports) != 2 {
			t.Errorf("Service ports %v, want 80/TCP and 53/UDP", ports)
		}
		if len(cur.Status.Listeners) != 2 || cur.Status.Listeners[0].Name != "http" || len(cur.Status.Listeners[0].SupportedKinds) != 2 ||
			cur.Status.Listeners[1].SupportedKinds[0].Kind != "UDPRoute" {
			t.Errorf("listener status %+v", cur.Status.Listeners)
		}
		// Every fleet object is controlled by its own Gateway.
		for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ServiceAccount{}, &corev1.ConfigMap{}, &corev1.Secret{}} {
			if err := k8s.Get(context.Background(), fleetName(gw), obj); err != nil {
				t.Fatalf("%T of %s: %v", obj, gw.Namespace, err)
			}
			ref := metav1.GetControllerOf(obj)
			if ref == nil || ref.UID != cur.UID || ref.Kind != "Gateway" {
				t.Errorf("%T %s is not controlled by its Gateway: %+v", obj, obj.GetName(), ref)
			}
			if obj.GetLabels()["gateway.networking.k8s.io/gateway-name"] != "edge" || obj.GetLabels()["app.kubernetes.io/managed-by"] != "flotilla" {
				t.Errorf("%T labels %v", obj, obj.GetLabels())
			}
		}
		// The fleet's certificate names the fleet.
		secret := &corev1.Secret{}
		if err := k8s.Get(context.Background(), fleetName(gw), secret); err != nil {
			t.Fatal(err)
		}
		cert, err := pki.ParseCert(secret.Data["tls.crt"])
		if err != nil {
			t.Fatal(err)
		}
		if fleet, _ := pki.FleetFromCert(cert); fleet != gw.Namespace+"/edge" {
			t.Errorf("certificate of %s names fleet %q", gw.Namespace, fleet)
		}
	}
}

func TestOverBoundReplicasAreRefused(t *testing.T) {
	tenantClass(t, "bounded", func(s *flotillav1alpha1.FleetClassSpec) {
		s.Tenancy = &flotillav1alpha1.Tenancy{Overrides: &flotillav1alpha1.OverrideBounds{
			Replicas: &flotillav1alpha1.ReplicaBounds{Min: 1, Max: 3}}}
	})
	namespace(t, "team-bounded", nil)
	cfg := &flotillav1alpha1.FleetConfig{ObjectMeta: metav1.ObjectMeta{Name: "mine", Namespace: "team-bounded"},
		Spec: flotillav1alpha1.FleetConfigSpec{Replicas: ptr.To[int32](5)}}
	create(t, cfg)
	gw := gateway("team-bounded", "edge", "bounded", func(gw *gwapiv1.Gateway) {
		gw.Spec.Infrastructure = &gwapiv1.GatewayInfrastructure{ParametersRef: &gwapiv1.LocalParametersReference{
			Group: "gateway.flotilla.dev", Kind: "FleetConfig", Name: "mine"}}
	})
	create(t, gw)

	c, _ := gatewayCondition(t, gw, gwapiv1.GatewayConditionAccepted, metav1.ConditionFalse, gwapiv1.GatewayReasonInvalidParameters)
	if !strings.Contains(c.Message, "spec.replicas: 5 is outside the class's bounds [1, 3]") || !strings.Contains(c.Message, "no fleet is provisioned") {
		t.Errorf("message %q does not name the field, value and bound", c.Message)
	}
	waitForNamespacedEvent(t, gw, corev1.EventTypeWarning, string(gwapiv1.GatewayReasonInvalidParameters), "spec.replicas: 5")
	if err := k8s.Get(context.Background(), fleetName(gw), &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused Gateway got a fleet: %v", err)
	}

	setReplicas := func(n int32) {
		t.Helper()
		eventually(t, 5*time.Second, func(ctx context.Context) error {
			cur := &flotillav1alpha1.FleetConfig{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(cfg), cur); err != nil {
				return err
			}
			cur.Spec.Replicas = ptr.To(n)
			return k8s.Update(ctx, cur)
		})
	}
	// Within bounds: the FleetConfig change rolls the fleet.
	setReplicas(2)
	gatewayCondition(t, gw, gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonAccepted)
	eventually(t, 10*time.Second, func(ctx context.Context) error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, fleetName(gw), d); err != nil {
			return err
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
			return fmt.Errorf("replicas %v", d.Spec.Replicas)
		}
		return nil
	})
	// Out of bounds again: refused, and the running fleet is left alone.
	setReplicas(9)
	c, _ = gatewayCondition(t, gw, gwapiv1.GatewayConditionAccepted, metav1.ConditionFalse, gwapiv1.GatewayReasonInvalidParameters)
	if !strings.Contains(c.Message, "spec.replicas: 9 is outside") || !strings.Contains(c.Message, "the running fleet is left as it was") {
		t.Errorf("message %q", c.Message)
	}
	d := &appsv1.Deployment{}
	if err := k8s.Get(context.Background(), fleetName(gw), d); err != nil || *d.Spec.Replicas != 2 {
		t.Errorf("the running fleet changed: %v %v", err, d.Spec.Replicas)
	}
}

func TestNamespaceSelectorAndQuota(t *testing.T) {
	tenantClass(t, "tenancy", func(s *flotillav1alpha1.FleetClassSpec) {
		s.Tenancy = &flotillav1alpha1.Tenancy{
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"tenant": "yes"}},
			MaxGatewaysPerNamespace: ptr.To[int32](1),
		}
	})
	namespace(t, "not-a-tenant", nil)
	namespace(t, "a-tenant", map[string]string{"tenant": "yes"})
	outsider := gateway("not-a-tenant", "edge", "tenancy", nil)
	create(t, outsider)
	c, _ := gatewayCondition(t, outsider, gwapiv1.GatewayConditionAccepted, metav1.ConditionFalse, gwapiv1.GatewayReasonInvalidParameters)
	if !strings.Contains(c.Message, `namespace "not-a-tenant" is not admitted by FleetClass "tenancy"`) {
		t.Errorf("message %q", c.Message)
	}
	first := gateway("a-tenant", "first", "tenancy", nil)
	create(t, first)
	gatewayCondition(t, first, gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonAccepted)
	second := gateway("a-tenant", "second", "tenancy", nil)
	create(t, second)
	c, _ = gatewayCondition(t, second, gwapiv1.GatewayConditionAccepted, metav1.ConditionFalse, gwapiv1.GatewayReasonInvalidParameters)
	if !strings.Contains(c.Message, "over its Gateway quota") || !strings.Contains(c.Message, "allows 1 Gateways per namespace") {
		t.Errorf("message %q", c.Message)
	}
	// Labelling the namespace admits its Gateway: the Namespace watch re-reconciles it.
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		ns := &corev1.Namespace{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: "not-a-tenant"}, ns); err != nil {
			return err
		}
		ns.Labels = map[string]string{"tenant": "yes"}
		return k8s.Update(ctx, ns)
	})
	gatewayCondition(t, outsider, gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonAccepted)
}

// waitForNamespacedEvent waits for an Event about a namespaced object.
func waitForNamespacedEvent(t *testing.T, obj client.Object, typ, reason, noteContains string) {
	t.Helper()
	waitForEventIn(t, obj.GetNamespace(), obj.GetName(), typ, reason, noteContains)
}

// reconciles reads controller-runtime's count of finished reconciles of a controller.
func reconciles(t *testing.T, controller string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == controller {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}
