package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/controller"
)

func httpRoute(ns, name string, parents []gwapiv1.ParentReference, backends ...string) *gwapiv1.HTTPRoute {
	rt := &gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: gwapiv1.HTTPRouteSpec{CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: parents}}}
	rule := gwapiv1.HTTPRouteRule{}
	for _, b := range backends {
		rule.BackendRefs = append(rule.BackendRefs, gwapiv1.HTTPBackendRef{BackendRef: gwapiv1.BackendRef{
			BackendObjectReference: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(b), Port: ptr.To[gwapiv1.PortNumber](8080)}}})
	}
	rt.Spec.Rules = []gwapiv1.HTTPRouteRule{rule}
	return rt
}

// routeParent waits for the route's parent entry for parentRef name (ours) to have the condition.
func routeParent(t *testing.T, rt *gwapiv1.HTTPRoute, gateway, typ, status, reason string) gwapiv1.RouteParentStatus {
	t.Helper()
	var got gwapiv1.RouteParentStatus
	eventually(t, 20*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.HTTPRoute{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(rt), cur); err != nil {
			return err
		}
		for _, p := range cur.Status.Parents {
			if p.ControllerName != controller.ControllerName || string(p.ParentRef.Name) != gateway {
				continue
			}
			c := meta.FindStatusCondition(p.Conditions, typ)
			if c != nil && string(c.Status) == status && c.Reason == reason && c.ObservedGeneration == cur.Generation {
				got = p
				return nil
			}
			return fmt.Errorf("parent %s: %s = %+v", gateway, typ, c)
		}
		return fmt.Errorf("no parent entry of ours for %s in %+v", gateway, cur.Status.Parents)
	})
	return got
}

func TestHTTPRouteAttachmentAndStatus(t *testing.T) {
	tenantClass(t, "routes", nil)
	namespace(t, "team-routes", nil)
	gw := gateway("team-routes", "edge", "routes", nil)
	create(t, gw)
	gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)
	create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team-routes", Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8080}}, Selector: map[string]string{"app": "web"}}})

	// Another controller's entry on the route must survive our writes.
	good := httpRoute("team-routes", "good", []gwapiv1.ParentReference{{Name: "edge", SectionName: ptr.To[gwapiv1.SectionName]("http")}}, "web")
	create(t, good)
	routeParent(t, good, "edge", "Accepted", "True", "Accepted")
	routeParent(t, good, "edge", "ResolvedRefs", "True", "ResolvedRefs")

	missing := httpRoute("team-routes", "missing-backend", []gwapiv1.ParentReference{{Name: "edge"}}, "nope")
	create(t, missing)
	p := routeParent(t, missing, "edge", "ResolvedRefs", "False", "BackendNotFound")
	waitForNamespacedEvent(t, missing, corev1.EventTypeWarning, "BackendNotFound", "nope")
	if c := meta.FindStatusCondition(p.Conditions, "Accepted"); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("a route with a missing backend is still accepted: %+v", p.Conditions)
	}
	wrongSection := httpRoute("team-routes", "wrong-section", []gwapiv1.ParentReference{{Name: "edge", SectionName: ptr.To[gwapiv1.SectionName]("nope")}}, "web")
	create(t, wrongSection)
	routeParent(t, wrongSection, "edge", "Accepted", "False", "NoMatchingParent")

	// attachedRoutes counts the accepted routes on the http listener; the UDP listener has none.
	eventually(t, 20*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.Gateway{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(gw), cur); err != nil {
			return err
		}
		for _, l := range cur.Status.Listeners {
			if l.Name == "http" && l.AttachedRoutes == 2 {
				return nil
			}
		}
		return fmt.Errorf("listeners %+v", cur.Status.Listeners)
	})

	// A route that stops naming the Gateway loses our entry, and only ours.
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.HTTPRoute{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(good), cur); err != nil {
			return err
		}
		cur.Status.Parents = append(cur.Status.Parents, gwapiv1.RouteParentStatus{
			ParentRef: gwapiv1.ParentReference{Name: "elsewhere"}, ControllerName: "example.com/other",
			Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", LastTransitionTime: metav1.Now()}},
		})
		return k8s.Status().Update(ctx, cur)
	})
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.HTTPRoute{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(good), cur); err != nil {
			return err
		}
		cur.Spec.ParentRefs = []gwapiv1.ParentReference{{Name: "elsewhere"}}
		return k8s.Update(ctx, cur)
	})
	eventually(t, 20*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.HTTPRoute{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(good), cur); err != nil {
			return err
		}
		var names []string
		for _, p := range cur.Status.Parents {
			names = append(names, string(p.ControllerName)+"/"+string(p.ParentRef.Name))
		}
		if len(cur.Status.Parents) != 1 || cur.Status.Parents[0].ControllerName != "example.com/other" {
			return fmt.Errorf("parents %s, want only example.com/other's", strings.Join(names, ", "))
		}
		return nil
	})
}

