package translate

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
)

// BenchmarkProtections is BenchmarkTranslate's input with every route's rules naming a
// RouteFilter of the route's own (no two routes share one, so nothing is packed once for many)
// that sets every protection: client access, a per-client rate limit with exemptions, basic
// auth, external auth with a sign-in redirect, and a body size limit.
func BenchmarkProtections(b *testing.B) {
	for _, n := range []int{1000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			in := protectedInput(n)
			b.ReportAllocs()
			for b.Loop() {
				res := gatewayapi.Resolve(in)
				if _, err := Translate(&res.Fleet, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func protectedInput(n int) gatewayapi.Input {
	in := benchInput(n)
	const ns = "bench"
	users := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "users"},
		Data: map[string][]byte{"auth": []byte("alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\nbob:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=\n")}}
	in.Secrets = append(in.Secrets, gatewayapi.SecretInfoFrom(users))
	in.Services = append(in.Services, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "oauth2-proxy"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 4180}}}})
	port, path, signIn := gwapiv1.PortNumber(4180), "/oauth2/auth", "https://$host/oauth2/start?rd=$escaped_request_uri"
	burst := int32(50)
	for i, rt := range in.HTTPRoutes {
		name := fmt.Sprintf("protect-%d", i)
		in.RouteFilters = append(in.RouteFilters, &flotillav1alpha1.RouteFilter{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: flotillav1alpha1.RouteFilterSpec{
				ClientAccess: &flotillav1alpha1.ClientAccess{Allow: []flotillav1alpha1.CIDR{"10.0.0.0/8", flotillav1alpha1.CIDR(fmt.Sprintf("192.168.%d.0/24", i%250))},
					Deny: []flotillav1alpha1.CIDR{"10.6.6.0/24"}},
				RateLimit: &flotillav1alpha1.RateLimit{Limits: []flotillav1alpha1.Limit{{Requests: int32(10 + i), Unit: flotillav1alpha1.RateLimitSecond, Burst: &burst},
					{Requests: 600, Unit: flotillav1alpha1.RateLimitMinute}}, Exempt: []flotillav1alpha1.CIDR{"10.1.0.0/16"}},
				BasicAuth: &flotillav1alpha1.BasicAuth{SecretRef: gwapiv1.SecretObjectReference{Name: "users"}, Realm: fmt.Sprintf("realm-%d", i%10)},
				ExternalAuth: &flotillav1alpha1.ExternalAuth{BackendRef: gwapiv1.BackendObjectReference{Name: "oauth2-proxy", Port: &port},
					Path: &path, SignIn: &signIn, ResponseHeaders: []gwapiv1.HTTPHeaderName{"X-Auth-Request-User"}},
				RequestBody: &flotillav1alpha1.RequestBody{MaxSize: apiresource.MustParse(fmt.Sprintf("%dMi", 1+i%8))},
			}})
		ref := gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterExtensionRef, ExtensionRef: &gwapiv1.LocalObjectReference{
			Group: "gateway.flotilla.dev", Kind: "RouteFilter", Name: gwapiv1.ObjectName(name)}}
		for j := range rt.Spec.Rules {
			rule := &rt.Spec.Rules[j]
			rule.Filters = append(append([]gwapiv1.HTTPRouteFilter(nil), rule.Filters...), ref)
		}
	}
	return in
}

// The benchmark's input is what it says: every route protected by every filter, and valid.
func TestProtectedInput(t *testing.T) {
	res := gatewayapi.Resolve(protectedInput(20))
	out, err := Translate(&res.Fleet, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkResources(t, out)
	n := 0
	for _, rc := range out.Routes {
		for _, vh := range rc.VirtualHosts {
			for _, rt := range vh.Routes {
				if len(rt.TypedPerFilterConfig) != 6 || rt.GetRoute() == nil {
					t.Fatalf("route %s: %d filter configs, action %T", rt.Name, len(rt.TypedPerFilterConfig), rt.Action)
				}
				n++
			}
		}
	}
	if n != 40 {
		t.Errorf("%d routes, want 40", n)
	}
}
