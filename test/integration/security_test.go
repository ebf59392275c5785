package integration

// Regression tests for the holes a black-box probe found in fleet identity and tenancy (issue 14),
// each played as the attacker in a team namespace would (the team can write Secrets, ConfigMaps,
// Gateways and routes in its own namespace). Hole 1 (trust read from the fleet Secret) is in
// TestCertManagerIssuerGetsACertificate.

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/operator"
	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
)

// refusedStreams is flotilla_xds_refused_streams_total{reason} of the manager under test.
func refusedStreams(t *testing.T, reason string) float64 {
	t.Helper()
	return labelledCounter(t, "flotilla_xds_refused_streams_total", "reason", reason)
}

// refusedWith dials as an Envoy of fleet claim and waits for the connection or stream to be refused
// and the refusal to be counted under reason.
func refusedWith(t *testing.T, reason, what string, conf *tls.Config, claim string) {
	t.Helper()
	before := refusedStreams(t, reason)
	dialRefused(t, conf, claim, what)
	eventually(t, 10*time.Second, func(context.Context) error {
		if got := refusedStreams(t, reason); got <= before {
			return fmt.Errorf("flotilla_xds_refused_streams_total{reason=%q} still %v", reason, got)
		}
		return nil
	})
}

// flotillaCA is Flotilla's built-in CA, read as an admin can from the operator's namespace: a
// certificate it issues is as good as one Flotilla provisioned.
func flotillaCA(t *testing.T) *pki.CA {
	t.Helper()
	s := &corev1.Secret{}
	get(t, client.ObjectKey{Namespace: operator.DefaultNamespace, Name: operator.CASecretName}, s)
	ca, err := pki.LoadCA(s.Data[pki.KeyCert], s.Data[pki.KeyKey])
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func setNamespaceLabels(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		ns := &corev1.Namespace{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
			return err
		}
		ns.Labels = labels
		return k8s.Update(ctx, ns)
	})
}

// Hole 2: a Gateway refused by tenancy is served nothing (even to a certificate of Flotilla's own
// CA), and its routes say they are not accepted, with an Event. Once admitted, the same
// certificate gets the configuration; refused again, its open stream is closed.
func TestRefusedGatewayIsServedNothing(t *testing.T) {
	tenantClass(t, "sec-tenancy", func(s *flotillav1alpha1.FleetClassSpec) {
		s.Tenancy = &flotillav1alpha1.Tenancy{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"sec-tenancy": "yes"}}}
	})
	ns := "team-sec-out"
	namespace(t, ns, nil)
	gw := gateway(ns, "edge", "sec-tenancy", nil)
	create(t, gw)
	rt := httpRoute(ns, "app", []gwapiv1.ParentReference{{Name: "edge"}}, "web")
	create(t, rt)

	gatewayCondition(t, gw, gwapiv1.GatewayConditionAccepted, metav1.ConditionFalse, gwapiv1.GatewayReasonInvalidParameters)
	p := routeParent(t, rt, "edge", string(gwapiv1.RouteConditionAccepted), string(metav1.ConditionFalse), string(gatewayapi.RouteReasonGatewayNotAccepted))
	for _, c := range p.Conditions {
		if c.Type == string(gwapiv1.RouteConditionAccepted) && !strings.Contains(c.Message, "namespace") {
			t.Errorf("the route's Accepted message does not say why the Gateway is refused: %q", c.Message)
		}
	}
	waitForNamespacedEvent(t, rt, corev1.EventTypeWarning, string(gatewayapi.RouteReasonGatewayNotAccepted), "not accepted")

	ca := flotillaCA(t)
	crt, key, err := ca.IssueFleet(ns, "edge", string(gw.UID), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// A refused Gateway has no fleet ConfigMap: the xDS server's CA is Flotilla's, and public.
	conf, err := xdsClientTLS(ca, crt, key)
	if err != nil {
		t.Fatal(err)
	}
	refusedWith(t, "unknown_fleet", "a refused Gateway's fleet, with a certificate of Flotilla's CA", conf, ns+"/edge")

	// Admitted: the same certificate is served, and the route is accepted.
	setNamespaceLabels(t, ns, map[string]string{"sec-tenancy": "yes"})
	gatewayCondition(t, gw, gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonAccepted)
	routeParent(t, rt, "edge", string(gwapiv1.RouteConditionAccepted), string(metav1.ConditionTrue), string(gwapiv1.RouteReasonAccepted))
	fleet := dialFleet(t, conf, ns+"/edge")
	waitXDS(t, fleet, "the admitted fleet's configuration", func() error {
		if got := fleet.Names(resource.ListenerType); !slices.Contains(got, "http-80") {
			return fmt.Errorf("listeners %v", got)
		}
		return nil
	})

	// Refused again (the namespace loses its label): the fleet is left running, its open stream
	// is closed and it is sent nothing more.
	setNamespaceLabels(t, ns, nil)
	gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionFalse, gwapiv1.GatewayReasonInvalid)
	select {
	case <-fleet.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the stream of a Gateway that is no longer admitted stays open")
	}
	if err := k8s.Get(context.Background(), fleetName(gw), &appsv1.Deployment{}); err != nil {
		t.Errorf("the running fleet was removed: %v", err)
	}
}

