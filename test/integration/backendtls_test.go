package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
)

// tlsService is a selector-less Service on port 443 with one ready endpoint.
func tlsService(t *testing.T, ns, name, ip string) {
	t.Helper()
	create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443}}}})
	create(t, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To[int32](443)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	})
}

// tlsSecret creates a kubernetes.io/tls Secret ns/name with a certificate for hosts from ca.
func tlsSecret(t *testing.T, ca *pki.CA, ns, name string, hosts ...string) {
	t.Helper()
	crt, key, err := ca.IssueServer(hosts, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}})
}

// tlsRoute creates an HTTPRoute of Gateway "edge" (on host, when given) to port 443 of service.
func tlsRoute(t *testing.T, ns, name, host, service string) *gwapiv1.HTTPRoute {
	t.Helper()
	rt := httpRoute(ns, name, []gwapiv1.ParentReference{{Name: "edge"}})
	if host != "" {
		rt.Spec.Hostnames = []gwapiv1.Hostname{gwapiv1.Hostname(host)}
	}
	rt.Spec.Rules[0].BackendRefs = []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{
		BackendObjectReference: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(service), Port: ptr.To[gwapiv1.PortNumber](443)}}}}
	create(t, rt)
	return rt
}

func backendTLSPolicy(ns, name, service string, refs ...gwapiv1.LocalObjectReference) *gwapiv1.BackendTLSPolicy {
	return &gwapiv1.BackendTLSPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: gwapiv1.BackendTLSPolicySpec{
			TargetRefs: []gwapiv1.LocalPolicyTargetReferenceWithSectionName{{LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{
				Group: "", Kind: "Service", Name: gwapiv1.ObjectName(service)}}},
			Validation: gwapiv1.BackendTLSPolicyValidation{CACertificateRefs: refs, Hostname: gwapiv1.PreciseHostname(service + ".example.com")},
		},
	}
}

// rotateCA writes pem into the ca.crt of ConfigMap ns/configMap and waits for the fleet to get it
// in SDS secret secret; the secret's version, and no other, must move (what names the change).
func rotateCA(t *testing.T, fleet *xdstest.Client, ns, configMap, secret, pem, what string) {
	t.Helper()
	before := versions(fleet)
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cm := &corev1.ConfigMap{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: configMap}, cm); err != nil {
			return err
		}
		cm.Data["ca.crt"] = pem
		return k8s.Update(ctx, cm)
	})
	waitXDS(t, fleet, "the CA bundle after "+what, func() error {
		s, ok := fleet.Resources(resource.SecretType)[secret].(*tlsv3.Secret)
		if !ok || s.GetValidationContext().GetTrustedCa().GetInlineString() != pem {
			return fmt.Errorf("CA secret %s: %v", secret, s)
		}
		return nil
	})
	after := versions(fleet)
	for _, typ := range allTypes {
		if moved := before[typ] != after[typ]; moved != (typ == resource.SecretType) {
			t.Errorf("after %s, %s version %q → %q", what, typ, before[typ], after[typ])
		}
	}
}

func configMapRef(name string) gwapiv1.LocalObjectReference {
	return gwapiv1.LocalObjectReference{Group: "", Kind: "ConfigMap", Name: gwapiv1.ObjectName(name)}
}

// policyAncestor waits for the policy's ancestor entry of ours for the Gateway to carry the condition.
func policyAncestor(t *testing.T, ns, name, gateway, typ string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		p := &gwapiv1.BackendTLSPolicy{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
			return err
		}
		for _, a := range p.Status.Ancestors {
			if a.ControllerName != controller.ControllerName || string(a.AncestorRef.Name) != gateway {
				continue
			}
			c := meta.FindStatusCondition(a.Conditions, typ)
			if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != p.Generation {
				return fmt.Errorf("policy %s ancestor %s: %s = %+v, want %s/%s", name, gateway, typ, c, status, reason)
			}
			return nil
		}
		return fmt.Errorf("policy %s has no ancestor entry of ours for %s: %+v", name, gateway, p.Status.Ancestors)
	})
}

