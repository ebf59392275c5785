package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/xds/translate"
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
)

// routeFilterCondition waits for a RouteFilter's condition.
func routeFilterCondition(t *testing.T, rf *flotillav1alpha1.RouteFilter, typ string, status metav1.ConditionStatus, reason, msg string) {
	t.Helper()
	eventually(t, 20*time.Second, func(ctx context.Context) error {
		cur := &flotillav1alpha1.RouteFilter{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(rf), cur); err != nil {
			return err
		}
		c := meta.FindStatusCondition(cur.Status.Conditions, typ)
		if c == nil || c.Status != status || c.Reason != reason || !strings.Contains(c.Message, msg) || c.ObservedGeneration != cur.Generation {
			return fmt.Errorf("%s = %+v", typ, c)
		}
		return nil
	})
}

// xdsRoute is the route of that name the client accepted, nil when there is none.
func xdsRoute(c *xdstest.Client, name string) *routev3.Route {
	for _, m := range c.Resources(resource.RouteType) {
		for _, vh := range m.(*routev3.RouteConfiguration).GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				if r.GetName() == name {
					return r
				}
			}
		}
	}
	return nil
}

func filterRef(name string) gwapiv1.HTTPRouteFilter {
	return gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterExtensionRef, ExtensionRef: &gwapiv1.LocalObjectReference{
		Group: gwapiv1.Group(flotillav1alpha1.GroupVersion.Group), Kind: flotillav1alpha1.RouteFilterKind, Name: gwapiv1.ObjectName(name)}}
}

