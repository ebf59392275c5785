package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
)

// ingressClass creates an IngressClass served by the Gateway ns/gw through an IngressClassConfig.
func ingressClass(t *testing.T, name, ns, gw string) {
	t.Helper()
	create(t, &flotillav1alpha1.IngressClassConfig{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: flotillav1alpha1.IngressClassConfigSpec{GatewayRef: flotillav1alpha1.GatewayReference{Namespace: ns, Name: gw}}})
	create(t, &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.IngressClassSpec{
		Controller: flotillav1alpha1.IngressController,
		Parameters: &networkingv1.IngressClassParametersReference{APIGroup: ptr.To(flotillav1alpha1.GroupVersion.Group),
			Kind: "IngressClassConfig", Name: name, Scope: ptr.To(networkingv1.IngressClassParametersReferenceScopeCluster)}}})
}

// simpleIngress is an Ingress of one host and one path to svc:8080.
func simpleIngress(ns, name string, class *string, host, path string, typ networkingv1.PathType, annotations map[string]string) *networkingv1.Ingress {
	return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Spec: networkingv1.IngressSpec{IngressClassName: class, Rules: []networkingv1.IngressRule{{Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: path, PathType: &typ, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "web", Port: networkingv1.ServiceBackendPort{Number: 8080}}}}}}}}}}}
}

// routeNames are the names of the routes of each virtual host domain the client accepted, in order.
func routeNames(c *xdstest.Client) map[string][]string {
	out := map[string][]string{}
	for _, m := range c.Resources(resource.RouteType) {
		for _, vh := range m.(*routev3.RouteConfiguration).GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				for _, d := range vh.GetDomains() {
					out[d] = append(out[d], r.GetName())
				}
			}
		}
	}
	return out
}