// A route whose parent is not a Flotilla Gateway is never touched.
func TestRoutesOfOtherControllersAreNotTouched(t *testing.T) {
	create(t, &gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "not-ours"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: "example.com/other"}})
	namespace(t, "team-other", nil)
	gw := gateway("team-other", "theirs", "not-ours", nil)
	create(t, gw)
	rt := httpRoute("team-other", "theirs", []gwapiv1.ParentReference{{Name: "theirs"}}, "web")
	create(t, rt)
	time.Sleep(2 * time.Second)
	cur := &gwapiv1.HTTPRoute{}
	get(t, client.ObjectKeyFromObject(rt), cur)
	if len(cur.Status.Parents) != 0 {
		t.Errorf("route of another controller's Gateway got status %+v", cur.Status.Parents)
	}
	cg := &gwapiv1.Gateway{}
	get(t, client.ObjectKeyFromObject(gw), cg)
	for _, c := range cg.Status.Conditions {
		if c.Reason != "Pending" {
			t.Errorf("another controller's Gateway got condition %+v", c)
		}
	}
}

// What translation cannot give Envoy as written (the CRD admits it: removing the Host header,
// which Envoy refuses to do) is on the route's status and in an Event, not only in a log line:
// the route stays Accepted, PartiallyInvalid=True (UnsupportedValue) names the rule and says what
// happens instead, and fixing the route clears it.
func TestUntranslatableRuleReachesStatus(t *testing.T) {
	tenantClass(t, "untranslatable", nil)
	ns := "team-untranslatable"
	namespace(t, ns, nil)
	gw := gateway(ns, "edge", "untranslatable", nil)
	create(t, gw)
	create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8080}}, Selector: map[string]string{"app": "web"}}})
	rt := httpRoute(ns, "crlf", []gwapiv1.ParentReference{{Name: "edge"}}, "web")
	rt.Spec.Rules[0].Filters = []gwapiv1.HTTPRouteFilter{{Type: gwapiv1.HTTPRouteFilterRequestHeaderModifier,
		RequestHeaderModifier: &gwapiv1.HTTPHeaderFilter{Set: []gwapiv1.HTTPHeader{{Name: "X-Team", Value: "a"}}, Remove: []string{"Host"}}}}
	ok := rt.Spec.Rules[0].DeepCopy()
	ok.Filters = nil
	ok.Matches = []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: ptr.To(gwapiv1.PathMatchPathPrefix), Value: ptr.To("/ok")}}}
	rt.Spec.Rules = append(rt.Spec.Rules, *ok)
	create(t, rt)

	p := routeParent(t, rt, "edge", string(gwapiv1.RouteConditionPartiallyInvalid), "True", string(gwapiv1.RouteReasonUnsupportedValue))
	c := meta.FindStatusCondition(p.Conditions, string(gwapiv1.RouteConditionPartiallyInvalid))
	if !strings.Contains(c.Message, "rule 0 match 0") || !strings.Contains(c.Message, "Host header cannot be removed; ignored") {
		t.Errorf("PartiallyInvalid message %q does not say which rule, which header and what happens", c.Message)
	}
	if strings.Contains(c.Message, "rule 1") {
		t.Errorf("the valid rule is reported too: %q", c.Message)
	}
	if a := meta.FindStatusCondition(p.Conditions, string(gwapiv1.RouteConditionAccepted)); a == nil || a.Status != metav1.ConditionTrue {
		t.Errorf("the route's other rule is served, so it stays Accepted: %+v", p.Conditions)
	}
	waitForNamespacedEvent(t, rt, corev1.EventTypeWarning, string(gwapiv1.RouteReasonUnsupportedValue), "Host header cannot be removed")

	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.HTTPRoute{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(rt), cur); err != nil {
			return err
		}
		cur.Spec.Rules[0].Filters[0].RequestHeaderModifier.Remove = nil
		return k8s.Update(ctx, cur)
	})
	eventually(t, 20*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.HTTPRoute{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(rt), cur); err != nil {
			return err
		}
		for _, p := range cur.Status.Parents {
			a := meta.FindStatusCondition(p.Conditions, string(gwapiv1.RouteConditionAccepted))
			if a == nil || a.ObservedGeneration != cur.Generation {
				return fmt.Errorf("not observed yet: %+v", p.Conditions)
			}
			if c := meta.FindStatusCondition(p.Conditions, string(gwapiv1.RouteConditionPartiallyInvalid)); c != nil {
				return fmt.Errorf("still %+v", c)
			}
		}
		return nil
	})
}
