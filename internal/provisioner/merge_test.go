package provisioner

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func testGateway() *gwapiv1.Gateway {
	return &gwapiv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a"},
		Spec: gwapiv1.GatewaySpec{
			GatewayClassName: "flotilla",
			Listeners:        []gwapiv1.Listener{{Name: "http", Protocol: gwapiv1.HTTPProtocolType, Port: 80}},
		},
	}
}

func withInfra(labels, annotations map[string]string) *gwapiv1.Gateway {
	gw := testGateway()
	gw.Spec.Infrastructure = &gwapiv1.GatewayInfrastructure{
		Labels:      map[gwapiv1.LabelKey]gwapiv1.LabelValue{},
		Annotations: map[gwapiv1.AnnotationKey]gwapiv1.AnnotationValue{},
	}
	for k, v := range labels {
		gw.Spec.Infrastructure.Labels[gwapiv1.LabelKey(k)] = gwapiv1.LabelValue(v)
	}
	for k, v := range annotations {
		gw.Spec.Infrastructure.Annotations[gwapiv1.AnnotationKey(k)] = gwapiv1.AnnotationValue(v)
	}
	return gw
}

func classWith(overrides *flotillav1alpha1.OverrideBounds, mutate ...func(*flotillav1alpha1.FleetClassSpec)) *flotillav1alpha1.FleetClass {
	c := &flotillav1alpha1.FleetClass{ObjectMeta: metav1.ObjectMeta{Name: "shared"}}
	if overrides != nil {
		c.Spec.Tenancy = &flotillav1alpha1.Tenancy{Overrides: overrides}
	}
	for _, m := range mutate {
		m(&c.Spec)
	}
	return c
}

func config(spec flotillav1alpha1.FleetConfigSpec) *flotillav1alpha1.FleetConfig {
	return &flotillav1alpha1.FleetConfig{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "team-a"}, Spec: spec}
}

func messages(rs []Refusal) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Message)
	}
	return out
}

func TestMergeDefaults(t *testing.T) {
	p, refusals := Merge(testGateway(), nil, nil, testDefaults)
	if len(refusals) != 0 {
		t.Fatalf("refusals: %v", refusals)
	}
	want := Params{
		XDSTrust:            testDefaults.XDSTrust,
		Image:               testDefaults.EnvoyImage,
		LogLevel:            "info",
		DrainTimeout:        30 * time.Second,
		Replicas:            ptr.To[int32](2),
		Service:             ServiceParams{Type: flotillav1alpha1.ServiceTypeLoadBalancer},
		AccessLog:           true,
		AccessLogFormat:     flotillav1alpha1.AccessLogFormatJSON,
		AccessLogSink:       flotillav1alpha1.AccessLogSinkStdout,
		Prometheus:          true,
		CertificateLifetime: 24 * time.Hour,
		XDSAddress:          testDefaults.XDSAddress,
		XDSPort:             testDefaults.XDSPort,
		OperatorNamespace:   testDefaults.OperatorNamespace,
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("Merge defaults:\n got %+v\nwant %+v", p, want)
	}
}