// Ingresses are served by the Gateway their IngressClass names, on its Envoys next to its
// HTTPRoutes: class selection (ingressClassName, the legacy annotation, another class left alone),
// status.loadBalancer from the Gateway's address, a refused Ingress (a snippet) with a Warning
// Event that breaks no other Ingress, and an HTTPRoute that overrides an Ingress path with the
// same match (Warning Event on the Ingress) and gives it back when deleted.
func TestIngressServedNextToHTTPRoutes(t *testing.T) {
	tenantClass(t, "ingress", nil)
	ns := "team-ingress"
	namespace(t, ns, nil)
	gw := gateway(ns, "edge", "ingress", nil)
	create(t, gw)
	create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8080}}, Selector: map[string]string{"app": "web"}}})
	ingressClass(t, "edge-nginx", ns, "edge")

	class := ptr.To("edge-nginx")
	shop := simpleIngress(ns, "shop", class, "shop.example.com", "/store(/|$)(.*)", networkingv1.PathTypeImplementationSpecific,
		map[string]string{"nginx.ingress.kubernetes.io/rewrite-target": "/$2"})
	legacy := simpleIngress(ns, "legacy", nil, "legacy.example.com", "/", networkingv1.PathTypePrefix,
		map[string]string{"kubernetes.io/ingress.class": "edge-nginx"})
	snippet := simpleIngress(ns, "snippet", class, "snippet.example.com", "/", networkingv1.PathTypePrefix,
		map[string]string{"nginx.ingress.kubernetes.io/configuration-snippet": "more_set_headers 'X: y';"})
	other := simpleIngress(ns, "other", ptr.To("someone-else"), "other.example.com", "/", networkingv1.PathTypePrefix, nil)
	for _, o := range []client.Object{shop, legacy, snippet, other} {
		create(t, o)
	}

	c := dialFleet(t, fleetTLS(t, gw), ns+"/edge")
	waitXDS(t, c, "Ingress routes", func() error {
		names := routeNames(c)
		if !slices.Equal(names["shop.example.com"], []string{"Ingress/team-ingress/shop/rule/0/match/0"}) ||
			!slices.Equal(names["legacy.example.com"], []string{"Ingress/team-ingress/legacy/rule/0/match/0"}) {
			return fmt.Errorf("routes %v", names)
		}
		if names["snippet.example.com"] != nil || names["other.example.com"] != nil {
			return fmt.Errorf("a refused or foreign Ingress is served: %v", names)
		}
		return nil
	})
	waitForNamespacedEvent(t, snippet, corev1.EventTypeWarning, "SnippetRefused", "configuration-snippet")

	// status.loadBalancer: the Gateway's address on the served Ingresses, nothing on the others.
	var addr string
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.Gateway{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(gw), cur); err != nil {
			return err
		}
		if len(cur.Status.Addresses) == 0 {
			return fmt.Errorf("no address yet")
		}
		addr = cur.Status.Addresses[0].Value
		return nil
	})
	eventually(t, 20*time.Second, func(ctx context.Context) error {
		for _, ing := range []*networkingv1.Ingress{shop, legacy} {
			cur := &networkingv1.Ingress{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(ing), cur); err != nil {
				return err
			}
			if lb := cur.Status.LoadBalancer.Ingress; len(lb) != 1 || lb[0].IP != addr {
				return fmt.Errorf("%s: loadBalancer %+v, want %s", ing.Name, lb, addr)
			}
		}
		return nil
	})
	for _, ing := range []*networkingv1.Ingress{snippet, other} {
		cur := &networkingv1.Ingress{}
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(ing), cur); err != nil {
			t.Fatal(err)
		}
		if len(cur.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("%s is not served but has loadBalancer %+v", ing.Name, cur.Status.LoadBalancer.Ingress)
		}
	}

	// An HTTPRoute with the same host and match wins, whatever its age; deleting it rolls back.
	rt := httpRoute(ns, "legacy-v2", []gwapiv1.ParentReference{{Name: "edge"}}, "web")
	rt.Spec.Hostnames = []gwapiv1.Hostname{"legacy.example.com"}
	rt.Spec.Rules[0].Matches = []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: ptr.To(gwapiv1.PathMatchPathPrefix), Value: ptr.To("/")}}}
	create(t, rt)
	waitXDS(t, c, "the HTTPRoute first", func() error {
		if n := routeNames(c)["legacy.example.com"]; len(n) == 0 || n[0] != "HTTPRoute/team-ingress/legacy-v2/rule/0/match/0" {
			return fmt.Errorf("legacy.example.com routes %v", n)
		}
		return nil
	})
	waitForNamespacedEvent(t, legacy, corev1.EventTypeWarning, "IngressProblem", "HTTPRoute team-ingress/legacy-v2")
	if err := k8s.Delete(context.Background(), rt); err != nil {
		t.Fatal(err)
	}
	waitXDS(t, c, "the Ingress back", func() error {
		if n := routeNames(c)["legacy.example.com"]; !slices.Equal(n, []string{"Ingress/team-ingress/legacy/rule/0/match/0"}) {
			return fmt.Errorf("legacy.example.com routes %v", n)
		}
		return nil
	})

	// Fixing the refused Ingress serves it; breaking the served one refuses it alone.
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cur := &networkingv1.Ingress{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(snippet), cur); err != nil {
			return err
		}
		delete(cur.Annotations, "nginx.ingress.kubernetes.io/configuration-snippet")
		return k8s.Update(ctx, cur)
	})
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cur := &networkingv1.Ingress{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(shop), cur); err != nil {
			return err
		}
		cur.Annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] = "soon"
		return k8s.Update(ctx, cur)
	})
	waitXDS(t, c, "one fixed, one refused", func() error {
		names := routeNames(c)
		if names["snippet.example.com"] == nil || names["shop.example.com"] != nil || names["legacy.example.com"] == nil {
			return fmt.Errorf("routes %v", names)
		}
		return nil
	})
	waitForNamespacedEvent(t, shop, corev1.EventTypeWarning, "InvalidAnnotation", "proxy-read-timeout")

	// An Ingress that leaves the class loses the Gateway's address (and its routes).
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cur := &networkingv1.Ingress{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(legacy), cur); err != nil {
			return err
		}
		cur.Annotations["kubernetes.io/ingress.class"] = "someone-else"
		return k8s.Update(ctx, cur)
	})
	eventually(t, 20*time.Second, func(ctx context.Context) error {
		cur := &networkingv1.Ingress{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(legacy), cur); err != nil {
			return err
		}
		if len(cur.Status.LoadBalancer.Ingress) != 0 {
			return fmt.Errorf("still %+v", cur.Status.LoadBalancer.Ingress)
		}
		return nil
	})
	waitXDS(t, c, "the departed Ingress unserved", func() error {
		if n := routeNames(c)["legacy.example.com"]; n != nil {
			return fmt.Errorf("legacy.example.com routes %v", n)
		}
		return nil
	})

	// The Gateway deleted: its classes' Ingresses lose its address (nothing serves them).
	eventually(t, 20*time.Second, func(ctx context.Context) error {
		cur := &networkingv1.Ingress{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(snippet), cur); err != nil {
			return err
		}
		if lb := cur.Status.LoadBalancer.Ingress; len(lb) != 1 || lb[0].IP != addr {
			return fmt.Errorf("the fixed Ingress has loadBalancer %+v, want %s", lb, addr)
		}
		return nil
	})
	if err := k8s.Delete(context.Background(), gw); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func(ctx context.Context) error {
		cur := &networkingv1.Ingress{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(snippet), cur); err != nil {
			return err
		}
		if len(cur.Status.LoadBalancer.Ingress) != 0 {
			return fmt.Errorf("still %+v", cur.Status.LoadBalancer.Ingress)
		}
		return nil
	})
}
