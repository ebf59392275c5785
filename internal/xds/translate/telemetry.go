package translate

import (
	"slices"
	"strings"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	grpcalv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	otelalv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/open_telemetry/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	staticdetectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/tracers/opentelemetry/resource_detectors/v3"
	tracingtypev3 "github.com/envoyproxy/go-control-plane/envoy/type/tracing/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	otlpcommonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// CollectorCluster is the cluster of the fleet's OpenTelemetry collector (model.Telemetry). No
// model cluster has this name (model cluster names have four segments).
const CollectorCluster = "flotilla/otel-collector"

// Envoy extension names of the telemetry.
const (
	nameOTelTracer     = "envoy.tracers.opentelemetry"
	nameOTelAccessLog  = "envoy.access_loggers.open_telemetry"
	nameStaticDetector = "envoy.tracers.opentelemetry.resource_detectors.static_config"
	accessLogName      = "flotilla"
	accessLogBody      = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"`
	tagRouteKind       = "flotilla.route.kind"
	tagRouteNamespace  = "flotilla.route.namespace"
	tagRouteName       = "flotilla.route.name"
)

// collectorTimeout bounds each export to the collector.
const collectorTimeout = 5 * time.Second

// accessLogAttributes are the OTLP log record attributes of every access log entry (Envoy
// command operators).
var accessLogAttributes = [][2]string{
	{"http.request.method", "%REQ(:METHOD)%"},
	{"url.path", "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"},
	{"http.response.status_code", "%RESPONSE_CODE%"},
	{"server.address", "%REQ(:AUTHORITY)%"},
	{"client.address", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"},
	{"envoy.route", "%ROUTE_NAME%"},
	{"envoy.upstream_host", "%UPSTREAM_HOST%"},
	{"envoy.response_flags", "%RESPONSE_FLAGS%"},
	{"envoy.duration_ms", "%DURATION%"},
	{"trace_id", "%TRACE_ID%"},
}

// telemetry is what the HTTP connection managers share of the fleet's telemetry, packed once.
type telemetry struct {
	tracing   *hcmv3.HttpConnectionManager_Tracing
	accessLog []*accesslogv3.AccessLog
}

// collectorService is the gRPC service of the collector: Envoy's own gRPC client on
// CollectorCluster.
func collectorService() *corev3.GrpcService {
	return &corev3.GrpcService{
		TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: CollectorCluster}},
		Timeout:         durationpb.New(collectorTimeout),
	}
}

// buildTelemetry packs the tracer and the OTLP access logger of the fleet's telemetry (nil
// without it).
func (b *builder) buildTelemetry() error {
	t := b.fleet.Telemetry
	if t == nil {
		return nil
	}
	attrs := make(map[string]string, len(t.ResourceAttributes))
	for _, a := range t.ResourceAttributes {
		attrs[a.Key] = a.Value
	}
	detectorCfg, err := pack(&staticdetectorv3.StaticConfigResourceDetectorConfig{Attributes: attrs})
	if err != nil {
		return err
	}
	detectors := []*corev3.TypedExtensionConfig{{Name: nameStaticDetector, TypedConfig: detectorCfg}}
	tracer, err := pack(&tracev3.OpenTelemetryConfig{GrpcService: collectorService(), ServiceName: t.ServiceName, ResourceDetectors: detectors})
	if err != nil {
		return err
	}
	b.telemetry = &telemetry{tracing: &hcmv3.HttpConnectionManager_Tracing{
		RandomSampling: &typev3.Percent{Value: t.SamplingPercent},
		Provider:       &tracev3.Tracing_Http{Name: nameOTelTracer, ConfigType: &tracev3.Tracing_Http_TypedConfig{TypedConfig: tracer}},
	}}
	if !t.AccessLog {
		return nil
	}
	kv := &otlpcommonv1.KeyValueList{}
	for _, a := range accessLogAttributes {
		kv.Values = append(kv.Values, &otlpcommonv1.KeyValue{Key: a[0], Value: stringValue(a[1])})
	}
	resource := &otlpcommonv1.KeyValueList{}
	for _, a := range t.ResourceAttributes {
		resource.Values = append(resource.Values, &otlpcommonv1.KeyValue{Key: a.Key, Value: stringValue(a.Value)})
	}
	// common_config, not grpc_service and resource_detectors: Envoy before 1.37 (the default
	// image is 1.36) knows only it, and requires it.
	common := &grpcalv3.CommonGrpcAccessLogConfig{LogName: accessLogName, GrpcService: collectorService(), TransportApiVersion: corev3.ApiVersion_V3}
	al, err := pack(&otelalv3.OpenTelemetryAccessLogConfig{
		CommonConfig:       common, //nolint:staticcheck // see above
		ResourceAttributes: resource, Body: stringValue(accessLogBody), Attributes: kv})
	if err != nil {
		return err
	}
	b.telemetry.accessLog = []*accesslogv3.AccessLog{{Name: nameOTelAccessLog, ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: al}}}
	return nil
}

func stringValue(s string) *otlpcommonv1.AnyValue {
	return &otlpcommonv1.AnyValue{Value: &otlpcommonv1.AnyValue_StringValue{StringValue: s}}
}

// withTelemetry gives an HTTP connection manager the fleet's tracer and OTLP access log.
func (b *builder) withTelemetry(m *hcmv3.HttpConnectionManager) {
	if b.telemetry != nil {
		m.Tracing, m.AccessLog = b.telemetry.tracing, b.telemetry.accessLog
	}
}

// routeTracing is a route's span tags: the kind, namespace and name of the route (HTTPRoute,
// GRPCRoute, Ingress) it comes from, read from its model name
// ("<kind>/<ns>/<name>/rule/<i>/match/<j>"); nil without tracing or for another name.
func (b *builder) routeTracing(name string) *routev3.Tracing {
	if b.telemetry == nil {
		return nil
	}
	parts := strings.SplitN(name, "/", 4)
	if len(parts) < 3 {
		return nil
	}
	tag := func(k, v string) *tracingtypev3.CustomTag {
		return &tracingtypev3.CustomTag{Tag: k, Type: &tracingtypev3.CustomTag_Literal_{Literal: &tracingtypev3.CustomTag_Literal{Value: v}}}
	}
	return &routev3.Tracing{CustomTags: []*tracingtypev3.CustomTag{
		tag(tagRouteKind, parts[0]), tag(tagRouteNamespace, parts[1]), tag(tagRouteName, parts[2]),
	}}
}

// collectorCluster is the STRICT_DNS cluster of the collector, HTTP/2 (OTLP/gRPC), or nil.
func (b *builder) collectorCluster() *clusterv3.Cluster {
	t := b.fleet.Telemetry
	if t == nil {
		return nil
	}
	return &clusterv3.Cluster{
		Name:                          CollectorCluster,
		ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		ConnectTimeout:                durationpb.New(connectTimeout),
		DnsLookupFamily:               clusterv3.Cluster_V4_PREFERRED,
		TypedExtensionProtocolOptions: map[string]*anypb.Any{nameHTTPOptions: b.http2Options},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: CollectorCluster, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: t.Host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(t.Port)},
				}}},
			}}}},
		}}},
	}
}

// sameTelemetry says whether two fleets' telemetry translate the same.
func sameTelemetry(a, b *model.Telemetry) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Host == b.Host && a.Port == b.Port && a.SamplingPercent == b.SamplingPercent && a.ServiceName == b.ServiceName &&
		a.AccessLog == b.AccessLog && slices.Equal(a.ResourceAttributes, b.ResourceAttributes)
}
