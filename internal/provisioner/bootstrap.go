package provisioner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	healthcheckv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/health_check/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

// Where the bootstrap lives and what Envoy listens on besides the Gateway's listeners.
const (
	BootstrapDir  = "/etc/envoy"
	BootstrapKey  = "bootstrap.yaml"
	BootstrapPath = BootstrapDir + "/" + BootstrapKey

	// XDSClusterName is the static cluster that reaches the operator's xDS server.
	XDSClusterName = "xds_cluster"

	// AdminPort is Envoy's admin interface, on 127.0.0.1 only.
	AdminPort int32 = 19000
	// HealthPort serves ReadyPath: 200 once Envoy is initialised and not failing health checks.
	HealthPort int32 = 19001
	// StatsPort serves StatsPath (Prometheus format) when Prometheus is enabled.
	StatsPort int32 = 19002

	ReadyPath = "/ready"
	StatsPath = "/stats/prometheus"

	adminClusterName = "admin"
)

// IsReservedPort reports whether Envoy uses port itself (admin, health, stats), so a Gateway
// listener cannot: the resolver refuses such listeners (PortUnavailable) and the Service never
// exposes them.
func IsReservedPort(port int32) bool {
	return port == AdminPort || port == HealthPort || port == StatsPort
}

// Bootstrap renders the fleet's Envoy bootstrap as YAML and returns it with its checksum (the
// first 16 hex digits of its SHA-256). The bootstrap is validated with ValidateAll; an error is a
// bug in this package, not a user mistake.
func Bootstrap(gw *gwapiv1.Gateway, p Params) (bootstrap string, checksum string, err error) {
	bs := &bootstrapv3.Bootstrap{
		// node.id comes from --service-node $(POD_NAME).
		Node: &corev3.Node{Cluster: FleetKey(gw)},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType:                   corev3.ApiConfigSource_GRPC,
				TransportApiVersion:       corev3.ApiVersion_V3,
				SetNodeOnFirstMessageOnly: true,
				GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: XDSClusterName},
				}}},
			},
			LdsConfig: adsSource(),
			CdsConfig: adsSource(),
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Clusters:  []*clusterv3.Cluster{xdsCluster(p)},
			Listeners: []*listenerv3.Listener{healthListener()},
		},
		Admin:          &bootstrapv3.Admin{Address: socketAddress("127.0.0.1", AdminPort)},
		LayeredRuntime: runtimeLayers(),
	}
	if p.Prometheus {
		bs.StaticResources.Clusters = append(bs.StaticResources.Clusters, adminCluster())
		bs.StaticResources.Listeners = append(bs.StaticResources.Listeners, statsListener())
	}
	if err := bs.ValidateAll(); err != nil {
		return "", "", fmt.Errorf("validating bootstrap of fleet %s: %w", FleetKey(gw), err)
	}
	out, err := renderYAML(bs)
	if err != nil {
		return "", "", fmt.Errorf("rendering bootstrap of fleet %s: %w", FleetKey(gw), err)
	}
	sum := sha256.Sum256(out)
	return string(out), hex.EncodeToString(sum[:])[:16], nil
}

// RegexProgramSizeLimit is the RE2 program size above which Envoy refuses a regular expression
// (and with it the whole route configuration). Envoy's default, 100, refuses ordinary header
// patterns; resolve refuses, per route, regexes that come near this limit, so one route's regex
// never makes Envoy reject a fleet's configuration.
const RegexProgramSizeLimit = 1000