// A RouteFilter whose Secret is missing, then holds bcrypt hashes, then SHA-1 ones: the filter
// and the route that names it say why (conditions, Warning Events), the protected rule answers
// 500 meanwhile (never served unprotected) while the route's other rule keeps serving, and the
// fixed Secret enables basic_auth for that rule alone. A cross-namespace authorization Service
// needs a ReferenceGrant. The API server refuses a RouteFilter whose CIDR does not parse.
func TestRouteFilterFailsClosed(t *testing.T) {
	tenantClass(t, "filters", nil)
	ns := "team-filters"
	namespace(t, ns, nil)
	namespace(t, "auth", nil)
	gw := gateway(ns, "edge", "filters", nil)
	create(t, gw)
	for _, svc := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8080}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "auth", Name: "oauth2-proxy"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 4180}}}},
	} {
		create(t, svc)
	}
	basic := &flotillav1alpha1.RouteFilter{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "basic"},
		Spec: flotillav1alpha1.RouteFilterSpec{BasicAuth: &flotillav1alpha1.BasicAuth{SecretRef: gwapiv1.SecretObjectReference{Name: "users"}, Realm: "Team"},
			RequestBody: &flotillav1alpha1.RequestBody{MaxSize: apiresource.MustParse("1Mi")}}}
	create(t, basic)
	rt := httpRoute(ns, "app", []gwapiv1.ParentReference{{Name: "edge"}}, "web")
	protected := rt.Spec.Rules[0]
	protected.Matches = []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: ptr.To(gwapiv1.PathMatchPathPrefix), Value: ptr.To("/admin")}}}
	protected.Filters = []gwapiv1.HTTPRouteFilter{filterRef("basic")}
	rt.Spec.Rules = append(rt.Spec.Rules, protected)
	create(t, rt)

	routeFilterCondition(t, basic, "ResolvedRefs", metav1.ConditionFalse, "SecretNotFound", "Secret team-filters/users does not exist")
	routeFilterCondition(t, basic, "Accepted", metav1.ConditionTrue, "Accepted", "")
	waitForNamespacedEvent(t, basic, corev1.EventTypeWarning, "SecretNotFound", "team-filters/users")
	routeParent(t, rt, "edge", "ResolvedRefs", "False", "InvalidRouteFilter")

	c := dialFleet(t, fleetTLS(t, gw), ns+"/edge")
	admin, open := "HTTPRoute/team-filters/app/rule/1/match/0", "HTTPRoute/team-filters/app/rule/0/match/0"
	waitXDS(t, c, "the protected rule answering 500, the other serving", func() error {
		a, o := xdsRoute(c, admin), xdsRoute(c, open)
		if a == nil || a.GetDirectResponse().GetStatus() != 500 || a.GetTypedPerFilterConfig() != nil {
			return fmt.Errorf("protected rule: %v", a)
		}
		if o == nil || o.GetRoute().GetCluster() != "team-filters/web/8080/http" {
			return fmt.Errorf("open rule: %v", o)
		}
		return nil
	})

	// bcrypt: Envoy cannot check it, so still refused (InvalidSecret), still 500.
	users := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "users"},
		Data: map[string][]byte{"auth": []byte("alice:$2y$05$Q3IuvdOQxXAz1qWq2y8yIO7f6xqv5m9mI5J3T1z1u5K6kZ5m1m1m2\n")}}
	create(t, users)
	routeFilterCondition(t, basic, "ResolvedRefs", metav1.ConditionFalse, "InvalidSecret", "bcrypt hashes cannot be checked by Envoy")
	waitForNamespacedEvent(t, basic, corev1.EventTypeWarning, "InvalidSecret", "htpasswd -s")

	// SHA-1: served, with basic_auth and the body limit on the protected rule alone.
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cur := &corev1.Secret{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(users), cur); err != nil {
			return err
		}
		cur.Data = map[string][]byte{"auth": []byte("alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n")}
		return k8s.Update(ctx, cur)
	})
	routeFilterCondition(t, basic, "ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs", "")
	routeParent(t, rt, "edge", "ResolvedRefs", "True", "ResolvedRefs")
	waitXDS(t, c, "basic auth on the protected rule", func() error {
		a, o := xdsRoute(c, admin), xdsRoute(c, open)
		auth := translate.BasicAuthFilterName("Team")
		if a == nil || a.GetRoute() == nil || a.GetTypedPerFilterConfig()[auth] == nil ||
			a.GetTypedPerFilterConfig()[translate.BodySizeLimitFilterName(1<<20)] == nil {
			return fmt.Errorf("protected rule: %v", a)
		}
		if o == nil || o.GetTypedPerFilterConfig() != nil {
			return fmt.Errorf("open rule: %v", o)
		}
		return nil
	})

	// An authorization Service of another namespace: refused until a ReferenceGrant allows it.
	sso := &flotillav1alpha1.RouteFilter{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sso"},
		Spec: flotillav1alpha1.RouteFilterSpec{ExternalAuth: &flotillav1alpha1.ExternalAuth{
			BackendRef: gwapiv1.BackendObjectReference{Name: "oauth2-proxy", Namespace: ptr.To[gwapiv1.Namespace]("auth"), Port: ptr.To[gwapiv1.PortNumber](4180)},
			Path:       ptr.To("/oauth2/auth")}}}
	create(t, sso)
	routeFilterCondition(t, sso, "ResolvedRefs", metav1.ConditionFalse, string(gwapiv1.RouteReasonRefNotPermitted), "no ReferenceGrant")
	create(t, &gwapiv1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "auth", Name: "sso"}, Spec: gwapiv1.ReferenceGrantSpec{
		From: []gwapiv1.ReferenceGrantFrom{{Group: gwapiv1.Group(flotillav1alpha1.GroupVersion.Group), Kind: flotillav1alpha1.RouteFilterKind, Namespace: gwapiv1.Namespace(ns)}},
		To:   []gwapiv1.ReferenceGrantTo{{Kind: "Service"}}}})
	routeFilterCondition(t, sso, "ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs", "")

	// The API server checks CIDRs and limits itself.
	for name, spec := range map[string]flotillav1alpha1.RouteFilterSpec{
		"bad-cidr":   {ClientAccess: &flotillav1alpha1.ClientAccess{Allow: []flotillav1alpha1.CIDR{"10.0.0.0/33"}}},
		"zero-limit": {RateLimit: &flotillav1alpha1.RateLimit{Limits: []flotillav1alpha1.Limit{{Requests: 0, Unit: flotillav1alpha1.RateLimitSecond}}}},
		"empty":      {},
	} {
		err := k8s.Create(context.Background(), &flotillav1alpha1.RouteFilter{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec})
		if err == nil {
			t.Errorf("RouteFilter %s was admitted", name)
		}
	}
}
