package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/xds/translate"
)

// TLS listeners of both modes on one port, and HTTPS listeners sharing a port, on the real API
// server: the mixed listeners are Accepted and Programmed with a route each; a real ADS client gets
// one Envoy listener whose passthrough chain proxies to a cluster without TLS while the terminate
// chain's cluster re-encrypts as the BackendTLSPolicy says; and the HTTPS chain of the listener with
// a hostname answers 421 for the other listener's host and for any other.
func TestMixedTLSModesAndMisdirectedRequests(t *testing.T) {
	tenantClass(t, "mixed", nil)
	ns := "team-mixed"
	namespace(t, ns, nil)
	ca, _, err := pki.NewCA(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tlsSecret(t, ca, ns, "cert", "tls.example.com", "a.example.com")
	create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "backend-ca"}, Data: map[string]string{"ca.crt": string(ca.CertPEM)}})
	tlsService(t, ns, "backend", "10.0.9.1")
	create(t, backendTLSPolicy(ns, "backend", "backend", configMapRef("backend-ca")))

	certs := &gwapiv1.ListenerTLSConfig{CertificateRefs: []gwapiv1.SecretObjectReference{{Name: "cert"}}}
	gw := gateway(ns, "edge", "mixed", func(gw *gwapiv1.Gateway) {
		gw.Spec.Listeners = []gwapiv1.Listener{
			{Name: "tls-terminate", Port: 8883, Protocol: gwapiv1.TLSProtocolType, Hostname: ptr.To[gwapiv1.Hostname]("tls.example.com"),
				TLS: &gwapiv1.ListenerTLSConfig{Mode: ptr.To(gwapiv1.TLSModeTerminate), CertificateRefs: certs.CertificateRefs}},
			{Name: "tls-passthrough", Port: 8883, Protocol: gwapiv1.TLSProtocolType, Hostname: ptr.To[gwapiv1.Hostname]("abc.example.com"),
				TLS: &gwapiv1.ListenerTLSConfig{Mode: ptr.To(gwapiv1.TLSModePassthrough)}},
			{Name: "https-a", Port: 443, Protocol: gwapiv1.HTTPSProtocolType, Hostname: ptr.To[gwapiv1.Hostname]("a.example.com"), TLS: certs},
			{Name: "https", Port: 443, Protocol: gwapiv1.HTTPSProtocolType, TLS: certs},
		}
	})
	create(t, gw)
	for _, host := range []string{"tls.example.com", "abc.example.com"} {
		create(t, &gwapiv1.TLSRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: host},
			Spec: gwapiv1.TLSRouteSpec{CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "edge"}}},
				Hostnames: []gwapiv1.Hostname{gwapiv1.Hostname(host)},
				Rules: []gwapiv1.TLSRouteRule{{BackendRefs: []gwapiv1.BackendRef{{BackendObjectReference: gwapiv1.BackendObjectReference{
					Name: "backend", Port: ptr.To[gwapiv1.PortNumber](443)}}}}}}})
	}
	for _, l := range []string{"tls-terminate", "tls-passthrough"} {
		listenerCondition(t, gw, l, "Accepted", metav1.ConditionTrue, "Accepted")
		listenerCondition(t, gw, l, "Programmed", metav1.ConditionTrue, "Programmed")
		listenerCondition(t, gw, l, "Conflicted", metav1.ConditionFalse, "NoConflicts")
	}
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.Gateway{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(gw), cur); err != nil {
			return err
		}
		for _, l := range cur.Status.Listeners {
			if (l.Name == "tls-terminate" || l.Name == "tls-passthrough") && l.AttachedRoutes != 1 {
				return fmt.Errorf("listener %s: %d attached routes, want 1", l.Name, l.AttachedRoutes)
			}
		}
		return nil
	})

	fleet := dialFleet(t, fleetTLS(t, gw), ns+"/edge")
	waitXDS(t, fleet, "mixed TLS modes and misdirected requests", func() error {
		l, ok := fleet.Resources(resource.ListenerType)["tls-8883"].(*listenerv3.Listener)
		if !ok || len(l.GetFilterChains()) != 2 {
			return fmt.Errorf("listener tls-8883: %v (listeners %v)", l, fleet.Names(resource.ListenerType))
		}
		for _, fc := range l.GetFilterChains() {
			sni := fc.GetFilterChainMatch().GetServerNames()
			terminates := fc.GetTransportSocket() != nil
			if len(sni) != 1 || terminates != (sni[0] == "tls.example.com") {
				return fmt.Errorf("chain %s (SNI %v): terminates %v", fc.Name, sni, terminates)
			}
			cluster, err := tcpCluster(fc)
			if err != nil {
				return err
			}
			c, ok := fleet.Resources(resource.ClusterType)[cluster].(*clusterv3.Cluster)
			if !ok {
				return fmt.Errorf("chain %s: cluster %s not received", fc.Name, cluster)
			}
			// The terminated stream is encrypted again (the policy); the client's own TLS never is.
			if originates := c.GetTransportSocket() != nil; originates != terminates {
				return fmt.Errorf("chain %s (terminates %v): cluster %s originates TLS: %v", fc.Name, terminates, cluster, originates)
			}
		}
		// On 443, the chain of a.example.com answers 421 for any other host, the catch-all's for a.example.com.
		for listener, domain := range map[string]string{"https-a": "*", "https": "a.example.com"} {
			name := "https-443/Gateway/" + ns + "/edge/" + listener
			rc, ok := fleet.Resources(resource.RouteType)[name].(*routev3.RouteConfiguration)
			if !ok {
				return fmt.Errorf("route configuration %s not received: %v", name, fleet.Names(resource.RouteType))
			}
			if !misdirectedDomain(rc, domain) {
				return fmt.Errorf("route configuration %s: no 421 for %s", name, domain)
			}
		}
		return nil
	})
}

// tcpCluster is the one cluster a chain's tcp_proxy sends to.
func tcpCluster(fc *listenerv3.FilterChain) (string, error) {
	if len(fc.GetFilters()) != 1 {
		return "", fmt.Errorf("chain %s: %d filters", fc.Name, len(fc.GetFilters()))
	}
	tp := &tcpproxyv3.TcpProxy{}
	if err := fc.GetFilters()[0].GetTypedConfig().UnmarshalTo(tp); err != nil {
		return "", fmt.Errorf("chain %s: %w", fc.Name, err)
	}
	return tp.GetCluster(), nil
}

// misdirectedDomain says whether a route configuration answers 421 for domain d.
func misdirectedDomain(rc *routev3.RouteConfiguration, d string) bool {
	for _, vh := range rc.GetVirtualHosts() {
		for _, dom := range vh.GetDomains() {
			if dom == d && len(vh.GetRoutes()) == 1 && vh.GetRoutes()[0].GetName() == translate.MisdirectedRoute &&
				vh.GetRoutes()[0].GetDirectResponse().GetStatus() == 421 {
				return true
			}
		}
	}
	return false
}
