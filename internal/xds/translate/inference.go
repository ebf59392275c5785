package translate

import (
	"fmt"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	overridehostv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/override_host/v3"
	roundrobinv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/round_robin/v3"
	metadatav3 "github.com/envoyproxy/go-control-plane/envoy/type/metadata/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// Gateway API Inference Extension: the endpoint of an InferencePool that serves a request is
// chosen by the pool's Endpoint Picker, an ext_proc server (docs/proposals/004-endpoint-picker-
// protocol in the extension's repository).

// Envoy extension names of the Endpoint Picker wiring.
const (
	nameExtProc      = "envoy.filters.http.ext_proc"
	nameOverrideHost = "envoy.load_balancing_policies.override_host"
	nameRoundRobin   = "envoy.load_balancing_policies.round_robin"
)

// The Endpoint Picker protocol's dynamic metadata: the picker answers with the endpoint
// ("ip:port", or a comma-separated list for retries) under pickedKey, and Envoy tells it which
// endpoint served the request under servedKey, both in the namespace pickerNamespace.
const (
	pickerNamespace = "envoy.lb"
	pickedKey       = "x-gateway-destination-endpoint"
	servedKey       = "x-gateway-destination-endpoint-served"
)

// Health checking of a cluster with model.Cluster.GRPCHealthCheck (an Endpoint Picker's): an
// endpoint is out after healthUnhealthy failed checks in a row and back after healthHealthy
// good one (Envoy needs a single good check for a new endpoint anyway).
const (
	healthTimeout   = time.Second
	healthInterval  = 5 * time.Second
	healthUnhealthy = 3
	healthHealthy   = 1
)

// pickerMessageTimeout bounds Envoy's wait for each answer of the picker. Envoy applies none
// while bodies stream FULL_DUPLEX_STREAMED (the picker reads the whole request body before it
// answers the headers); it is set so that Envoy's 200 ms default never applies.
const pickerMessageTimeout = 10 * time.Second

// checkPickers indexes the clusters that are Endpoint Pickers and checks the model's own rules:
// a picker is a cluster of the fleet that speaks HTTP/2 (gRPC), and a gRPC health check is only
// for an HTTP/2 cluster (Envoy refuses a cluster that breaks either).
func (b *builder) checkPickers() error {
	for i := range b.fleet.Clusters {
		c := &b.fleet.Clusters[i]
		if c.GRPCHealthCheck != "" && !http2(c.Protocol) {
			return fmt.Errorf("cluster %q: a gRPC health check needs HTTP/2, not %q", c.Name, c.Protocol)
		}
		p := c.EndpointPicker
		if p == nil {
			continue
		}
		switch pc, ok := b.clusters[p.Cluster]; {
		case !ok:
			return fmt.Errorf("cluster %q: endpoint picker cluster %q is not in the fleet", c.Name, p.Cluster)
		case !http2(pc.Protocol):
			return fmt.Errorf("cluster %q: endpoint picker cluster %q speaks %q, not gRPC", c.Name, p.Cluster, pc.Protocol)
		}
		if b.pickers == nil {
			b.pickers = map[string]bool{}
		}
		b.pickers[p.Cluster] = true
	}
	return nil
}

func http2(p model.ClusterProtocol) bool { return p == model.ClusterGRPC || p == model.ClusterH2C }

// inferenceCluster adds to c what an InferencePool's or an Endpoint Picker's cluster needs: the
// override_host load balancer (the endpoint the picker chose, read from dynamic metadata, else
// round robin), and the gRPC health check.
func (b *builder) inferenceCluster(c *clusterv3.Cluster, mc *model.Cluster) error {
	if mc.EndpointPicker != nil {
		if b.overrideHost == nil {
			p, err := overrideHostPolicy()
			if err != nil {
				return fmt.Errorf("cluster %s: %w", mc.Name, err)
			}
			b.overrideHost = p
		}
		// load_balancing_policy supersedes lb_policy, which keeps its default.
		c.LoadBalancingPolicy = b.overrideHost
	}
	if s := mc.GRPCHealthCheck; s != "" {
		c.HealthChecks = []*corev3.HealthCheck{{
			Timeout: durationpb.New(healthTimeout), Interval: durationpb.New(healthInterval),
			UnhealthyThreshold: wrapperspb.UInt32(healthUnhealthy), HealthyThreshold: wrapperspb.UInt32(healthHealthy),
			HealthChecker: &corev3.HealthCheck_GrpcHealthCheck_{GrpcHealthCheck: &corev3.HealthCheck_GrpcHealthCheck{ServiceName: s}},
		}}
	}
	return nil
}

// overrideHostPolicy sends a request to the endpoint the picker chose: the first of the
// addresses in dynamic metadata envoy.lb/x-gateway-destination-endpoint that is an endpoint of
// the cluster (the next ones for retries), recording the one used under
// x-gateway-destination-endpoint-served; round robin when there is none. The pick is never read
// from the request header of the same name, which a client could set to choose its endpoint.
func overrideHostPolicy() (*clusterv3.LoadBalancingPolicy, error) {
	rr, err := pack(&roundrobinv3.RoundRobin{})
	if err != nil {
		return nil, err
	}
	oh, err := pack(&overridehostv3.OverrideHost{
		OverrideHostSources: []*overridehostv3.OverrideHost_OverrideHostSource{{Metadata: pickerKey(pickedKey)}},
		SelectedHostKey:     pickerKey(servedKey),
		FallbackPolicy: &clusterv3.LoadBalancingPolicy{Policies: []*clusterv3.LoadBalancingPolicy_Policy{{
			TypedExtensionConfig: &corev3.TypedExtensionConfig{Name: nameRoundRobin, TypedConfig: rr}}}},
	})
	if err != nil {
		return nil, err
	}
	p := &clusterv3.LoadBalancingPolicy{Policies: []*clusterv3.LoadBalancingPolicy_Policy{{
		TypedExtensionConfig: &corev3.TypedExtensionConfig{Name: nameOverrideHost, TypedConfig: oh}}}}
	return p, p.ValidateAll()
}

func pickerKey(key string) *metadatav3.MetadataKey {
	return &metadatav3.MetadataKey{Key: pickerNamespace, Path: []*metadatav3.MetadataKey_PathSegment{
		{Segment: &metadatav3.MetadataKey_PathSegment_Key{Key: key}}}}
}

// pickerMode is how requests and responses go to the picker: headers, bodies (streamed both
// ways as they come, full duplex) and trailers.
func pickerMode() *extprocv3.ProcessingMode {
	return &extprocv3.ProcessingMode{
		RequestHeaderMode: extprocv3.ProcessingMode_SEND, ResponseHeaderMode: extprocv3.ProcessingMode_SEND,
		RequestBodyMode: extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED, ResponseBodyMode: extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED,
		RequestTrailerMode: extprocv3.ProcessingMode_SEND, ResponseTrailerMode: extprocv3.ProcessingMode_SEND,
	}
}

// pickerService calls the picker's cluster over Envoy's own gRPC client. It has no timeout:
// the stream lasts as long as the request and its (streamed) response.
func pickerService(cluster string) *corev3.GrpcService {
	return &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
		EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: cluster}}}
}