func TestMergeBounds(t *testing.T) {
	bounds := &flotillav1alpha1.OverrideBounds{
		Replicas:     &flotillav1alpha1.ReplicaBounds{Min: 1, Max: 5},
		Resources:    &flotillav1alpha1.ResourceBounds{Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}},
		ServiceTypes: []flotillav1alpha1.ServiceType{flotillav1alpha1.ServiceTypeClusterIP},
	}
	cpu := func(requests, limits string) *corev1.ResourceRequirements {
		r := &corev1.ResourceRequirements{}
		if requests != "" {
			r.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(requests)}
		}
		if limits != "" {
			r.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(limits)}
		}
		return r
	}
	nodePort := flotillav1alpha1.ServiceTypeNodePort
	clusterIP := flotillav1alpha1.ServiceTypeClusterIP
	debug := flotillav1alpha1.EnvoyLogLevel("debug")
	tests := []struct {
		name   string
		class  *flotillav1alpha1.FleetClass
		spec   flotillav1alpha1.FleetConfigSpec
		want   []string // refusal messages, in order
		assert func(t *testing.T, p Params)
	}{
		{name: "replicas at min", class: classWith(bounds), spec: flotillav1alpha1.FleetConfigSpec{Replicas: ptr.To[int32](1)},
			assert: func(t *testing.T, p Params) { wantInt(t, "replicas", p.Replicas, 1) }},
		{name: "replicas at max", class: classWith(bounds), spec: flotillav1alpha1.FleetConfigSpec{Replicas: ptr.To[int32](5)},
			assert: func(t *testing.T, p Params) { wantInt(t, "replicas", p.Replicas, 5) }},
		{name: "replicas above max", class: classWith(bounds), spec: flotillav1alpha1.FleetConfigSpec{Replicas: ptr.To[int32](12)},
			want:   []string{"spec.replicas: 12 is outside the class's bounds [1, 5]"},
			assert: func(t *testing.T, p Params) { wantInt(t, "replicas (not clamped)", p.Replicas, 2) }},
		{name: "replicas zero below min", class: classWith(bounds), spec: flotillav1alpha1.FleetConfigSpec{Replicas: ptr.To[int32](0)},
			want: []string{"spec.replicas: 0 is outside the class's bounds [1, 5]"}},
		{name: "replicas without a class", spec: flotillav1alpha1.FleetConfigSpec{Replicas: ptr.To[int32](3)},
			want: []string{"spec.replicas: 3 cannot be set: the class allows no override of it (tenancy.overrides.replicas)"}},
		{name: "replicas with a class without overrides", class: classWith(nil), spec: flotillav1alpha1.FleetConfigSpec{Replicas: ptr.To[int32](3)},
			want: []string{"spec.replicas: 3 cannot be set: the class allows no override of it (tenancy.overrides.replicas)"}},
		{name: "autoscaling within bounds replaces the class's replicas, target from the class",
			class: classWith(bounds, func(s *flotillav1alpha1.FleetClassSpec) { s.Replicas = ptr.To[int32](3) }),
			spec:  flotillav1alpha1.FleetConfigSpec{Autoscaling: &flotillav1alpha1.Autoscaling{MinReplicas: 2, MaxReplicas: 5}},
			assert: func(t *testing.T, p Params) {
				if p.Replicas != nil || p.Autoscaling == nil || p.Autoscaling.MaxReplicas != 5 || *p.Autoscaling.TargetCPUUtilizationPercentage != 80 {
					t.Errorf("got replicas %v autoscaling %+v", p.Replicas, p.Autoscaling)
				}
			}},
		{name: "autoscaling max above bound", class: classWith(bounds),
			spec: flotillav1alpha1.FleetConfigSpec{Autoscaling: &flotillav1alpha1.Autoscaling{MinReplicas: 2, MaxReplicas: 9}},
			want: []string{"spec.autoscaling.maxReplicas: 9 is outside the class's bounds [1, 5]"},
			assert: func(t *testing.T, p Params) {
				if p.Autoscaling != nil {
					t.Errorf("autoscaling applied despite refusal: %+v", p.Autoscaling)
				}
			}},
		{name: "resources at the bound", class: classWith(bounds), spec: flotillav1alpha1.FleetConfigSpec{Resources: cpu("1", "2")},
			assert: func(t *testing.T, p Params) {
				if q := p.Resources.Limits[corev1.ResourceCPU]; q.String() != "2" {
					t.Errorf("cpu limit %s, want 2", q.String())
				}
			}},
		{name: "resources above the bound", class: classWith(bounds), spec: flotillav1alpha1.FleetConfigSpec{Resources: cpu("3", "")},
			want: []string{"spec.resources.requests[cpu]: 3 exceeds the class's bound 2"}},
		{name: "resource the class does not bound", class: classWith(bounds),
			spec: flotillav1alpha1.FleetConfigSpec{Resources: &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}},
			want: []string{"spec.resources.limits[memory]: 1Gi is not a resource the class lets teams set [cpu]"}},
		{name: "team request above the class's limit",
			class: classWith(bounds, func(s *flotillav1alpha1.FleetClassSpec) { s.Resources = cpu("", "1") }),
			spec:  flotillav1alpha1.FleetConfigSpec{Resources: cpu("2", "")},
			want:  []string{"spec.resources.requests[cpu]: 2 exceeds the limit 1 it would run with"}},
		{name: "team cannot drop the class's limit by leaving it out",
			class: classWith(bounds, func(s *flotillav1alpha1.FleetClassSpec) {
				s.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}
			}),
			spec: flotillav1alpha1.FleetConfigSpec{Resources: cpu("500m", "")},
			assert: func(t *testing.T, p Params) {
				if q := p.Resources.Limits[corev1.ResourceMemory]; q.String() != "1Gi" {
					t.Errorf("memory limit %q, want the class's 1Gi", q.String())
				}
			}},
		{name: "service type allowed", class: classWith(bounds), spec: flotillav1alpha1.FleetConfigSpec{Service: &flotillav1alpha1.FleetConfigService{Type: &clusterIP}},
			assert: func(t *testing.T, p Params) {
				if p.Service.Type != clusterIP {
					t.Errorf("service type %q", p.Service.Type)
				}
			}},
		{name: "service type not allowed", class: classWith(bounds), spec: flotillav1alpha1.FleetConfigSpec{Service: &flotillav1alpha1.FleetConfigService{Type: &nodePort}},
			want: []string{`spec.service.type: "NodePort" is not among the allowed service types [ClusterIP]`}},
		{name: "log level not allowed", class: classWith(bounds), spec: flotillav1alpha1.FleetConfigSpec{Envoy: &flotillav1alpha1.FleetConfigEnvoy{LogLevel: &debug}},
			want: []string{`spec.envoy.logLevel: "debug" cannot be set: the class allows no override of it (tenancy.overrides.logLevel)`}},
		{name: "pod annotations without prefixes", class: classWith(bounds),
			spec: flotillav1alpha1.FleetConfigSpec{Pod: &flotillav1alpha1.PodMetadata{Annotations: map[string]string{"b": "1", "a": "2"}}},
			want: []string{
				`spec.pod.annotations["a"]: cannot be set: the class allows no override of it (tenancy.overrides.annotationKeyPrefixes)`,
				`spec.pod.annotations["b"]: cannot be set: the class allows no override of it (tenancy.overrides.annotationKeyPrefixes)`,
			}},
		{name: "every refusal is listed", class: classWith(bounds), spec: flotillav1alpha1.FleetConfigSpec{
			Replicas: ptr.To[int32](6), Resources: cpu("", "3"), Service: &flotillav1alpha1.FleetConfigService{Type: &nodePort}},
			want: []string{
				"spec.replicas: 6 is outside the class's bounds [1, 5]",
				"spec.resources.limits[cpu]: 3 exceeds the class's bound 2",
				`spec.service.type: "NodePort" is not among the allowed service types [ClusterIP]`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, refusals := Merge(testGateway(), tt.class, config(tt.spec), testDefaults)
			if got := messages(refusals); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("refusals:\n got %q\nwant %q", got, tt.want)
			}
			for _, r := range refusals {
				if r.Object != "FleetConfig cfg" || !strings.HasPrefix(r.Message, r.Field+": ") {
					t.Errorf("refusal %+v: want Object %q and a message starting with its field", r, "FleetConfig cfg")
				}
			}
			if tt.assert != nil {
				tt.assert(t, p)
			}
		})
	}
}

