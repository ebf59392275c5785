package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
)

// listenerCondition waits for a Gateway listener's condition at the Gateway's generation.
func listenerCondition(t *testing.T, gw *gwapiv1.Gateway, listener, typ string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.Gateway{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(gw), cur); err != nil {
			return err
		}
		for _, l := range cur.Status.Listeners {
			if string(l.Name) != listener {
				continue
			}
			c := meta.FindStatusCondition(l.Conditions, typ)
			if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != cur.Generation {
				return fmt.Errorf("listener %s: %s = %+v, want %s/%s", listener, typ, c, status, reason)
			}
			return nil
		}
		return fmt.Errorf("no status for listener %s: %+v", listener, cur.Status.Listeners)
	})
}

// downstreamTLS is the DownstreamTlsContext of the first chain of an Envoy listener (nil: no
// such listener, or no TLS).
func downstreamTLS(t *testing.T, c *xdstest.Client, name string) *tlsv3.DownstreamTlsContext {
	t.Helper()
	m, ok := c.Resources(resource.ListenerType)[name]
	if !ok || len(m.(*listenerv3.Listener).GetFilterChains()) == 0 {
		return nil
	}
	ts := m.(*listenerv3.Listener).GetFilterChains()[0].GetTransportSocket()
	if ts == nil {
		return nil
	}
	ctx := &tlsv3.DownstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx
}

func caRef(kind, name, ns string) gwapiv1.ObjectReference {
	ref := gwapiv1.ObjectReference{Group: "", Kind: gwapiv1.Kind(kind), Name: gwapiv1.ObjectName(name)}
	if ns != "" {
		ref.Namespace = ptr.To(gwapiv1.Namespace(ns))
	}
	return ref
}

