package xdstest

import (
	"maps"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
)

// refs are the names Envoy would subscribe to, given its clusters and listeners: the endpoints
// of EDS clusters, the route configurations of HTTP connection managers using RDS, and the
// secrets their TLS contexts fetch over ADS.
type refs struct {
	endpoints, routes, secrets map[string]bool
}

func references(clusters, listeners map[string]proto.Message) refs {
	r := refs{endpoints: map[string]bool{}, routes: map[string]bool{}, secrets: map[string]bool{}}
	for _, m := range clusters {
		c, ok := m.(*clusterv3.Cluster)
		if !ok {
			continue
		}
		if c.GetType() == clusterv3.Cluster_EDS {
			name := c.GetEdsClusterConfig().GetServiceName()
			if name == "" {
				name = c.GetName()
			}
			r.endpoints[name] = true
		}
		r.transportSocket(c.GetTransportSocket(), &tlsv3.UpstreamTlsContext{})
		for _, match := range c.GetTransportSocketMatches() {
			r.transportSocket(match.GetTransportSocket(), &tlsv3.UpstreamTlsContext{})
		}
	}
	for _, m := range listeners {
		l, ok := m.(*listenerv3.Listener)
		if !ok {
			continue
		}
		chains := l.GetFilterChains()
		if d := l.GetDefaultFilterChain(); d != nil {
			chains = append(slices.Clone(chains), d)
		}
		for _, chain := range chains {
			r.transportSocket(chain.GetTransportSocket(), &tlsv3.DownstreamTlsContext{})
			for _, f := range chain.GetFilters() {
				hcm := resource.GetHTTPConnectionManager(f)
				if rds := hcm.GetRds(); rds != nil && isADS(rds.GetConfigSource()) {
					r.routes[rds.GetRouteConfigName()] = true
				}
			}
		}
	}
	return r
}

// tlsContext is what Upstream- and DownstreamTlsContext share.
type tlsContext interface {
	proto.Message
	GetCommonTlsContext() *tlsv3.CommonTlsContext
}

func (r refs) transportSocket(ts *corev3.TransportSocket, into tlsContext) {
	typed := ts.GetTypedConfig()
	if typed == nil || typed.UnmarshalTo(into) != nil {
		return
	}
	common := into.GetCommonTlsContext()
	sds := slices.Clone(common.GetTlsCertificateSdsSecretConfigs())
	sds = append(sds, common.GetValidationContextSdsSecretConfig(),
		common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig())
	for _, s := range sds {
		if s != nil && isADS(s.GetSdsConfig()) {
			r.secrets[s.GetName()] = true
		}
	}
}

func isADS(src *corev3.ConfigSource) bool { return src.GetAds() != nil }

func sorted(set map[string]bool) []string { return slices.Sorted(maps.Keys(set)) }
