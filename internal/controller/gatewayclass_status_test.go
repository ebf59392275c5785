package controller

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestAcceptedCondition(t *testing.T) {
	valid := &flotillav1alpha1.FleetClass{ObjectMeta: metav1.ObjectMeta{Name: "fc"}}
	invalid := &flotillav1alpha1.FleetClass{ObjectMeta: metav1.ObjectMeta{Name: "fc"}, Spec: flotillav1alpha1.FleetClassSpec{
		Resources: &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		},
	}}
	ref := func(group, kind string, ns *string) *gwapiv1.ParametersReference {
		r := &gwapiv1.ParametersReference{Group: gwapiv1.Group(group), Kind: gwapiv1.Kind(kind), Name: "fc"}
		if ns != nil {
			r.Namespace = ptr.To(gwapiv1.Namespace(*ns))
		}
		return r
	}
	cases := []struct {
		name   string
		ref    *gwapiv1.ParametersReference
		found  *flotillav1alpha1.FleetClass
		status metav1.ConditionStatus
		msg    string
	}{
		{"no parametersRef", nil, nil, metav1.ConditionTrue, "default parameters"},
		{"valid FleetClass", ref("gateway.flotilla.dev", "FleetClass", nil), valid, metav1.ConditionTrue, `FleetClass "fc"`},
		{"wrong group", ref("core", "FleetClass", nil), nil, metav1.ConditionFalse, `not group "core" kind "FleetClass"`},
		{"wrong kind", ref("gateway.flotilla.dev", "ConfigMap", nil), nil, metav1.ConditionFalse, `not group "gateway.flotilla.dev" kind "ConfigMap"`},
		{"namespace set", ref("gateway.flotilla.dev", "FleetClass", ptr.To("team-a")), valid, metav1.ConditionFalse, `parametersRef.namespace must not be set: FleetClass "fc" is cluster-scoped (got namespace "team-a")`},
		{"not found", ref("gateway.flotilla.dev", "FleetClass", nil), nil, metav1.ConditionFalse, `FleetClass "fc" not found`},
		{"invalid FleetClass", ref("gateway.flotilla.dev", "FleetClass", nil), invalid, metav1.ConditionFalse, `FleetClass "fc" is invalid: spec.resources.requests[cpu]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gc := &gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Generation: 3}, Spec: gwapiv1.GatewayClassSpec{ControllerName: ControllerName, ParametersRef: tc.ref}}
			c := acceptedCondition(gc, paramsLookup{fleetClass: tc.found})
			wantReason := string(gwapiv1.GatewayClassReasonAccepted)
			if tc.status == metav1.ConditionFalse {
				wantReason = string(gwapiv1.GatewayClassReasonInvalidParameters)
			}
			if c.Type != "Accepted" || c.Status != tc.status || c.Reason != wantReason || c.ObservedGeneration != 3 {
				t.Fatalf("got %+v, want %s/%s at generation 3", c, tc.status, wantReason)
			}
			if !strings.Contains(c.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", c.Message, tc.msg)
			}
		})
	}
}

func TestSupportedVersionCondition(t *testing.T) {
	crd := func(name, version string) metav1.PartialObjectMetadata {
		m := metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if version != "" {
			m.Annotations = map[string]string{"gateway.networking.k8s.io/bundle-version": version}
		}
		return m
	}
	cases := []struct {
		name   string
		crds   []metav1.PartialObjectMetadata
		status metav1.ConditionStatus
		msg    string
	}{
		{"same patch", []metav1.PartialObjectMetadata{crd("gateways.gateway.networking.k8s.io", "v1.6.3")}, metav1.ConditionTrue, "Gateway API v1.6.3 installed"},
		{"other patch of the minor", []metav1.PartialObjectMetadata{crd("gateways.gateway.networking.k8s.io", "v1.6.0"), crd("httproutes.gateway.networking.k8s.io", "v1.6.3")}, metav1.ConditionTrue, "v1.6.0, v1.6.3 installed"},
		{"older minor", []metav1.PartialObjectMetadata{crd("gateways.gateway.networking.k8s.io", "v1.6.3"), crd("httproutes.gateway.networking.k8s.io", "v1.5.1")}, metav1.ConditionFalse, "httproutes.gateway.networking.k8s.io (v1.5.1); Flotilla supports Gateway API v1.6.x"},
		{"no annotation", []metav1.PartialObjectMetadata{crd("gateways.gateway.networking.k8s.io", "")}, metav1.ConditionFalse, "gateways.gateway.networking.k8s.io (no bundle-version annotation)"},
		{"garbage version", []metav1.PartialObjectMetadata{crd("gateways.gateway.networking.k8s.io", "latest")}, metav1.ConditionFalse, "(latest)"},
		{"no CRDs", nil, metav1.ConditionFalse, "no Gateway API CRDs found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := supportedVersionCondition(tc.crds, 5)
			if c.Status != tc.status || c.ObservedGeneration != 5 || !strings.Contains(c.Message, tc.msg) {
				t.Fatalf("got %+v, want status %s and message containing %q", c, tc.status, tc.msg)
			}
		})
	}
}

func TestIsGatewayAPICRD(t *testing.T) {
	for name, want := range map[string]bool{
		"gateways.gateway.networking.k8s.io":                  true,
		"xbackendtrafficpolicies.gateway.networking.x-k8s.io": true,
		"inferencepools.inference.networking.k8s.io":          false,
		"fleetclasses.gateway.flotilla.dev":                   false,
	} {
		if got := isGatewayAPICRD(name); got != want {
			t.Errorf("isGatewayAPICRD(%q) = %v", name, got)
		}
	}
}

func TestWithUnservedNamesMissingKinds(t *testing.T) {
	ok := metav1.Condition{Status: metav1.ConditionTrue, Message: "accepted"}
	if got := withUnserved(ok, []string{"TCPRoute", "UDPRoute"}).Message; got != "accepted; not served because their CRDs were not installed when Flotilla started: TCPRoute, UDPRoute" {
		t.Errorf("message %q", got)
	}
	if got := withUnserved(ok, nil).Message; got != "accepted" {
		t.Errorf("message with nothing missing %q", got)
	}
	refused := metav1.Condition{Status: metav1.ConditionFalse, Message: "bad"}
	if got := withUnserved(refused, []string{"TCPRoute"}).Message; got != "bad" {
		t.Errorf("a refusal's message must stay about the refusal: %q", got)
	}
}
