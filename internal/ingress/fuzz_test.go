package ingress_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/ingress"
	"github.com/flotilla-dev/flotilla/internal/xds/translate"
)

var classes = []ingress.Class{{Name: "nginx", Spec: flotillav1alpha1.IngressClassConfigSpec{GatewayRef: flotillav1alpha1.GatewayReference{Namespace: "infra", Name: "gw"}}}}

func fuzzGateway() *gwapiv1.Gateway {
	return &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "gw"}, Spec: gwapiv1.GatewaySpec{Listeners: []gwapiv1.Listener{
		{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType, AllowedRoutes: &gwapiv1.AllowedRoutes{Namespaces: &gwapiv1.RouteNamespaces{From: ptr(gwapiv1.NamespacesFromAll)}}},
		{Name: "https", Port: 443, Protocol: gwapiv1.HTTPSProtocolType, AllowedRoutes: &gwapiv1.AllowedRoutes{Namespaces: &gwapiv1.RouteNamespaces{From: ptr(gwapiv1.NamespacesFromAll)}},
			TLS: &gwapiv1.ListenerTLSConfig{CertificateRefs: []gwapiv1.SecretObjectReference{{Name: "cert"}}}},
	}}}
}

func ptr[T any](v T) *T { return &v }

// FuzzConvert feeds Ingresses with arbitrary hosts, paths, path types and annotation values: the
// conversion, resolution and translation never panic, and translation never fails (a failure
// would be a bug that stops the whole fleet's updates).
func FuzzConvert(f *testing.F) {
	f.Add("shop.example.com", "/store(/|$)(.*)", "ImplementationSpecific", "rewrite-target", "/$2", "use-regex", "true")
	f.Add("a.example.com", "/api", "Prefix", "permanent-redirect", "https://b.example.com/x?y=1", "permanent-redirect-code", "308")
	f.Add("", "/", "Exact", "app-root", "/home", "ssl-redirect", "false")
	f.Add("*.example.com", "/[", "ImplementationSpecific", "use-regex", "true", "backend-protocol", "GRPCS")
	f.Add("x.example.com", "/a", "Prefix", "upstream-vhost", "in.example.com", "x-forwarded-prefix", "/p")
	f.Add("c.example.com", "/", "Prefix", "enable-cors", "true", "cors-allow-origin", "https://*.example.com, null, https://a.example.com:8443")
	f.Add("c.example.com", "/", "Prefix", "enable-cors", "true", "cors-max-age", "0")
	f.Add("s.example.com", "/cart", "Prefix", "affinity", "cookie", "session-cookie-path", "/cart")
	f.Add("s.example.com", "/v[0-9]+", "ImplementationSpecific", "affinity", "cookie", "use-regex", "true")
	f.Add("s.example.com", "/", "Exact", "session-cookie-name", "route", "affinity", "cookie")
	f.Add("h.example.com", "/", "Prefix", "upstream-hash-by", "$http_x_user_id", "load-balance", "ewma")
	f.Add("h.example.com", "/", "Prefix", "upstream-hash-by", "$cookie_session", "backend-protocol", "HTTPS")
	f.Add("h.example.com", "/", "Prefix", "upstream-hash-by", "$arg_t", "affinity", "cookie")
	// Ingress a as a canary of b (same host, path and type; another Service).
	f.Add("c.example.com", "/info", "Prefix", "canary", "true", "canary-by-cookie", "Canary-By-Cookie")
	f.Add("c.example.com", "/(.*)", "ImplementationSpecific", "canary", "true", "canary-weight", "50")
	f.Add("", "/", "Exact", "canary", "true", "canary-by-header", "X-Canary")
	f.Fuzz(func(t *testing.T, host, path, typ, k1, v1, k2, v2 string) {
		pt := networkingv1.PathType(typ)
		mk := func(name string, age int, ann map[string]string, svc string) *networkingv1.Ingress {
			return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, Annotations: ann,
				CreationTimestamp: metav1.NewTime(time.Unix(int64(age), 0))},
				Spec: networkingv1.IngressSpec{IngressClassName: ptr("nginx"),
					TLS: []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: "tls"}},
					Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
						Paths: []networkingv1.HTTPIngressPath{{Path: path, PathType: &pt, Backend: networkingv1.IngressBackend{
							Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 8080}}}}}}}}}}}
		}
		const p = "nginx.ingress.kubernetes.io/"
		ings := []*networkingv1.Ingress{mk("a", 1, map[string]string{p + k1: v1, p + k2: v2}, "web-canary"), mk("b", 2, nil, "web")}
		in := gatewayapi.Input{Gateway: fuzzGateway(), ControllerName: "gateway.flotilla.dev/controller",
			Services: []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8080}}}},
				{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web-canary"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8080}}}}}}
		in.Ingresses = ingress.Convert(classes, ings).Routes
		res := gatewayapi.Resolve(in)
		if _, err := translate.Translate(&res.Fleet, map[string]translate.TLSSecret{}); err != nil {
			t.Fatalf("translation failed: %v", err)
		}
	})
}

// BenchmarkConvertResolve is the cost of converting and resolving n Ingresses (one host, two
// paths each, half of them in regex mode) on one Gateway.
func BenchmarkConvertResolve(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("ingresses=%d", n), func(b *testing.B) {
			var ings []*networkingv1.Ingress
			var svcs []*corev1.Service
			pt := networkingv1.PathTypePrefix
			for i := range n {
				ann := map[string]string{}
				if i%2 == 0 {
					ann["nginx.ingress.kubernetes.io/rewrite-target"] = "/$2"
				}
				name := fmt.Sprintf("app-%d", i)
				svcs = append(svcs, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8080}}}})
				backend := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Number: 8080}}}
				ings = append(ings, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, Annotations: ann,
					CreationTimestamp: metav1.NewTime(time.Unix(int64(i), 0))},
					Spec: networkingv1.IngressSpec{IngressClassName: ptr("nginx"), Rules: []networkingv1.IngressRule{{Host: name + ".example.com",
						IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
							{Path: "/api", PathType: &pt, Backend: backend}, {Path: "/", PathType: &pt, Backend: backend}}}}}}}})
			}
			in := gatewayapi.Input{Gateway: fuzzGateway(), ControllerName: "gateway.flotilla.dev/controller", Services: svcs}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				conv := ingress.Convert(classes, ings)
				in.Ingresses = conv.Routes
				res := gatewayapi.Resolve(in)
				if len(res.Ingresses) != n || strings.Contains(fmt.Sprint(res.Ingresses[0].Problems), "no HTTP") {
					b.Fatalf("%d ingresses resolved", len(res.Ingresses))
				}
			}
		})
	}
}