// Client certificate validation (spec.tls.frontend) end to end: invalid CA references get the
// spec's listener conditions and their ports serve no HTTPS; a real ADS client receives the valid
// ports' listeners requiring (or, in AllowInsecureFallback, asking for) a client certificate
// verified by an SDS validation context, and the CA secret; a rotated CA ConfigMap moves only
// the SDS version; a ReferenceGrant or a missing ConfigMap appearing brings its port up.
func TestFrontendClientCertificateValidation(t *testing.T) {
	tenantClass(t, "fmtls", nil)
	ns, pkiNS := "team-fmtls", "team-fmtls-pki"
	namespace(t, ns, nil)
	namespace(t, pkiNS, nil)
	caA, _, err := pki.NewCA(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caB, _, err := pki.NewCA(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tlsSecret(t, caA, ns, "cert", "gateway.example.com")
	create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "client-ca"}, Data: map[string]string{"ca.crt": string(caA.CertPEM)}})
	create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: pkiNS, Name: "shared-ca"}, Data: map[string]string{"ca.crt": string(caB.CertPEM)}})

	https := func(name string, port gwapiv1.PortNumber) gwapiv1.Listener {
		return gwapiv1.Listener{Name: gwapiv1.SectionName(name), Port: port, Protocol: gwapiv1.HTTPSProtocolType,
			TLS: &gwapiv1.ListenerTLSConfig{CertificateRefs: []gwapiv1.SecretObjectReference{{Name: "cert"}}}}
	}
	perPort := func(port gwapiv1.PortNumber, mode gwapiv1.FrontendValidationModeType, ref gwapiv1.ObjectReference) gwapiv1.TLSPortConfig {
		return gwapiv1.TLSPortConfig{Port: port, TLS: gwapiv1.TLSConfig{Validation: &gwapiv1.FrontendTLSValidation{
			CACertificateRefs: []gwapiv1.ObjectReference{ref}, Mode: mode}}}
	}
	gw := gateway(ns, "edge", "fmtls", func(gw *gwapiv1.Gateway) {
		gw.Spec.Listeners = []gwapiv1.Listener{{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType},
			https("https", 443), https("missing", 7443), https("wrong-kind", 8443), https("no-grant", 6443), https("fallback", 9443)}
		gw.Spec.TLS = &gwapiv1.GatewayTLSConfig{Frontend: &gwapiv1.FrontendTLSConfig{
			Default: gwapiv1.TLSConfig{Validation: &gwapiv1.FrontendTLSValidation{CACertificateRefs: []gwapiv1.ObjectReference{caRef("ConfigMap", "client-ca", "")}}},
			PerPort: []gwapiv1.TLSPortConfig{
				perPort(7443, gwapiv1.AllowValidOnly, caRef("ConfigMap", "later-ca", "")),
				perPort(8443, gwapiv1.AllowValidOnly, caRef("Service", "web", "")),
				perPort(6443, gwapiv1.AllowValidOnly, caRef("ConfigMap", "shared-ca", pkiNS)),
				perPort(9443, gwapiv1.AllowInsecureFallback, caRef("ConfigMap", "client-ca", "")),
			},
		}}
	})
	create(t, gw)

	for _, l := range []string{"http", "https", "fallback"} {
		listenerCondition(t, gw, l, "Accepted", metav1.ConditionTrue, "Accepted")
		listenerCondition(t, gw, l, "ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs")
	}
	for l, reason := range map[string]string{"missing": "InvalidCACertificateRef", "wrong-kind": "InvalidCACertificateKind", "no-grant": "RefNotPermitted"} {
		listenerCondition(t, gw, l, "ResolvedRefs", metav1.ConditionFalse, reason)
		listenerCondition(t, gw, l, "Accepted", metav1.ConditionFalse, "NoValidCACertificate")
		listenerCondition(t, gw, l, "Programmed", metav1.ConditionFalse, "Invalid")
	}
	gatewayCondition(t, gw, gwapiv1.GatewayConditionInsecureFrontendValidationMode, metav1.ConditionTrue, gwapiv1.GatewayReasonConfigurationChanged)
	gatewayCondition(t, gw, gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonListenersNotValid)
	waitForNamespacedEvent(t, gw, corev1.EventTypeWarning, string(gwapiv1.GatewayReasonConfigurationChanged), "AllowInsecureFallback")

	fleet := dialFleet(t, fleetTLS(t, gw), ns+"/edge")
	defaultCA, fallbackCA := "Gateway/"+ns+"/edge/frontend/default", "Gateway/"+ns+"/edge/frontend/port/9443"
	waitXDS(t, fleet, "client certificate validation", func() error {
		for _, typ := range []string{resource.ListenerType, resource.RouteType, resource.SecretType} {
			if fleet.Version(typ) == "" {
				return fmt.Errorf("no %s accepted yet", typ)
			}
		}
		names := fleet.Names(resource.ListenerType)
		for _, refused := range []string{"https-7443", "https-8443", "https-6443"} {
			if slices.Contains(names, refused) {
				return fmt.Errorf("listener %s is served although its client CA is invalid (fail closed)", refused)
			}
		}
		strict := downstreamTLS(t, fleet, "https-443")
		if strict == nil || !strict.GetRequireClientCertificate().GetValue() ||
			strict.GetCommonTlsContext().GetValidationContextSdsSecretConfig().GetName() != defaultCA {
			return fmt.Errorf("https-443 TLS %v: want a required client certificate verified by SDS %s", strict, defaultCA)
		}
		loose := downstreamTLS(t, fleet, "https-9443")
		combined := loose.GetCommonTlsContext().GetCombinedValidationContext()
		if loose == nil || loose.GetRequireClientCertificate().GetValue() || combined.GetValidationContextSdsSecretConfig().GetName() != fallbackCA ||
			combined.GetDefaultValidationContext().GetTrustChainVerification() != tlsv3.CertificateValidationContext_ACCEPT_UNTRUSTED {
			return fmt.Errorf("https-9443 TLS %v: want an optional, untrusted-accepting client certificate check with SDS %s", loose, fallbackCA)
		}
		s, ok := fleet.Resources(resource.SecretType)[defaultCA].(*tlsv3.Secret)
		if !ok || s.GetValidationContext().GetTrustedCa().GetInlineString() != string(caA.CertPEM) {
			return fmt.Errorf("client CA secret %s: %v (secrets %v)", defaultCA, s, fleet.Names(resource.SecretType))
		}
		return nil
	})

	// A rotated client CA is an SDS update alone: the listeners do not move.
	rotateCA(t, fleet, ns, "client-ca", defaultCA, string(caA.CertPEM)+string(caB.CertPEM), "a client CA rotation")

	// What was missing arrives: a ReferenceGrant for 6443's ConfigMap, the ConfigMap 7443 names.
	create(t, &gwapiv1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: pkiNS, Name: "gateways"},
		Spec: gwapiv1.ReferenceGrantSpec{
			From: []gwapiv1.ReferenceGrantFrom{{Group: gwapiv1.GroupName, Kind: "Gateway", Namespace: gwapiv1.Namespace(ns)}},
			To:   []gwapiv1.ReferenceGrantTo{{Group: "", Kind: "ConfigMap"}}}})
	create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "later-ca"}, Data: map[string]string{"ca.crt": string(caB.CertPEM)}})
	for _, l := range []string{"missing", "no-grant"} {
		listenerCondition(t, gw, l, "Accepted", metav1.ConditionTrue, "Accepted")
		listenerCondition(t, gw, l, "ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs")
	}
	waitXDS(t, fleet, "the ports whose CA became valid", func() error {
		for port, ca := range map[string]string{"6443": "Gateway/" + ns + "/edge/frontend/port/6443", "7443": "Gateway/" + ns + "/edge/frontend/port/7443"} {
			tc := downstreamTLS(t, fleet, "https-"+port)
			if tc == nil || !tc.GetRequireClientCertificate().GetValue() || tc.GetCommonTlsContext().GetValidationContextSdsSecretConfig().GetName() != ca {
				return fmt.Errorf("https-%s TLS %v", port, tc)
			}
		}
		return nil
	})

	// Back to AllowValidOnly everywhere: the InsecureFrontendValidationMode condition goes.
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.Gateway{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(gw), cur); err != nil {
			return err
		}
		cur.Spec.TLS.Frontend.PerPort[3].TLS.Validation.Mode = gwapiv1.AllowValidOnly
		return k8s.Update(ctx, cur)
	})
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.Gateway{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(gw), cur); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(cur.Status.Conditions, string(gwapiv1.GatewayConditionInsecureFrontendValidationMode)); c != nil {
			return fmt.Errorf("InsecureFrontendValidationMode still there: %+v", c)
		}
		return nil
	})
}
