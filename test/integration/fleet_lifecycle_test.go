package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
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
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
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

// issueAsCertManager plays cert-manager's part for a Certificate Flotilla asked for: a certificate
// from ca with exactly the Certificate's URI SANs (the fleet identity and the Gateway instance).
func issueAsCertManager(t *testing.T, ca *pki.CA, cert *cmapi.Certificate) (crt, key []byte) {
	t.Helper()
	var ns, name, uid string
	for _, u := range cert.Spec.URIs {
		if rest, ok := strings.CutPrefix(u, "spiffe://flotilla/fleet/"); ok {
			ns, name, _ = strings.Cut(rest, "/")
		}
		if rest, ok := strings.CutPrefix(u, "urn:uuid:"); ok {
			uid = rest
		}
	}
	if ns == "" || uid == "" {
		t.Fatalf("Certificate %s names no fleet or no Gateway instance: URIs %v", cert.Name, cert.Spec.URIs)
	}
	crt, key, err := ca.IssueFleet(ns, name, uid, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return crt, key
}

// dialRefused connects as an Envoy of fleet claim and waits for the server to refuse it: at the
// TLS handshake (the dial, or the stream's first read, fails) or when the stream opens. A refused
// client never receives a listener.
func dialRefused(t *testing.T, conf *tls.Config, claim, what string) {
	t.Helper()
	c, err := xdstest.Dial(context.Background(), xdsAddr, conf, &corev3.Node{Id: "envoy-" + strings.ReplaceAll(claim, "/", "-"), Cluster: claim})
	if err != nil {
		if !strings.Contains(err.Error(), "Unavailable") {
			t.Errorf("%s: dial failed with %v, want a TLS refusal", what, err)
		}
		return
	}
	defer func() { _ = c.Close() }()
	select {
	case <-c.Done():
		if got := c.Names(resource.ListenerType); len(got) != 0 {
			t.Errorf("%s: refused, but only after receiving listeners %v", what, got)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the stream was not refused; it got listeners %v", what, c.Names(resource.ListenerType))
	}
}

// The FleetClass names a cert-manager issuer and its CA bundle: Flotilla asks cert-manager for the
// fleet certificate, the fleet runs once it is issued, and the xDS server admits the issuer's
// certificates for this fleet only. Trust comes from the FleetClass, never from the fleet Secret
// the team can write (issue 14, hole 1): a team CA placed in the Secret's ca.crt admits nothing.
func TestCertManagerIssuerGetsACertificate(t *testing.T) {
	ca, _, err := pki.NewCA(time.Now(), time.Hour*24)
	if err != nil {
		t.Fatal(err)
	}
	tenantClass(t, "certmanager", func(s *flotillav1alpha1.FleetClassSpec) {
		s.Certificates.CertManager = &flotillav1alpha1.CertManagerIssuer{IssuerRef: flotillav1alpha1.IssuerReference{Name: "fleet-ca"},
			CABundle: string(ca.CertPEM)}
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
		!slices.Equal(cert.Spec.URIs, []string{"spiffe://flotilla/fleet/team-cm/edge", "urn:uuid:" + string(gw.UID)}) {
		t.Errorf("Certificate spec %+v", cert.Spec)
	}
	if err := k8s.Get(context.Background(), fleetName(gw), &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("the fleet started before its certificate existed: %v", err)
	}

	// Play cert-manager's part: fill the Secret.
	crt, key := issueAsCertManager(t, ca, cert)
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
	crt2, key2, err := ca.IssueFleet("team-cm", "someone-else", string(gw.UID), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dialRefused(t, envoyTLS(t, gw, crt2, key2), "team-cm/someone-else", "the issuer's certificate for another fleet")

	// The attack: the team swaps its own CA into the Secret's ca.crt (keeping cert-manager's
	// annotations) and presents a certificate from it. Flotilla never reads trust from there.
	teamCA, _, err := pki.NewCA(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forgedCrt, forgedKey, err := teamCA.IssueFleet("team-cm", "edge", string(gw.UID), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cur := &corev1.Secret{}
		if err := k8s.Get(ctx, fleetName(gw), cur); err != nil {
			return err
		}
		cur.Data["ca.crt"] = teamCA.CertPEM
		return k8s.Update(ctx, cur)
	})
	before := refusedStreams(t, "certificate_invalid")
	dialRefused(t, envoyTLS(t, gw, forgedCrt, forgedKey), "team-cm/edge", "a certificate from the team's own CA")
	eventually(t, 10*time.Second, func(context.Context) error {
		if got := refusedStreams(t, "certificate_invalid"); got <= before {
			return fmt.Errorf("flotilla_xds_refused_streams_total{reason=certificate_invalid} = %v, still %v", got, before)
		}
		return nil
	})
	// The issuer's own certificate still opens the fleet.
	again := dialFleet(t, envoyTLS(t, gw, crt, key), "team-cm/edge")
	waitXDS(t, again, "the fleet's configuration after the forged ca.crt", func() error {
		if got := again.Names(resource.ListenerType); !slices.Contains(got, "http-80") {
			return fmt.Errorf("listeners %v", got)
		}
		return nil
	})
}
