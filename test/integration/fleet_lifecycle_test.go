package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/apiwrites"
	"github.com/flotilla-dev/flotilla/internal/pki"
)

func get(t *testing.T, key client.ObjectKey, obj client.Object) {
	t.Helper()
	if err := k8s.Get(context.Background(), key, obj); err != nil {
		t.Fatalf("getting %T %s: %v", obj, key, err)
	}
}

func TestFleetDriftIsRepairedAndSteadyStateWritesNothing(t *testing.T) {
	tenantClass(t, "drift", nil)
	namespace(t, "team-drift", nil)
	gw := gateway("team-drift", "edge", "drift", nil)
	create(t, gw)
	gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)
	ctx := context.Background()

	// A deleted Service comes back.
	svc := &corev1.Service{}
	get(t, fleetName(gw), svc)
	oldUID := svc.UID
	if err := k8s.Delete(ctx, svc); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func(ctx context.Context) error {
		cur := &corev1.Service{}
		if err := k8s.Get(ctx, fleetName(gw), cur); err != nil {
			return err
		}
		if cur.UID == oldUID {
			return fmt.Errorf("Service not recreated yet")
		}
		return nil
	})

	// A hand-edited Deployment is put back.
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, fleetName(gw), d); err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = "example.invalid/hand-edited:1"
		d.Spec.Replicas = ptr.To[int32](7)
		return k8s.Update(ctx, d)
	})
	eventually(t, 20*time.Second, func(ctx context.Context) error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, fleetName(gw), d); err != nil {
			return err
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; img == "example.invalid/hand-edited:1" || *d.Spec.Replicas != 1 {
			return fmt.Errorf("drift not repaired: image %s replicas %d", img, *d.Spec.Replicas)
		}
		return nil
	})
	gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)

	// Steady state: a resync (here forced by touching the Gateway's annotations) writes nothing.
	time.Sleep(2 * time.Second) // let the Deployment rollout and its status events settle
	before := apiwrites.Total()
	runs := reconciles(t, "gateway")
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.Gateway{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(gw), cur); err != nil {
			return err
		}
		cur.Annotations = map[string]string{"touched": time.Now().String()}
		return k8s.Update(ctx, cur)
	})
	eventually(t, 10*time.Second, func(context.Context) error {
		if reconciles(t, "gateway") <= runs {
			return fmt.Errorf("no reconcile yet")
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	if after := apiwrites.Total(); after != before {
		t.Errorf("a resync at steady state made %v API writes", after-before)
	}
}

func TestDeletingTheGatewayRemovesItsFleet(t *testing.T) {
	tenantClass(t, "deletion", nil)
	namespace(t, "team-deletion", nil)
	gw := gateway("team-deletion", "edge", "deletion", nil)
	create(t, gw)
	gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)
	if err := k8s.Delete(context.Background(), gw); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, func(ctx context.Context) error {
		for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ServiceAccount{}, &corev1.ConfigMap{}, &corev1.Secret{}} {
			if err := k8s.Get(ctx, fleetName(gw), obj); !apierrors.IsNotFound(err) {
				return fmt.Errorf("%T still there (err=%v)", obj, err)
			}
		}
		pods := &corev1.PodList{}
		if err := k8s.List(ctx, pods, client.InNamespace(gw.Namespace)); err != nil {
			return err
		}
		if len(pods.Items) > 0 {
			return fmt.Errorf("%d Envoy Pods left", len(pods.Items))
		}
		return nil
	})
}

func TestFleetClassChangeRollsExactlyItsFleets(t *testing.T) {
	tenantClass(t, "roll-a", nil)
	tenantClass(t, "roll-b", nil)
	namespace(t, "team-roll", nil)
	a := gateway("team-roll", "a", "roll-a", nil)
	b := gateway("team-roll", "b", "roll-b", nil)
	create(t, a)
	create(t, b)
	gatewayCondition(t, a, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)
	gatewayCondition(t, b, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)
	time.Sleep(time.Second)

	cmA, depA, depB := &corev1.ConfigMap{}, &appsv1.Deployment{}, &appsv1.Deployment{}
	get(t, fleetName(a), cmA)
	get(t, fleetName(a), depA)
	get(t, fleetName(b), depB)
	sumBefore := depA.Spec.Template.Annotations["gateway.flotilla.dev/bootstrap-checksum"]

	// Turning Prometheus off removes the stats listener from the bootstrap of class A's fleets.
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		fc := &flotillav1alpha1.FleetClass{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: "roll-a"}, fc); err != nil {
			return err
		}
		fc.Spec.Telemetry.Prometheus.Enabled = ptr.To(false)
		return k8s.Update(ctx, fc)
	})
	eventually(t, 20*time.Second, func(ctx context.Context) error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, fleetName(a), d); err != nil {
			return err
		}
		if sum := d.Spec.Template.Annotations["gateway.flotilla.dev/bootstrap-checksum"]; sum == "" || sum == sumBefore {
			return fmt.Errorf("bootstrap checksum still %q", sum)
		}
		return nil
	})
	cm := &corev1.ConfigMap{}
	get(t, fleetName(a), cm)
	if cm.Data["bootstrap.yaml"] == cmA.Data["bootstrap.yaml"] || strings.Contains(cm.Data["bootstrap.yaml"], "/stats/prometheus") {
		t.Errorf("bootstrap did not drop the stats listener")
	}
	time.Sleep(time.Second)
	cur := &appsv1.Deployment{}
	get(t, fleetName(b), cur)
	if cur.Generation != depB.Generation {
		t.Errorf("class B's fleet was rolled by a change to class A: generation %d -> %d", depB.Generation, cur.Generation)
	}
}

