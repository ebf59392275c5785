package translate

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// slab hands out zeroed values of T from chunks, so that a Translate with thousands of routes
// and endpoints makes one allocation per chunk rather than one per message. A value stays where
// it is in its chunk (messages are never copied); chunks grow from 8 to 1024 values, so a small
// fleet wastes little.
type slab[T any] struct {
	free []T
	size int
}

func (s *slab[T]) new() *T {
	if len(s.free) == 0 {
		s.size = min(max(2*s.size, 8), 1024)
		s.free = make([]T, s.size)
	}
	p := &s.free[0]
	s.free = s.free[1:]
	return p
}

// arena holds the slabs of the messages a fleet has many of: per route, per cluster, per
// endpoint.
type arena struct {
	vhost        slab[routev3.VirtualHost]
	route        slab[routev3.Route]
	match        slab[routev3.RouteMatch]
	prefix       slab[routev3.RouteMatch_Prefix]
	path         slab[routev3.RouteMatch_Path]
	sepPrefix    slab[routev3.RouteMatch_PathSeparatedPrefix]
	routeRoute   slab[routev3.Route_Route]
	action       slab[routev3.RouteAction]
	actCluster   slab[routev3.RouteAction_Cluster]
	actWeighted  slab[routev3.RouteAction_WeightedClusters]
	weighted     slab[routev3.WeightedCluster]
	clusterW     slab[routev3.WeightedCluster_ClusterWeight]
	headerOption slab[corev3.HeaderValueOption]
	headerValue  slab[corev3.HeaderValue]

	cluster     slab[clusterv3.Cluster]
	clusterType slab[clusterv3.Cluster_Type]
	eds         slab[clusterv3.Cluster_EdsClusterConfig]
	cla         slab[endpointv3.ClusterLoadAssignment]
	locality    slab[endpointv3.LocalityLbEndpoints]
	lbEndpoint  slab[endpointv3.LbEndpoint]
	lbHost      slab[endpointv3.LbEndpoint_Endpoint]
	endpoint    slab[endpointv3.Endpoint]
	address     slab[corev3.Address]
	addrSocket  slab[corev3.Address_SocketAddress]
	socket      slab[corev3.SocketAddress]
	portValue   slab[corev3.SocketAddress_PortValue]

	weights map[uint32]*wrapperspb.UInt32Value
}

// weight is a shared, read-only UInt32Value (routes use few distinct weights).
func (a *arena) weight(w uint32) *wrapperspb.UInt32Value {
	v, ok := a.weights[w]
	if !ok {
		if a.weights == nil {
			a.weights = map[uint32]*wrapperspb.UInt32Value{}
		}
		v = wrapperspb.UInt32(w)
		a.weights[w] = v
	}
	return v
}

// socketAddress is an address built in the arena.
func (a *arena) socketAddress(host string, port uint32, proto corev3.SocketAddress_Protocol) *corev3.Address {
	pv := a.portValue.new()
	pv.PortValue = port
	s := a.socket.new()
	s.Protocol, s.Address, s.PortSpecifier = proto, host, pv
	as := a.addrSocket.new()
	as.SocketAddress = s
	addr := a.address.new()
	addr.Address = as
	return addr
}