func wantInt(t *testing.T, what string, got *int32, want int32) {
	t.Helper()
	if got == nil || *got != want {
		t.Errorf("%s = %v, want %d", what, got, want)
	}
}

// The annotation that carries static addresses is Flotilla's alone: a team setting it (FleetConfig
// Service annotations, or the Gateway's infrastructure annotations) is refused and the value left
// out, however the class's annotation prefixes would let it through.
func TestMergeRefusesTheAddressCarrierAnnotation(t *testing.T) {
	const key = "metallb.universe.tf/loadBalancerIPs"
	class := classWith(&flotillav1alpha1.OverrideBounds{AnnotationKeyPrefixes: []string{"metallb.universe.tf/"}},
		func(s *flotillav1alpha1.FleetClassSpec) {
			s.Service.StaticAddresses = &flotillav1alpha1.StaticAddresses{CIDRs: []flotillav1alpha1.IPPrefix{"192.0.2.0/24"},
				Carrier: flotillav1alpha1.StaticAddressAnnotation, AnnotationKey: key}
		})
	gw := withInfra(nil, map[string]string{key: "198.51.100.1", "metallb.universe.tf/address-pool": "a"})
	cfg := config(flotillav1alpha1.FleetConfigSpec{Service: &flotillav1alpha1.FleetConfigService{
		Annotations: map[string]string{key: "198.51.100.2"}}})
	p, refusals := Merge(gw, class, cfg, testDefaults)
	got := messages(refusals)
	want := []string{
		`spec.infrastructure.annotations["` + key + `"]: the class carries static addresses in this annotation (service.staticAddresses.annotationKey); request addresses in the Gateway's spec.addresses`,
		`spec.service.annotations["` + key + `"]: the class carries static addresses in this annotation (service.staticAddresses.annotationKey); request addresses in the Gateway's spec.addresses`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("refusals:\n got %q\nwant %q", got, want)
	}
	if _, ok := p.Service.Annotations[key]; ok {
		t.Errorf("Service annotations keep the carrier key: %v", p.Service.Annotations)
	}
	if _, ok := p.InfrastructureAnnotations[key]; ok || p.InfrastructureAnnotations["metallb.universe.tf/address-pool"] != "a" {
		t.Errorf("infrastructure annotations: %v", p.InfrastructureAnnotations)
	}
}