func upstreamTLS(t *testing.T, c *xdstest.Client, cluster string) *tlsv3.UpstreamTlsContext {
	t.Helper()
	m, ok := c.Resources(resource.ClusterType)[cluster]
	if !ok {
		return nil
	}
	ts := m.(*clusterv3.Cluster).GetTransportSocket()
	if ts == nil {
		return nil
	}
	ctx := &tlsv3.UpstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx
}

func endpointCount(c *xdstest.Client, cluster string) int {
	m, ok := c.Resources(resource.EndpointType)[cluster]
	if !ok {
		return -1
	}
	n := 0
	for _, l := range m.(*endpointv3.ClusterLoadAssignment).GetEndpoints() {
		n += len(l.GetLbEndpoints())
	}
	return n
}

// BackendTLSPolicy end to end: the valid policy's CA reaches Envoy over SDS and a rotated CA is
// an SDS update alone; a conflicting policy, a missing ConfigMap and a reference of another kind
// get the spec's reasons on their ancestor entry, and the backend of an invalid policy fails
// closed, with ResolvedRefs=False and an Event on its route.
func TestBackendTLSPolicy(t *testing.T) {
	tenantClass(t, "btls", nil)
	ns := "team-btls"
	namespace(t, ns, nil)
	gw := gateway(ns, "edge", "btls", nil)
	create(t, gw)
	tlsService(t, ns, "secure", "10.3.0.1")
	tlsService(t, ns, "broken", "10.3.0.2")
	caA, _, err := pki.NewCA(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caB, _, err := pki.NewCA(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "backend-ca"}, Data: map[string]string{"ca.crt": string(caA.CertPEM)}})
	tlsRoute(t, ns, "app", "", "secure")
	broken := tlsRoute(t, ns, "broken", "broken.example.com", "broken")

	create(t, backendTLSPolicy(ns, "secure", "secure", configMapRef("backend-ca")))
	policyAncestor(t, ns, "secure", "edge", "Accepted", metav1.ConditionTrue, "Accepted")
	policyAncestor(t, ns, "secure", "edge", "ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs")
	// A younger policy on the same target (or, created in the same second, later by name) loses.
	create(t, backendTLSPolicy(ns, "secure-too", "secure", configMapRef("backend-ca")))
	policyAncestor(t, ns, "secure-too", "edge", "Accepted", metav1.ConditionFalse, "Conflicted")

	create(t, backendTLSPolicy(ns, "broken", "broken", configMapRef("no-such-configmap")))
	policyAncestor(t, ns, "broken", "edge", "ResolvedRefs", metav1.ConditionFalse, "InvalidCACertificateRef")
	policyAncestor(t, ns, "broken", "edge", "Accepted", metav1.ConditionFalse, "NoValidCACertificate")
	routeParent(t, broken, "edge", "ResolvedRefs", "False", routeParentReason(t, broken))
	waitForNamespacedEvent(t, broken, corev1.EventTypeWarning, routeParentReason(t, broken), "")

	tlsService(t, ns, "odd", "10.3.0.3")
	tlsRoute(t, ns, "odd", "odd.example.com", "odd")
	create(t, backendTLSPolicy(ns, "odd", "odd", gwapiv1.LocalObjectReference{Group: "example.com", Kind: "Bundle", Name: "ca"}))
	policyAncestor(t, ns, "odd", "edge", "ResolvedRefs", metav1.ConditionFalse, "InvalidKind")
	policyAncestor(t, ns, "odd", "edge", "Accepted", metav1.ConditionFalse, "NoValidCACertificate")

	fleet := dialFleet(t, fleetTLS(t, gw), ns+"/edge")
	secure, brokenCluster := ns+"/secure/443/http", ns+"/broken/443/http"
	trustName := "BackendTLSPolicy/" + ns + "/secure"
	waitXDS(t, fleet, "the backend TLS configuration", func() error {
		for _, typ := range allTypes {
			if fleet.Version(typ) == "" {
				return fmt.Errorf("no %s accepted yet", typ)
			}
		}
		if len(fleet.Names(resource.RouteType)) != len(fleet.Subscriptions(resource.RouteType)) {
			return fmt.Errorf("route configurations %v of %v", fleet.Names(resource.RouteType), fleet.Subscriptions(resource.RouteType))
		}
		tc := upstreamTLS(t, fleet, secure)
		if tc == nil || tc.GetSni() != "secure.example.com" {
			return fmt.Errorf("cluster %s TLS %v", secure, tc)
		}
		if got := tc.GetCommonTlsContext().GetCombinedValidationContext().GetValidationContextSdsSecretConfig().GetName(); got != trustName {
			return fmt.Errorf("validation context SDS %q, want %q", got, trustName)
		}
		if !slices.Contains(fleet.Names(resource.SecretType), trustName) {
			return fmt.Errorf("secrets %v", fleet.Names(resource.SecretType))
		}
		if n := endpointCount(fleet, brokenCluster); n != 0 {
			return fmt.Errorf("the backend of an invalid policy has %d endpoints, want 0 (fail closed)", n)
		}
		if upstreamTLS(t, fleet, brokenCluster) != nil {
			return fmt.Errorf("the backend of an invalid policy has a TLS context")
		}
		return nil
	})

	// A rotated CA is pushed as an SDS update alone.
	rotateCA(t, fleet, ns, "backend-ca", trustName, string(caA.CertPEM)+string(caB.CertPEM), "a CA rotation")
}

