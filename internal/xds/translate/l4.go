package translate

import (
	"fmt"
	"math"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	udpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// share is one weighted destination: a model cluster, or InvalidBackendCluster.
type share struct {
	cluster string
	weight  uint32
	filters []model.Filter
}

// shares are (appended to out[:0]) the destinations of a Backends with a non-zero weight, in the model's order, the
// invalid share last. Envoy refuses weights that add up to more than 2^32-1: such weights are
// divided by a common factor (keeping every non-zero weight at least 1).
func shares(bs *model.Backends, out []share) []share {
	out = out[:0]
	if bs == nil {
		return out
	}
	var sum uint64
	for _, c := range bs.Clusters {
		if c.Weight > 0 {
			out = append(out, share{cluster: c.Cluster, weight: c.Weight, filters: c.Filters})
			sum += uint64(c.Weight)
		}
	}
	if len(out) == 0 {
		// Every backend invalid (or weighted zero): nothing to send to, whatever the invalid weight.
		return out
	}
	if bs.InvalidWeight > 0 {
		out = append(out, share{cluster: InvalidBackendCluster, weight: bs.InvalidWeight})
		sum += uint64(bs.InvalidWeight)
	}
	if sum > math.MaxUint32 {
		// Leave room for the weights rounded up to 1.
		div := sum/(math.MaxUint32-uint64(len(out))) + 1
		for i := range out {
			out[i].weight = max(uint32(uint64(out[i].weight)/div), 1)
		}
	}
	return out
}

// tcpProxy proxies connections to the backends (weighted when there are several); the invalid
// share goes to InvalidBackendCluster, whose connections Envoy closes. Without any backend,
// every connection is closed.
func (b *builder) tcpProxy(statPrefix string, bs *model.Backends) (*listenerv3.Filter, error) {
	sh := shares(bs, nil)
	if len(sh) == 0 {
		return b.closeFilter(), nil
	}
	if err := b.known(sh); err != nil {
		return nil, err
	}
	tp := &tcpproxyv3.TcpProxy{StatPrefix: statPrefix}
	if len(sh) == 1 {
		tp.ClusterSpecifier = &tcpproxyv3.TcpProxy_Cluster{Cluster: sh[0].cluster}
	} else {
		wc := &tcpproxyv3.TcpProxy_WeightedCluster{Clusters: make([]*tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight, len(sh))}
		for i, s := range sh {
			wc.Clusters[i] = &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{Name: s.cluster, Weight: s.weight}
		}
		tp.ClusterSpecifier = &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: wc}
	}
	a, err := pack(tp)
	if err != nil {
		return nil, err
	}
	return &listenerv3.Filter{Name: nameTCPProxy, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a}}, nil
}

// udpProxy sends datagrams to one cluster: Envoy's UDP proxy cannot split traffic by weight, so
// the cluster with the highest weight (the first of equals) takes everything, with a warning when
// others are left out. Without any backend the datagrams go to InvalidBackendCluster, which
// drops them. The route is given with the matcher API (the cluster field is deprecated).
func (b *builder) udpProxy(name string, bs *model.Backends) (*listenerv3.ListenerFilter, error) {
	target := InvalidBackendCluster
	var best uint32
	sh := shares(bs, nil)
	if err := b.known(sh); err != nil {
		return nil, err
	}
	for _, s := range sh {
		if s.cluster != InvalidBackendCluster && s.weight > best {
			target, best = s.cluster, s.weight
		}
	}
	if len(sh) > 1 {
		b.warnf("listener %s: the UDP proxy cannot split traffic by weight; every datagram goes to %s", name, target)
	}
	route, err := pack(&udpproxyv3.Route{Cluster: target})
	if err != nil {
		return nil, err
	}
	cfg := &udpproxyv3.UdpProxyConfig{
		StatPrefix: name,
		RouteSpecifier: &udpproxyv3.UdpProxyConfig_Matcher{Matcher: &xdsmatcherv3.Matcher{
			OnNoMatch: &xdsmatcherv3.Matcher_OnMatch{OnMatch: &xdsmatcherv3.Matcher_OnMatch_Action{
				Action: &xdscorev3.TypedExtensionConfig{Name: "route", TypedConfig: route},
			}},
		}},
	}
	a, err := pack(cfg)
	if err != nil {
		return nil, err
	}
	return &listenerv3.ListenerFilter{Name: nameUDPProxy, ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: a}}, nil
}

// known checks that shares name clusters of the fleet (or InvalidBackendCluster).
func (b *builder) known(sh []share) error {
	for _, s := range sh {
		if _, ok := b.clusters[s.cluster]; !ok && s.cluster != InvalidBackendCluster {
			return fmt.Errorf("cluster %q is not in the fleet", s.cluster)
		}
	}
	return nil
}