// extProcFilter is the ext_proc filter of an HTTP connection manager whose routes use Endpoint
// Pickers: disabled, so that only the requests of routes (or weighted clusters) that name a
// picker call one. Envoy requires a gRPC service even so: picker, the first of the route
// configuration's pickers by name, which every route that enables the filter overrides.
func (b *builder) extProcFilter(picker string) (*hcmv3.HttpFilter, error) {
	a, ok := b.extProc[picker]
	if !ok {
		var err error
		a, err = pack(&extprocv3.ExternalProcessor{
			GrpcService:    pickerService(picker),
			ProcessingMode: pickerMode(),
			MessageTimeout: durationpb.New(pickerMessageTimeout),
			MetadataOptions: &extprocv3.MetadataOptions{
				ForwardingNamespaces: &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: []string{pickerNamespace}},
				ReceivingNamespaces:  &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: []string{pickerNamespace}},
			},
		})
		if err != nil {
			return nil, err
		}
		if b.extProc == nil {
			b.extProc = map[string]*anypb.Any{}
		}
		b.extProc[picker] = a
	}
	return &hcmv3.HttpFilter{Name: nameExtProc, Disabled: true, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}}, nil
}

// pickerConfig is the ext_proc per-route configuration that enables the filter and asks picker
// p: requests fail when it cannot answer, unless it fails open (then the fallback round robin
// picks).
func (b *builder) pickerConfig(p model.EndpointPicker) (*anypb.Any, error) {
	if a, ok := b.pickerUses[p]; ok {
		return a, nil
	}
	a, err := pack(&extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Overrides{Overrides: &extprocv3.ExtProcOverrides{
		GrpcService:      pickerService(p.Cluster),
		FailureModeAllow: wrapperspb.Bool(p.FailOpen),
		ProcessingMode:   pickerMode(),
	}}})
	if err != nil {
		return nil, err
	}
	if b.pickerUses == nil {
		b.pickerUses = map[model.EndpointPicker]*anypb.Any{}
	}
	b.pickerUses[p] = a
	return a, nil
}

// endpointPickers lets the Endpoint Picker of each InferencePool a route forwards to choose the
// endpoint. A route that names its cluster directly carries the picker's configuration itself;
// a route with weighted clusters carries it on each weighted cluster whose pool has a picker
// (beside that backend's own filters), so that the pool Envoy picks for a request asks its own
// picker, and the shares of other backends ask none.
func (b *builder) endpointPickers(ctx *routeCtx, rt *routev3.Route, ra *routev3.RouteAction) error {
	switch cs := ra.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		a, err := b.pickerFor(ctx, cs.Cluster)
		if a != nil {
			rt.TypedPerFilterConfig = withFilterConfig(rt.TypedPerFilterConfig, nameExtProc, a)
		}
		return err
	case *routev3.RouteAction_WeightedClusters:
		for _, cw := range cs.WeightedClusters.GetClusters() {
			a, err := b.pickerFor(ctx, cw.Name)
			if err != nil {
				return err
			}
			if a != nil {
				cw.TypedPerFilterConfig = withFilterConfig(cw.TypedPerFilterConfig, nameExtProc, a)
			}
		}
	}
	return nil
}

// pickerFor is the per-route configuration for a cluster's picker, nil when it has none; the
// route configuration then needs the ext_proc filter.
func (b *builder) pickerFor(ctx *routeCtx, cluster string) (*anypb.Any, error) {
	c := b.cluster(cluster)
	if c == nil || c.EndpointPicker == nil {
		return nil, nil
	}
	if p := c.EndpointPicker.Cluster; ctx.picker == "" || p < ctx.picker {
		ctx.picker = p
	}
	return b.pickerConfig(*c.EndpointPicker)
}

// withFilterConfig adds a filter's per-route configuration to m (made when nil).
func withFilterConfig(m map[string]*anypb.Any, name string, a *anypb.Any) map[string]*anypb.Any {
	if m == nil {
		m = make(map[string]*anypb.Any, 1)
	}
	m[name] = a
	return m
}