// routeParentReason is the reason our parent entry for the route gives for ResolvedRefs=False.
func routeParentReason(t *testing.T, rt *gwapiv1.HTTPRoute) string {
	t.Helper()
	var reason string
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.HTTPRoute{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(rt), cur); err != nil {
			return err
		}
		for _, p := range cur.Status.Parents {
			if c := meta.FindStatusCondition(p.Conditions, "ResolvedRefs"); p.ControllerName == controller.ControllerName && c != nil && c.Status == metav1.ConditionFalse {
				reason = c.Reason
				return nil
			}
		}
		return fmt.Errorf("route %s: no ResolvedRefs=False of ours: %+v", rt.Name, cur.Status.Parents)
	})
	return reason
}

// The Gateway's backend client certificate: a missing Secret is InvalidClientCertificateRef on
// the Gateway's ResolvedRefs (the Gateway stays accepted); once it exists, every TLS backend
// cluster presents it.
func TestBackendClientCertificate(t *testing.T) {
	tenantClass(t, "btls-client", nil)
	ns := "team-btls-client"
	namespace(t, ns, nil)
	gw := gateway(ns, "edge", "btls-client", func(gw *gwapiv1.Gateway) {
		gw.Spec.TLS = &gwapiv1.GatewayTLSConfig{Backend: &gwapiv1.GatewayBackendTLS{
			ClientCertificateRef: &gwapiv1.SecretObjectReference{Name: "client-cert"}}}
	})
	create(t, gw)
	gatewayCondition(t, gw, gwapiv1.GatewayConditionResolvedRefs, metav1.ConditionFalse, gwapiv1.GatewayReasonInvalidClientCertificateRef)
	gatewayCondition(t, gw, gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonAccepted)

	ca, _, err := pki.NewCA(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tlsSecret(t, ca, ns, "client-cert", "gateway.example.com")
	gatewayCondition(t, gw, gwapiv1.GatewayConditionResolvedRefs, metav1.ConditionTrue, gwapiv1.GatewayReasonResolvedRefs)

	tlsService(t, ns, "secure", "10.4.0.1")
	create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "backend-ca"}, Data: map[string]string{"ca.crt": string(ca.CertPEM)}})
	create(t, backendTLSPolicy(ns, "secure", "secure", configMapRef("backend-ca")))
	tlsRoute(t, ns, "app", "", "secure")
	fleet := dialFleet(t, fleetTLS(t, gw), ns+"/edge")
	waitXDS(t, fleet, "the client certificate on the TLS backend", func() error {
		tc := upstreamTLS(t, fleet, ns+"/secure/443/http")
		if tc == nil {
			return fmt.Errorf("no TLS on the backend cluster")
		}
		refs := tc.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs()
		if len(refs) != 1 || refs[0].GetName() != ns+"/client-cert" || !slices.Contains(fleet.Names(resource.SecretType), ns+"/client-cert") {
			return fmt.Errorf("client certificate SDS %v, secrets %v", refs, fleet.Names(resource.SecretType))
		}
		return nil
	})
}

