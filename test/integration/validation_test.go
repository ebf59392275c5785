package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The API server itself refuses out-of-range FleetClass and FleetConfig fields (OpenAPI and CEL
// rules in the CRDs), before any controller sees them.
func TestAPIServerRejectsInvalidParameters(t *testing.T) {
	dur := func(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
	cases := []struct {
		name string
		obj  client.Object
		want string
	}{
		{"replicas and autoscaling", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Replicas: ptr.To[int32](2), Autoscaling: &flotillav1alpha1.Autoscaling{MinReplicas: 2, MaxReplicas: 4}}},
			"replicas and autoscaling are mutually exclusive"},
		{"autoscaling min above max", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Autoscaling: &flotillav1alpha1.Autoscaling{MinReplicas: 5, MaxReplicas: 2}}},
			"minReplicas must not exceed maxReplicas"},
		{"replicas out of range", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Replicas: ptr.To[int32](5000)}}, "spec.replicas: Invalid value: 5000: spec.replicas in body should be less than or equal to 1000"},
		{"drain timeout too long", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Envoy: flotillav1alpha1.EnvoySpec{DrainTimeout: dur(2 * time.Hour)}}}, "drainTimeout must be between 0s and 1h"},
		{"unknown log level", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Envoy: flotillav1alpha1.EnvoySpec{LogLevel: "verbose"}}}, `spec.envoy.logLevel: Unsupported value: "verbose"`},
		{"load balancer class on ClusterIP", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Service: flotillav1alpha1.ServiceSpec{Type: flotillav1alpha1.ServiceTypeClusterIP, LoadBalancerClass: ptr.To("x")}}},
			"loadBalancerClass requires type LoadBalancer"},
		{"external traffic policy on ClusterIP", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Service: flotillav1alpha1.ServiceSpec{Type: flotillav1alpha1.ServiceTypeClusterIP, ExternalTrafficPolicy: ptr.To(corev1.ServiceExternalTrafficPolicyLocal)}}},
			"externalTrafficPolicy requires type NodePort or LoadBalancer"},
		{"static address prefix with host bits", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Service: flotillav1alpha1.ServiceSpec{StaticAddresses: &flotillav1alpha1.StaticAddresses{
				Carrier: flotillav1alpha1.StaticAddressExternalIPs, CIDRs: []flotillav1alpha1.IPPrefix{"203.0.113.7/24"}}}}},
			"must be an IP prefix with no bits set past its length"},
		{"static address as a bare IP", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Service: flotillav1alpha1.ServiceSpec{StaticAddresses: &flotillav1alpha1.StaticAddresses{
				Carrier: flotillav1alpha1.StaticAddressExternalIPs, CIDRs: []flotillav1alpha1.IPPrefix{"2001:db8::1"}}}}},
			"must be an IP prefix with no bits set past its length"},
		{"static addresses without a CIDR", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Service: flotillav1alpha1.ServiceSpec{StaticAddresses: &flotillav1alpha1.StaticAddresses{
				Carrier: flotillav1alpha1.StaticAddressExternalIPs}}}}, "spec.service.staticAddresses.cidrs"},
		{"annotation carrier without a key", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Service: flotillav1alpha1.ServiceSpec{StaticAddresses: &flotillav1alpha1.StaticAddresses{
				Carrier: flotillav1alpha1.StaticAddressAnnotation, CIDRs: []flotillav1alpha1.IPPrefix{"10.0.0.0/8"}}}}},
			"annotationKey is required with carrier Annotation"},
		{"loadBalancerIP carrier on ClusterIP", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Service: flotillav1alpha1.ServiceSpec{Type: flotillav1alpha1.ServiceTypeClusterIP, StaticAddresses: &flotillav1alpha1.StaticAddresses{
				Carrier: flotillav1alpha1.StaticAddressLoadBalancerIP, CIDRs: []flotillav1alpha1.IPPrefix{"10.0.0.0/8"}}}}},
			"staticAddresses carriers LoadBalancerIP and Annotation require type LoadBalancer"},
		{"two cluster IPs", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Service: flotillav1alpha1.ServiceSpec{StaticAddresses: &flotillav1alpha1.StaticAddresses{
				Carrier: flotillav1alpha1.StaticAddressClusterIP, CIDRs: []flotillav1alpha1.IPPrefix{"10.0.0.0/8"}, MaxAddresses: ptr.To[int32](2)}}}},
			"carriers ClusterIP and LoadBalancerIP take one address"},
		{"pdb with both fields", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			PodDisruptionBudget: &flotillav1alpha1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(1))}}},
			"exactly one of minAvailable and maxUnavailable must be set"},
		{"certificate lifetime too short", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Certificates: flotillav1alpha1.Certificates{Lifetime: dur(10 * time.Minute)}}}, "lifetime must be between 1h and 2160h"},
		{"issuer of unknown kind", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Certificates: flotillav1alpha1.Certificates{CertManager: &flotillav1alpha1.CertManagerIssuer{
				IssuerRef: flotillav1alpha1.IssuerReference{Name: "ca", Kind: "Vault"}, CABundle: "x"}}}}, `Unsupported value: "Vault"`},
		{"issuer without a CA bundle", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Certificates: flotillav1alpha1.Certificates{CertManager: &flotillav1alpha1.CertManagerIssuer{
				IssuerRef: flotillav1alpha1.IssuerReference{Name: "ca"}}}}}, "spec.certificates.certManager.caBundle"},
		{"override replica bounds inverted", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Tenancy: &flotillav1alpha1.Tenancy{Overrides: &flotillav1alpha1.OverrideBounds{
				Replicas: &flotillav1alpha1.ReplicaBounds{Min: 4, Max: 2}}}}}, "min must not exceed max"},
		{"zero gateways per namespace", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Tenancy: &flotillav1alpha1.Tenancy{MaxGatewaysPerNamespace: ptr.To[int32](0)}}}, "spec.tenancy.maxGatewaysPerNamespace"},
		{"tracing sampling bounds inverted", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Tenancy: &flotillav1alpha1.Tenancy{Overrides: &flotillav1alpha1.OverrideBounds{
				TracingSampling: &flotillav1alpha1.SamplingBounds{MinPercent: "30", MaxPercent: "5"}}}}}, "minPercent must not exceed maxPercent"},
		{"tracing sampling above 100", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Telemetry: flotillav1alpha1.Telemetry{Tracing: &flotillav1alpha1.Tracing{
				Collector:       flotillav1alpha1.TracingCollector{Address: "otel.example.com:4317"},
				SamplingPercent: ptr.To(flotillav1alpha1.Percent("101"))}}}}, "spec.telemetry.tracing.samplingPercent"},
		{"tracing collector with service and address", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Telemetry: flotillav1alpha1.Telemetry{Tracing: &flotillav1alpha1.Tracing{Collector: flotillav1alpha1.TracingCollector{
				Address: "otel.example.com:4317", Service: &flotillav1alpha1.CollectorServiceRef{Name: "otel"}}}}}},
			"exactly one of service and address must be set"},
		{"OTLP access log without tracing", &flotillav1alpha1.FleetClass{Spec: flotillav1alpha1.FleetClassSpec{
			Telemetry: flotillav1alpha1.Telemetry{AccessLog: flotillav1alpha1.AccessLog{Sink: flotillav1alpha1.AccessLogSinkOpenTelemetry}}}},
			"tracing must be set"},
		{"fleetconfig replicas and autoscaling", &flotillav1alpha1.FleetConfig{Spec: flotillav1alpha1.FleetConfigSpec{
			Replicas: ptr.To[int32](1), Autoscaling: &flotillav1alpha1.Autoscaling{MinReplicas: 1, MaxReplicas: 2}}},
			"replicas and autoscaling are mutually exclusive"},
		{"fleetconfig replicas out of range", &flotillav1alpha1.FleetConfig{Spec: flotillav1alpha1.FleetConfigSpec{
			Replicas: ptr.To[int32](-1)}}, "spec.replicas in body should be greater than or equal to 0"},
		{"fleetconfig unknown service type", &flotillav1alpha1.FleetConfig{Spec: flotillav1alpha1.FleetConfigSpec{
			Service: &flotillav1alpha1.FleetConfigService{Type: ptr.To(flotillav1alpha1.ServiceType("ExternalName"))}}},
			`spec.service.type: Unsupported value: "ExternalName"`},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.obj.SetName("rejected-" + strings.ReplaceAll(tc.name, " ", "-"))
			if _, ok := tc.obj.(*flotillav1alpha1.FleetConfig); ok {
				tc.obj.SetNamespace("default")
			}
			err := k8s.Create(context.Background(), tc.obj)
			if err == nil {
				_ = k8s.Delete(context.Background(), tc.obj)
				t.Fatalf("case %d: the API server accepted %+v", i, tc.obj)
			}
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q is not an Invalid error containing %q", err, tc.want)
			}
		})
	}
}