func TestLoadBalancerAddressIsReported(t *testing.T) {
	tenantClass(t, "lb", func(s *flotillav1alpha1.FleetClassSpec) { s.Service.Type = flotillav1alpha1.ServiceTypeLoadBalancer })
	namespace(t, "team-lb", nil)
	gw := gateway("team-lb", "edge", "lb", nil)
	create(t, gw)
	c, _ := gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionFalse, gwapiv1.GatewayReasonAddressNotAssigned)
	if !strings.Contains(c.Message, "Waiting for a load balancer") {
		t.Errorf("message %q", c.Message)
	}
	// Play the cloud provider's part.
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		svc := &corev1.Service{}
		if err := k8s.Get(ctx, fleetName(gw), svc); err != nil {
			return err
		}
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.10"}, {Hostname: "edge.lb.example.com"}}
		return k8s.Status().Update(ctx, svc)
	})
	_, cur := gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)
	if len(cur.Status.Addresses) != 2 || cur.Status.Addresses[0].Value != "192.0.2.10" || *cur.Status.Addresses[1].Type != gwapiv1.HostnameAddressType {
		t.Errorf("addresses %+v", cur.Status.Addresses)
	}
}

func TestCertManagerIssuerGetsACertificate(t *testing.T) {
	tenantClass(t, "certmanager", func(s *flotillav1alpha1.FleetClassSpec) {
		s.Certificates.CertManager = &flotillav1alpha1.CertManagerIssuer{IssuerRef: flotillav1alpha1.IssuerReference{Name: "fleet-ca"}}
	})
	namespace(t, "team-cm", nil)
	gw := gateway("team-cm", "edge", "certmanager", nil)
	create(t, gw)
	c, _ := gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionFalse, gwapiv1.GatewayReasonPending)
	if !strings.Contains(c.Message, "waiting for cert-manager") || !strings.Contains(c.Message, `"fleet-ca"`) {
		t.Errorf("message %q does not say it waits for cert-manager", c.Message)
	}
	cert := &cmapi.Certificate{}
	get(t, fleetName(gw), cert)
	if cert.Spec.SecretName != "flotilla-edge" || cert.Spec.IssuerRef.Name != "fleet-ca" || cert.Spec.IssuerRef.Kind != "ClusterIssuer" ||
		len(cert.Spec.URIs) != 1 || cert.Spec.URIs[0] != "spiffe://flotilla/fleet/team-cm/edge" {
		t.Errorf("Certificate spec %+v", cert.Spec)
	}
	if err := k8s.Get(context.Background(), fleetName(gw), &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("the fleet started before its certificate existed: %v", err)
	}

	// Play cert-manager's part: fill the Secret.
	ca, _, err := pki.NewCA(time.Now(), time.Hour*24)
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := ca.IssueFleet("team-cm", "edge", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	create(t, &corev1.Secret{
		// cert-manager copies the Certificate's secretTemplate labels onto the Secret.
		ObjectMeta: metav1.ObjectMeta{Name: "flotilla-edge", Namespace: "team-cm", Labels: cert.Spec.SecretTemplate.Labels,
			Annotations: map[string]string{cmapi.IssuerNameAnnotationKey: "fleet-ca", cmapi.IssuerKindAnnotationKey: "ClusterIssuer"}},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": crt, "tls.key": key, "ca.crt": ca.CertPEM},
	})
	gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)

	// The fleet's Envoys reach the xDS server with the issuer's certificate, and verify the server
	// with Flotilla's CA from the fleet ConfigMap.
	fleet := dialFleet(t, envoyTLS(t, gw, crt, key), "team-cm/edge")
	waitXDS(t, fleet, "the cert-manager fleet's configuration", func() error {
		if got := fleet.Names(resource.ListenerType); !slices.Contains(got, "http-80") {
			return fmt.Errorf("listeners %v", got)
		}
		return nil
	})
	// The issuer is trusted for this fleet only: its certificate for another fleet is refused.
	crt2, key2, err := ca.IssueFleet("team-cm", "someone-else", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forged := dialFleet(t, envoyTLS(t, gw, crt2, key2), "team-cm/someone-else")
	select {
	case <-forged.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a certificate of fleet team-cm/edge's issuer opened another fleet's stream")
	}
}
