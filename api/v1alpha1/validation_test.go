package v1alpha1

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFleetClassValidate(t *testing.T) {
	cases := []struct {
		name string
		spec FleetClassSpec
		want string // "" means valid
	}{
		{"empty spec", FleetClassSpec{}, ""},
		{"request above limit", FleetClassSpec{Resources: &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
		}}, `spec.resources.requests[memory]: Invalid value: "2Gi": must be less than or equal to the memory limit 1Gi`},
		{"request equal to limit", FleetClassSpec{Resources: &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000m")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		}}, ""},
		{"bad pod label key", FleetClassSpec{Pod: &PodMetadata{Labels: map[string]string{"a b": "c"}}}, "spec.pod.labels"},
		{"bad pod label value", FleetClassSpec{Pod: &PodMetadata{Labels: map[string]string{"team": "a b"}}}, "spec.pod.labels"},
		{"bad service annotation", FleetClassSpec{Service: ServiceSpec{Annotations: map[string]string{"/x": "y"}}}, "spec.service.annotations"},
		{"static address prefixes", FleetClassSpec{Service: ServiceSpec{StaticAddresses: &StaticAddresses{
			Carrier: StaticAddressExternalIPs, CIDRs: []IPPrefix{"203.0.113.0/24", "2001:db8::/64"}}}}, ""},
		{"static address prefix with host bits", FleetClassSpec{Service: ServiceSpec{StaticAddresses: &StaticAddresses{
			Carrier: StaticAddressExternalIPs, CIDRs: []IPPrefix{"203.0.113.0/24", "10.1.2.3/8"}}}}, "spec.service.staticAddresses.cidrs[1]"},
		{"static address as a bare IP", FleetClassSpec{Service: ServiceSpec{StaticAddresses: &StaticAddresses{
			Carrier: StaticAddressClusterIP, CIDRs: []IPPrefix{"10.1.2.3"}}}}, "spec.service.staticAddresses.cidrs[0]"},
		{"bad static address annotation", FleetClassSpec{Service: ServiceSpec{StaticAddresses: &StaticAddresses{
			Carrier: StaticAddressAnnotation, AnnotationKey: "x/" + strings.Repeat("a", 64), CIDRs: []IPPrefix{"10.0.0.0/8"}}}}, "spec.service.staticAddresses.annotationKey"},
		{"bad node selector", FleetClassSpec{Scheduling: &Scheduling{NodeSelector: map[string]string{"zone": "-x-"}}}, "spec.scheduling.nodeSelector"},
		{"bad namespace selector", FleetClassSpec{Tenancy: &Tenancy{NamespaceSelector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Near"}},
		}}}, "spec.tenancy.namespaceSelector"},
		{"zero resource bound", FleetClassSpec{Tenancy: &Tenancy{Overrides: &OverrideBounds{Resources: &ResourceBounds{
			Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0")},
		}}}}, "spec.tenancy.overrides.resources.max[cpu]: Invalid value: \"0\": must be greater than zero"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := (&FleetClass{Spec: tc.spec}).Validate()
			cond := AcceptedCondition(errs, 7)
			if cond.ObservedGeneration != 7 {
				t.Errorf("observedGeneration = %d", cond.ObservedGeneration)
			}
			if tc.want == "" {
				if len(errs) != 0 || cond.Status != metav1.ConditionTrue || cond.Reason != ReasonAccepted {
					t.Fatalf("want valid, got %v (%+v)", errs, cond)
				}
				return
			}
			if cond.Status != metav1.ConditionFalse || cond.Reason != ReasonInvalid || !strings.Contains(cond.Message, tc.want) {
				t.Fatalf("condition %+v does not report %q", cond, tc.want)
			}
		})
	}
}

func TestFleetConfigValidate(t *testing.T) {
	ok := &FleetConfig{Spec: FleetConfigSpec{Service: &FleetConfigService{Annotations: map[string]string{"example.com/lb": "internal"}}}}
	if errs := ok.Validate(); len(errs) != 0 {
		t.Fatalf("valid FleetConfig refused: %v", errs)
	}
	bad := &FleetConfig{Spec: FleetConfigSpec{
		Service: &FleetConfigService{Annotations: map[string]string{"bad key": "x"}},
		Resources: &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
		},
	}}
	errs := bad.Validate()
	if len(errs) != 2 {
		t.Fatalf("want 2 errors (annotation key, cpu request), got %v", errs)
	}
	msg := errs.ToAggregate().Error()
	for _, want := range []string{"spec.service.annotations", "spec.resources.requests[cpu]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not mention %s", msg, want)
		}
	}
}