// xdsClientTLS is an Envoy's TLS with the given client certificate, verifying the xDS server with
// Flotilla's CA (what the fleet ConfigMap's xds-ca.crt holds).
func xdsClientTLS(ca *pki.CA, crt, key []byte) (*tls.Config, error) {
	return xdstest.EnvoyTLS(crt, key, ca.CertPEM, "flotilla-xds."+operator.DefaultNamespace+".svc")
}

// Hole 3: a fleet certificate is bound to its Gateway instance. Deleting the Gateway closes its
// streams and its certificate opens nothing from then on, not even the fleet of a Gateway
// re-created under the same name, which gets a certificate of its own.
func TestDeletedGatewaysCertificateOpensNothing(t *testing.T) {
	tenantClass(t, "sec-instance", nil)
	ns := "team-sec-instance"
	namespace(t, ns, nil)
	gw := gateway(ns, "edge", "sec-instance", nil)
	create(t, gw)
	gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)
	oldConf := fleetTLS(t, gw)
	old := dialFleet(t, oldConf, ns+"/edge")
	waitXDS(t, old, "the first instance's configuration", func() error {
		if got := old.Names(resource.ListenerType); !slices.Contains(got, "http-80") {
			return fmt.Errorf("listeners %v", got)
		}
		return nil
	})

	if err := k8s.Delete(context.Background(), gw); err != nil {
		t.Fatal(err)
	}
	select {
	case <-old.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the deleted Gateway's stream stays open")
	}
	eventually(t, 10*time.Second, func(ctx context.Context) error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(gw), &gwapiv1.Gateway{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the Gateway is still there: %v", err)
		}
		return nil
	})
	refusedWith(t, "unknown_fleet", "a deleted Gateway's certificate", oldConf, ns+"/edge")

	again := gateway(ns, "edge", "sec-instance", nil)
	create(t, again)
	if again.UID == gw.UID {
		t.Fatal("the re-created Gateway has the old UID")
	}
	gatewayCondition(t, again, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)
	refusedWith(t, "instance_mismatch", "the old instance's certificate against the re-created Gateway", oldConf, ns+"/edge")
	// The new instance's own certificate opens its fleet.
	s := &corev1.Secret{}
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		if err := k8s.Get(ctx, fleetName(again), s); err != nil {
			return err
		}
		cert, err := pki.ParseCert(s.Data[pki.KeyCert])
		if err != nil {
			return err
		}
		if uid, _ := pki.InstanceFromCert(cert); uid != string(again.UID) {
			return fmt.Errorf("fleet certificate bound to %q, want the new instance %q", uid, again.UID)
		}
		return nil
	})
	fresh := dialFleet(t, envoyTLS(t, again, s.Data[pki.KeyCert], s.Data[pki.KeyKey]), ns+"/edge")
	waitXDS(t, fresh, "the re-created Gateway's configuration", func() error {
		if got := fresh.Names(resource.ListenerType); !slices.Contains(got, "http-80") {
			return fmt.Errorf("listeners %v", got)
		}
		return nil
	})
}

