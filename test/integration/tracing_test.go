package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/xds/translate"
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
)

// httpTracing is the tracing of the HTTP connection manager of the client's http-80 listener
// (nil: it does not trace, or there is no such listener).
func httpTracing(c *xdstest.Client) *hcmv3.HttpConnectionManager_Tracing {
	for _, m := range c.Resources(resource.ListenerType) {
		l := m.(*listenerv3.Listener)
		if l.Name != "http-80" {
			continue
		}
		for _, fc := range l.FilterChains {
			for _, f := range fc.Filters {
				h := &hcmv3.HttpConnectionManager{}
				if f.GetTypedConfig().UnmarshalTo(h) == nil {
					return h.GetTracing()
				}
			}
		}
	}
	return nil
}

// collectorCluster is the client's collector cluster, nil when it has none.
func collectorCluster(c *xdstest.Client) *clusterv3.Cluster {
	for _, m := range c.Resources(resource.ClusterType) {
		if cl := m.(*clusterv3.Cluster); cl.Name == translate.CollectorCluster {
			return cl
		}
	}
	return nil
}

// A FleetClass traces to a collector Service that does not exist: the Gateway says so
// (Tracing False CollectorNotFound, and a Warning Event) and its fleet is served without
// tracing; once the Service is created the Envoys get the tracer, its collector cluster and the
// routes' span tags, and the condition turns True. A team asking for a sampling percentage
// outside the class's bounds is refused (its Gateway alone); within them it is what Envoy gets.
func TestTracingCollectorResolves(t *testing.T) {
	tenantClass(t, "traced", func(s *flotillav1alpha1.FleetClassSpec) {
		ten := flotillav1alpha1.Percent("10")
		s.Telemetry.Tracing = &flotillav1alpha1.Tracing{
			Collector:       flotillav1alpha1.TracingCollector{Service: &flotillav1alpha1.CollectorServiceRef{Name: "otel-collector", Namespace: "observability-trace"}},
			SamplingPercent: &ten,
		}
		s.Telemetry.AccessLog.Sink = flotillav1alpha1.AccessLogSinkOpenTelemetry
		s.Tenancy = &flotillav1alpha1.Tenancy{Overrides: &flotillav1alpha1.OverrideBounds{
			TracingSampling: &flotillav1alpha1.SamplingBounds{MinPercent: "1", MaxPercent: "20"}}}
	})
	namespace(t, "observability-trace", nil)
	namespace(t, "team-trace", nil)
	gw := gateway("team-trace", "edge", "traced", nil)
	create(t, gw)
	create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team-trace", Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}}})
	route := httpRoute("team-trace", "app", []gwapiv1.ParentReference{{Name: "edge"}}, "web")
	route.Spec.Hostnames = []gwapiv1.Hostname{"trace.example.com"}
	create(t, route)

	c, _ := gatewayCondition(t, gw, gatewayapi.ConditionTracing, metav1.ConditionFalse, gatewayapi.ReasonCollectorNotFound)
	if !strings.Contains(c.Message, "observability-trace/otel-collector not found") {
		t.Errorf("Tracing message %q does not name the missing Service", c.Message)
	}
	waitForNamespacedEvent(t, gw, corev1.EventTypeWarning, gatewayapi.ReasonCollectorNotFound, "served without tracing")
	gatewayCondition(t, gw, gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonAccepted)

	envoy := dialFleet(t, fleetTLS(t, gw), "team-trace/edge")
	waitXDS(t, envoy, "the fleet served without tracing", func() error {
		if got := domains(envoy); !slices.Equal(got, []string{"trace.example.com"}) {
			return fmt.Errorf("domains %v", got)
		}
		if tr := httpTracing(envoy); tr != nil {
			return fmt.Errorf("tracing %v without a collector", tr)
		}
		if collectorCluster(envoy) != nil {
			return fmt.Errorf("a collector cluster without a collector")
		}
		return nil
	})

	create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "observability-trace", Name: "otel-collector"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "otlp-grpc", Port: 4317}}}})
	waitXDS(t, envoy, "the tracer once the collector exists", func() error {
		tr := httpTracing(envoy)
		if tr == nil || tr.GetProvider().GetName() != "envoy.tracers.opentelemetry" || tr.GetRandomSampling().GetValue() != 10 {
			return fmt.Errorf("tracing %v", tr)
		}
		cl := collectorCluster(envoy)
		if cl == nil {
			return fmt.Errorf("no collector cluster among %v", envoy.Names(resource.ClusterType))
		}
		if a := cl.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress(); a.GetAddress() != "otel-collector.observability-trace.svc" || a.GetPortValue() != 4317 {
			return fmt.Errorf("collector address %v", a)
		}
		for _, m := range envoy.Resources(resource.RouteType) {
			for _, vh := range m.(*routev3.RouteConfiguration).GetVirtualHosts() {
				for _, rt := range vh.GetRoutes() {
					if len(rt.GetTracing().GetCustomTags()) != 3 {
						return fmt.Errorf("route %s span tags %v", rt.Name, rt.GetTracing().GetCustomTags())
					}
				}
			}
		}
		return nil
	})
	gatewayCondition(t, gw, gatewayapi.ConditionTracing, metav1.ConditionTrue, gatewayapi.ReasonTracingEnabled)
	waitForNamespacedEvent(t, gw, corev1.EventTypeNormal, gatewayapi.ReasonTracingEnabled, "otel-collector.observability-trace.svc:4317")

	// A team's sampling: outside the class's bounds its Gateway is refused (the first keeps
	// serving); brought within them, it is the fleet's.
	fifty := flotillav1alpha1.Percent("50")
	cfg := &flotillav1alpha1.FleetConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "team-trace", Name: "sampling"},
		Spec: flotillav1alpha1.FleetConfigSpec{Telemetry: &flotillav1alpha1.FleetConfigTelemetry{
			Tracing: &flotillav1alpha1.FleetConfigTracing{SamplingPercent: &fifty}}}}
	create(t, cfg)
	over := gateway("team-trace", "sampled", "traced", func(g *gwapiv1.Gateway) {
		g.Spec.Infrastructure = &gwapiv1.GatewayInfrastructure{ParametersRef: &gwapiv1.LocalParametersReference{
			Group: gwapiv1.Group(flotillav1alpha1.GroupVersion.Group), Kind: flotillav1alpha1.KindFleetConfig, Name: "sampling"}}
	})
	create(t, over)
	c, _ = gatewayCondition(t, over, gwapiv1.GatewayConditionAccepted, metav1.ConditionFalse, gwapiv1.GatewayReasonInvalidParameters)
	if want := `spec.telemetry.tracing.samplingPercent: "50" is outside the class's bounds [1, 20]`; !strings.Contains(c.Message, want) {
		t.Errorf("Accepted message %q does not contain %q", c.Message, want)
	}
	if tr := httpTracing(envoy); tr == nil || tr.GetRandomSampling().GetValue() != 10 {
		t.Errorf("the other fleet's tracing changed: %v", tr)
	}
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cur := &flotillav1alpha1.FleetConfig{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(cfg), cur); err != nil {
			return err
		}
		fifteen := flotillav1alpha1.Percent("15")
		cur.Spec.Telemetry.Tracing.SamplingPercent = &fifteen
		return k8s.Update(ctx, cur)
	})
	gatewayCondition(t, over, gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonAccepted)
	c, _ = gatewayCondition(t, over, gatewayapi.ConditionTracing, metav1.ConditionTrue, gatewayapi.ReasonTracingEnabled)
	if !strings.Contains(c.Message, "15% of requests sampled") {
		t.Errorf("Tracing message %q does not say the team's sampling", c.Message)
	}
}