// The same checks leave valid objects alone, including the boundary values.
func TestAPIServerAcceptsBoundaryParameters(t *testing.T) {
	create(t, &flotillav1alpha1.FleetClass{ObjectMeta: metav1.ObjectMeta{Name: "boundaries"}, Spec: flotillav1alpha1.FleetClassSpec{
		Autoscaling: &flotillav1alpha1.Autoscaling{MinReplicas: 3, MaxReplicas: 3},
		Envoy:       flotillav1alpha1.EnvoySpec{DrainTimeout: &metav1.Duration{Duration: time.Hour}},
		Service: flotillav1alpha1.ServiceSpec{Type: flotillav1alpha1.ServiceTypeNodePort,
			ExternalTrafficPolicy: ptr.To(corev1.ServiceExternalTrafficPolicyLocal),
			StaticAddresses: &flotillav1alpha1.StaticAddresses{Carrier: flotillav1alpha1.StaticAddressExternalIPs,
				CIDRs: []flotillav1alpha1.IPPrefix{"203.0.113.0/24", "2001:DB8::/32", "0.0.0.0/0"}, MaxAddresses: ptr.To[int32](16)}},
		PodDisruptionBudget: &flotillav1alpha1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromString("25%"))},
		Tenancy: &flotillav1alpha1.Tenancy{MaxGatewaysPerNamespace: ptr.To[int32](1), Overrides: &flotillav1alpha1.OverrideBounds{
			Replicas: &flotillav1alpha1.ReplicaBounds{Min: 1, Max: 1}}},
	}})
	create(t, &flotillav1alpha1.FleetConfig{ObjectMeta: metav1.ObjectMeta{Name: "boundaries", Namespace: "default"},
		Spec: flotillav1alpha1.FleetConfigSpec{Replicas: ptr.To[int32](0)}})
}
