package integration

import (
	"fmt"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/internal/xds/translate"
)

// Ingress access, limit and auth annotations on the real API server: whitelist-source-range and
// limit-rps enable rbac and local_ratelimit on the Ingress's route (and the class's 1m body limit
// on every served Ingress); auth-type basic with an auth-secret that does not exist answers 500
// (never served unprotected) with a Warning Event on the Ingress, and creating the Secret serves
// it with basic_auth; auth-url to a Service of the namespace is checked by ext_authz through that
// Service's cluster, and an auth-url Flotilla cannot honour (another host) refuses the Ingress;
// mirror-target copies every request to a Service of the namespace.
func TestIngressProtections(t *testing.T) {
	tenantClass(t, "ingress-prot", nil)
	const ns = "team-ingress-prot"
	namespace(t, ns, nil)
	gw := gateway(ns, "edge", "ingress-prot", nil)
	create(t, gw)
	for _, name := range []string{"web", "oauth2-proxy", "shadow"} {
		create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8080}}, Selector: map[string]string{"app": name}}})
	}
	ingressClass(t, "prot-nginx", ns, "edge")
	class := ptr.To("prot-nginx")
	const p = "nginx.ingress.kubernetes.io/"
	office := simpleIngress(ns, "office", class, "office.example.com", "/", networkingv1.PathTypePrefix,
		map[string]string{p + "whitelist-source-range": "10.0.0.0/8, 192.168.1.7", p + "limit-rps": "5"})
	basic := simpleIngress(ns, "basic", class, "basic.example.com", "/", networkingv1.PathTypePrefix,
		map[string]string{p + "auth-type": "basic", p + "auth-secret": "users", p + "auth-realm": "Team"})
	sso := simpleIngress(ns, "sso", class, "sso.example.com", "/", networkingv1.PathTypePrefix,
		map[string]string{p + "auth-url": "http://oauth2-proxy." + ns + ".svc.cluster.local:8080/oauth2/auth",
			p + "auth-signin": "https://sso.example.com/oauth2/start?rd=$escaped_request_uri", p + "auth-response-headers": "X-Auth-Request-User"})
	external := simpleIngress(ns, "external", class, "external.example.com", "/", networkingv1.PathTypePrefix,
		map[string]string{p + "auth-url": "https://auth.example.net/check"})
	mirror := simpleIngress(ns, "mirror", class, "mirror.example.com", "/", networkingv1.PathTypePrefix,
		map[string]string{p + "mirror-target": "http://shadow:8080$request_uri"})
	for _, o := range []client.Object{office, basic, sso, external, mirror} {
		create(t, o)
	}

	c := dialFleet(t, fleetTLS(t, gw), ns+"/edge")
	const ing = "Ingress/" + ns + "/"
	waitXDS(t, c, "protected Ingress routes", func() error {
		o := xdsRoute(c, ing+"office/rule/0/match/0")
		if o == nil || o.GetTypedPerFilterConfig()[translate.NameRBAC] == nil || o.GetTypedPerFilterConfig()[translate.NameLocalRateLimit] == nil ||
			o.GetTypedPerFilterConfig()[translate.BodySizeLimitFilterName(1<<20)] == nil {
			return fmt.Errorf("office route %v", o)
		}
		b := xdsRoute(c, ing+"basic/rule/0/match/0")
		if b == nil || b.GetDirectResponse().GetStatus() != 500 {
			return fmt.Errorf("basic route without its Secret: %v, want a 500", b)
		}
		s := xdsRoute(c, ing+"sso/rule/0/match/0")
		if s == nil || s.GetTypedPerFilterConfig()[translate.NameExtAuthz] == nil || s.GetTypedPerFilterConfig()[translate.NameCustomResponse] == nil ||
			s.GetRoute().GetCluster() != ns+"/web/8080/http" {
			return fmt.Errorf("sso route %v", s)
		}
		if m := xdsRoute(c, ing+"mirror/rule/0/match/0"); m == nil || len(m.GetRoute().GetRequestMirrorPolicies()) != 1 ||
			m.GetRoute().GetRequestMirrorPolicies()[0].GetCluster() != ns+"/shadow/8080/http" {
			return fmt.Errorf("mirror route %v", m)
		}
		if xdsRoute(c, ing+"external/rule/0/match/0") != nil {
			return fmt.Errorf("the Ingress with an external auth-url is served")
		}
		hasAuthCluster := false
		for _, m := range c.Resources(resource.ClusterType) {
			hasAuthCluster = hasAuthCluster || m.(interface{ GetName() string }).GetName() == ns+"/oauth2-proxy/8080/http"
		}
		if !hasAuthCluster {
			return fmt.Errorf("no cluster for the authorization Service")
		}
		return nil
	})
	waitForNamespacedEvent(t, basic, corev1.EventTypeWarning, "IngressProblem", "users")
	waitForNamespacedEvent(t, external, corev1.EventTypeWarning, "AnnotationNotSupported", "auth-url")

	// The Secret created: basic auth serves, Authorization stripped upstream.
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "users"},
		Data: map[string][]byte{"auth": []byte("alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n")}})
	waitXDS(t, c, "basic auth once its Secret exists", func() error {
		b := xdsRoute(c, ing+"basic/rule/0/match/0")
		if b == nil || b.GetRoute().GetCluster() != ns+"/web/8080/http" || b.GetTypedPerFilterConfig()[translate.BasicAuthFilterName("Team")] == nil {
			return fmt.Errorf("basic route %v", b)
		}
		return nil
	})
}