// runtimeLayers are the fleet's runtime: Flotilla's static settings, then an admin layer so an
// operator debugging a pod can still override values through Envoy's admin interface.
func runtimeLayers() *bootstrapv3.LayeredRuntime {
	static, err := structpb.NewStruct(map[string]any{
		"re2.max_program_size.error_level": RegexProgramSizeLimit,
		"re2.max_program_size.warn_level":  RegexProgramSizeLimit / 2,
	})
	if err != nil {
		panic(err) // constant input
	}
	return &bootstrapv3.LayeredRuntime{Layers: []*bootstrapv3.RuntimeLayer{
		{Name: "flotilla", LayerSpecifier: &bootstrapv3.RuntimeLayer_StaticLayer{StaticLayer: static}},
		{Name: "admin", LayerSpecifier: &bootstrapv3.RuntimeLayer_AdminLayer_{AdminLayer: &bootstrapv3.RuntimeLayer_AdminLayer{}}},
	}}
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// xdsCluster reaches the xDS server over HTTP/2 and mTLS: the client certificate and the CA come
// from the fleet Secret through file-based SDS; the server must present XDSAddress as a SAN.
func xdsCluster(p Params) *clusterv3.Cluster {
	sanType, sanValue := tlsv3.SubjectAltNameMatcher_DNS, p.XDSAddress
	if ip, err := netip.ParseAddr(p.XDSAddress); err == nil {
		sanType, sanValue = tlsv3.SubjectAltNameMatcher_IP_ADDRESS, ip.String()
	}
	tlsContext := &tlsv3.UpstreamTlsContext{
		Sni: p.XDSAddress,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsParams:                      &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_3},
			AlpnProtocols:                  []string{"h2"},
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsConfig(SDSCertificateName, KeySDSCertificate)},
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
				CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
					DefaultValidationContext: &tlsv3.CertificateValidationContext{
						MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
							SanType: sanType,
							Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: sanValue}},
						}},
					},
					ValidationContextSdsSecretConfig: sdsConfig(SDSValidationContextName, KeySDSValidationContext),
				},
			},
		},
	}
	http2 := &httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
				ConnectionKeepalive: &corev3.KeepaliveSettings{Interval: durationpb.New(30 * time.Second), Timeout: durationpb.New(5 * time.Second)},
			}},
		}},
	}
	return &clusterv3.Cluster{
		Name:                 XDSClusterName,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		ConnectTimeout:       durationpb.New(10 * time.Second),
		LoadAssignment:       singleEndpoint(XDSClusterName, p.XDSAddress, p.XDSPort),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(http2),
		},
		TransportSocket: &corev3.TransportSocket{
			Name:       "envoy.transport_sockets.tls",
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(tlsContext)},
		},
	}
}

// adminCluster lets the stats listener reach the admin interface.
func adminCluster() *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 adminClusterName,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(250 * time.Millisecond),
		LoadAssignment:       singleEndpoint(adminClusterName, "127.0.0.1", AdminPort),
	}
}

// healthListener answers ReadyPath with Envoy's health_check filter: 200 while the server is
// live and not draining, 503 otherwise. Static listeners only accept connections once Envoy has
// its initial xDS configuration, so readiness also means "configured".
func healthListener() *listenerv3.Listener {
	check := &healthcheckv3.HealthCheck{
		PassThroughMode: wrapperspb.Bool(false),
		Headers: []*routev3.HeaderMatcher{{
			Name: ":path",
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
				MatchPattern: &matcherv3.StringMatcher_Exact{Exact: ReadyPath},
			}},
		}},
	}
	return httpListener("health", HealthPort, &routev3.RouteConfiguration{Name: "health"},
		&hcmv3.HttpFilter{Name: "envoy.filters.http.health_check", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(check)}})
}

// statsListener routes StatsPath, and nothing else, to the admin interface.
func statsListener() *listenerv3.Listener {
	routes := &routev3.RouteConfiguration{
		Name: "stats",
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    "stats",
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: StatsPath}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: adminClusterName},
				}},
			}},
		}},
	}
	return httpListener("stats", StatsPort, routes)
}

func httpListener(name string, port int32, routes *routev3.RouteConfiguration, filters ...*hcmv3.HttpFilter) *listenerv3.Listener {
	router := &hcmv3.HttpFilter{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}}
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:     name,
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: routes},
		HttpFilters:    append(filters, router),
	}
	return &listenerv3.Listener{
		Name:    name,
		Address: socketAddress("0.0.0.0", port),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name:       "envoy.filters.network.http_connection_manager",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
		}}}},
	}
}

func singleEndpoint(cluster, host string, port int32) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: cluster,
		Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(host, port)}},
		}}}},
	}
}

func socketAddress(host string, port int32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
	}}}
}

// mustAny packs a message built in this file; it cannot fail for a registered, non-nil message.
func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(fmt.Sprintf("provisioner: packing %T: %v", m, err))
	}
	return a
}

// renderYAML renders a proto as YAML with snake_case field names. protojson's output is not
// stable byte for byte; converting it to YAML re-parses it and sorts the keys, so the result is.
func renderYAML(m proto.Message) ([]byte, error) {
	j, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(j)
}