// Hole 4: an object a team created under a fleet object's name is not adopted: the Gateway says
// which object is in the way (Programmed=False FleetObjectConflict, with a Warning Event) and
// nothing is provisioned; once the team removes it, Flotilla creates its own.
func TestPreCreatedFleetObjectsAreNotAdopted(t *testing.T) {
	tenantClass(t, "sec-adopt", nil)
	ns := "team-sec-adopt"
	namespace(t, ns, nil)
	teamCA, _, err := pki.NewCA(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	planted := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "flotilla-edge",
			Annotations: map[string]string{"cert-manager.io/issuer-name": "mine"}, Labels: map[string]string{"planted": "yes"}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{pki.KeyCA: teamCA.CertPEM, "extra": []byte("mine")},
	}
	create(t, planted)
	gw := gateway(ns, "edge", "sec-adopt", nil)
	create(t, gw)

	c, _ := gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionFalse, controller.ReasonFleetObjectConflict)
	if !strings.Contains(c.Message, "Secret "+ns+"/flotilla-edge") || !strings.Contains(c.Message, "does not adopt") {
		t.Errorf("Programmed message %q does not name the object in the way", c.Message)
	}
	gatewayCondition(t, gw, gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonAccepted)
	waitForNamespacedEvent(t, gw, corev1.EventTypeWarning, string(controller.ReasonFleetObjectConflict), "flotilla-edge")
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.ConfigMap{}, &corev1.ServiceAccount{}} {
		if err := k8s.Get(context.Background(), fleetName(gw), obj); !apierrors.IsNotFound(err) {
			t.Errorf("%T provisioned beside a conflicting object: %v", obj, err)
		}
	}
	cur := &corev1.Secret{}
	get(t, client.ObjectKeyFromObject(planted), cur)
	if len(cur.OwnerReferences) != 0 || string(cur.Data["extra"]) != "mine" || len(cur.Data) != 2 {
		t.Errorf("the team's Secret was touched: owners %v, keys %d", cur.OwnerReferences, len(cur.Data))
	}

	// The team removes its Secret: Flotilla provisions the fleet with objects of its own.
	if err := k8s.Delete(context.Background(), planted); err != nil {
		t.Fatal(err)
	}
	gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)
	eventually(t, 10*time.Second, func(ctx context.Context) error {
		s := &corev1.Secret{}
		if err := k8s.Get(ctx, fleetName(gw), s); err != nil {
			return err
		}
		if !metav1.IsControlledBy(s, gw) || s.Type != corev1.SecretTypeTLS || s.Labels["planted"] != "" ||
			s.Annotations["cert-manager.io/issuer-name"] != "" || s.Data["extra"] != nil {
			return fmt.Errorf("fleet Secret is not Flotilla's own: type %s, labels %v, annotations %v", s.Type, s.Labels, s.Annotations)
		}
		return nil
	})
	waitForNamespacedEvent(t, gw, corev1.EventTypeNormal, string(gwapiv1.GatewayReasonPending), "provisioning the fleet")
}

// Hole 5: an allowed key prefix without '/' names a domain: "example" does not open the reserved
// example.kubernetes.io domain.
func TestKeyPrefixesAreDomains(t *testing.T) {
	tenantClass(t, "sec-prefix", func(s *flotillav1alpha1.FleetClassSpec) {
		s.Tenancy = &flotillav1alpha1.Tenancy{Overrides: &flotillav1alpha1.OverrideBounds{
			LabelKeyPrefixes: []string{"example"}, AnnotationKeyPrefixes: []string{"example"}}}
	})
	ns := "team-sec-prefix"
	namespace(t, ns, nil)
	gw := gateway(ns, "edge", "sec-prefix", func(gw *gwapiv1.Gateway) {
		gw.Spec.Infrastructure = &gwapiv1.GatewayInfrastructure{
			Labels: map[gwapiv1.LabelKey]gwapiv1.LabelValue{"example.kubernetes.io/x": "y", "example/ok": "z"}}
	})
	create(t, gw)
	c, _ := gatewayCondition(t, gw, gwapiv1.GatewayConditionAccepted, metav1.ConditionFalse, gwapiv1.GatewayReasonInvalidParameters)
	if !strings.Contains(c.Message, `labels["example.kubernetes.io/x"]: key is reserved for Kubernetes`) || strings.Contains(c.Message, "example/ok") {
		t.Errorf("Accepted message %q", c.Message)
	}
	if err := k8s.Get(context.Background(), fleetName(gw), &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused Gateway got a fleet: %v", err)
	}
}