// A class whose cert-manager issuer also issues backend client certificates: Flotilla asks for
// one per Gateway, presents it to TLS backends once cert-manager filled it, and a renewal is an
// SDS update alone.
func TestManagedBackendClientCertificate(t *testing.T) {
	issuer, _, err := pki.NewCA(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tenantClass(t, "btls-managed", func(s *flotillav1alpha1.FleetClassSpec) {
		s.Certificates.CertManager = &flotillav1alpha1.CertManagerIssuer{IssuerRef: flotillav1alpha1.IssuerReference{Name: "fleet-ca"},
			CABundle: string(issuer.CertPEM), BackendClientCertificates: true}
	})
	ns := "team-btls-managed"
	namespace(t, ns, nil)
	gw := gateway(ns, "edge", "btls-managed", nil)
	create(t, gw)
	// Play cert-manager's part for both Certificates Flotilla asks for.
	fill := func(name string) *cmapi.Certificate {
		t.Helper()
		cert := &cmapi.Certificate{}
		eventually(t, 30*time.Second, func(ctx context.Context) error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cert)
		})
		if len(cert.Spec.URIs) == 0 || cert.Spec.URIs[0] != pki.FleetURI(ns, "edge") || cert.Spec.SecretName != name {
			t.Fatalf("Certificate %s spec %+v", name, cert.Spec)
		}
		crt, key := issueAsCertManager(t, issuer, cert)
		create(t, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: cert.Spec.SecretTemplate.Labels,
				Annotations: map[string]string{cmapi.IssuerNameAnnotationKey: "fleet-ca"}},
			Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": crt, "tls.key": key, "ca.crt": issuer.CertPEM},
		})
		return cert
	}
	fill("flotilla-edge")
	fill("flotilla-edge-backend")
	gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)

	tlsService(t, ns, "secure", "10.5.0.1")
	create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "backend-ca"}, Data: map[string]string{"ca.crt": string(issuer.CertPEM)}})
	create(t, backendTLSPolicy(ns, "secure", "secure", configMapRef("backend-ca")))
	tlsRoute(t, ns, "app", "", "secure")

	s := &corev1.Secret{}
	get(t, fleetName(gw), s)
	fleet := dialFleet(t, envoyTLS(t, gw, s.Data["tls.crt"], s.Data["tls.key"]), ns+"/edge")
	managed := ns + "/flotilla-edge-backend"
	waitXDS(t, fleet, "the managed client certificate on the TLS backend", func() error {
		for _, typ := range allTypes {
			if fleet.Version(typ) == "" {
				return fmt.Errorf("no %s accepted yet", typ)
			}
		}
		tc := upstreamTLS(t, fleet, ns+"/secure/443/http")
		refs := tc.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs()
		if len(refs) != 1 || refs[0].GetName() != managed || !slices.Contains(fleet.Names(resource.SecretType), managed) {
			return fmt.Errorf("client certificate SDS %v, secrets %v", refs, fleet.Names(resource.SecretType))
		}
		return nil
	})

	// cert-manager renews it: only SDS moves.
	before := versions(fleet)
	crt, key, err := issuer.IssueFleet(ns, "edge", "", time.Now(), 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cur := &corev1.Secret{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "flotilla-edge-backend"}, cur); err != nil {
			return err
		}
		cur.Data["tls.crt"], cur.Data["tls.key"] = crt, key
		return k8s.Update(ctx, cur)
	})
	waitXDS(t, fleet, "the renewed client certificate", func() error {
		if fleet.Version(resource.SecretType) == before[resource.SecretType] {
			return fmt.Errorf("secrets version still %s", before[resource.SecretType])
		}
		return nil
	})
	after := versions(fleet)
	for _, typ := range allTypes {
		if moved := before[typ] != after[typ]; moved != (typ == resource.SecretType) {
			t.Errorf("after a renewal, %s version %q → %q", typ, before[typ], after[typ])
		}
	}
}
