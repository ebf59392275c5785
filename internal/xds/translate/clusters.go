package translate

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// connectTimeout bounds the TCP (and TLS) handshake with an endpoint.
const connectTimeout = 10 * time.Second

// translateClusters gives every model cluster an EDS cluster and its ClusterLoadAssignment (empty
// when the cluster has no usable endpoint, so that Envoy does not wait for one), and a TLS
// transport socket when the model asks for backend TLS (see upstreamTLS). An InferencePool's
// cluster whose Endpoint Picker chooses the endpoint balances with override_host, and an Endpoint
// Picker's cluster is health-checked over gRPC (see inferenceCluster).
func (b *builder) translateClusters() error {
	if p := b.sameClusters; p != nil && !slices.ContainsFunc(b.fleet.Clusters, func(c model.Cluster) bool { return b.pickers[c.Name] }) {
		// Shared: resources are read-only (UpdateEndpoints copies the list it changes).
		b.res.Clusters, b.res.Endpoints, b.allKept = p.Clusters, p.Endpoints, true
		return nil
	}
	timeout := durationpb.New(connectTimeout)
	var h2 map[string]*anypb.Any
	for i := range b.fleet.Clusters {
		mc := &b.fleet.Clusters[i]
		if b.reuse != nil {
			if c, cla, claKept, ok := b.reuse(b, mc); ok {
				b.res.Clusters, b.res.Endpoints = append(b.res.Clusters, c), append(b.res.Endpoints, cla)
				b.keptClusters, b.keptCLAs = append(b.keptClusters, true), append(b.keptCLAs, claKept)
				continue
			}
		}
		typ, eds := b.a.clusterType.new(), b.a.eds.new()
		typ.Type = clusterv3.Cluster_EDS
		eds.EdsConfig, eds.ServiceName = b.ads, mc.Name
		c := b.a.cluster.new()
		c.Name, c.ClusterDiscoveryType, c.EdsClusterConfig = mc.Name, typ, eds
		c.ConnectTimeout, c.LbPolicy = timeout, clusterv3.Cluster_ROUND_ROBIN
		if mc.ConnectTimeout != "" {
			if d, ok := parseDuration(mc.ConnectTimeout); ok && d > 0 {
				c.ConnectTimeout = durationpb.New(d)
			} else {
				b.warnf("cluster %s: connect timeout %q is not a positive duration; %s is used", mc.Name, mc.ConnectTimeout, connectTimeout)
			}
		}
		if lb := mc.LoadBalancer; lb != nil {
			switch lb.Policy {
			case model.LoadBalancerRingHash:
				c.LbPolicy = clusterv3.Cluster_RING_HASH
			case model.LoadBalancerLeastRequest:
				c.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
			case model.LoadBalancerRoundRobin, "":
			default:
				b.warnf("cluster %s: load balancer policy %q is unknown; round robin applies", mc.Name, lb.Policy)
			}
		}
		switch mc.Protocol {
		case model.ClusterH2C, model.ClusterGRPC:
			if h2 == nil {
				h2 = map[string]*anypb.Any{nameHTTPOptions: b.http2Options}
			}
			c.TypedExtensionProtocolOptions = h2
		case model.ClusterHTTP, model.ClusterWebSocket, model.ClusterTCP, model.ClusterTLSPassthrough, model.ClusterUDP:
		default:
			b.warnf("cluster %s: protocol %q is unknown; Envoy's defaults apply", mc.Name, mc.Protocol)
		}
		if err := b.inferenceCluster(c, mc); err != nil {
			return err
		}
		if mc.TLS != nil {
			sock, err := b.upstreamTLS(mc)
			if err != nil {
				// Fail closed: the cluster stays (routes refer to it) but has no endpoints, so
				// Envoy answers 503 for its share, and never speaks plaintext to the backend.
				b.warnf("cluster %s fails closed (no endpoints): backend TLS: %v", mc.Name, err)
				cla := b.a.cla.new()
				cla.ClusterName = mc.Name
				b.res.Clusters, b.res.Endpoints = append(b.res.Clusters, c), append(b.res.Endpoints, cla)
				b.keptClusters, b.keptCLAs = append(b.keptClusters, false), append(b.keptCLAs, false)
				continue
			}
			c.TransportSocket = sock
		}
		b.res.Clusters = append(b.res.Clusters, c)
		b.res.Endpoints = append(b.res.Endpoints, b.loadAssignment(mc))
		b.keptClusters, b.keptCLAs = append(b.keptClusters, false), append(b.keptCLAs, false)
	}
	return nil
}

// loadAssignment lists a cluster's endpoints by zone. Ready endpoints take traffic; when none is
// ready, the serving ones do (Kubernetes' rule for terminating endpoints). Both are HEALTHY to
// Envoy, which has no health checks of its own here.
func (b *builder) loadAssignment(mc *model.Cluster) *endpointv3.ClusterLoadAssignment {
	cla := b.a.cla.new()
	cla.ClusterName = mc.Name
	ready := slices.ContainsFunc(mc.Endpoints, func(e model.Endpoint) bool { return e.Ready })
	use := b.endpoints[:0]
	for i := range mc.Endpoints {
		e := &mc.Endpoints[i]
		if ready && !e.Ready || !ready && !e.Serving {
			continue
		}
		if ip, err := netip.ParseAddr(e.Address); err != nil || ip.Zone() != "" || e.Port < 1 || e.Port > 65535 {
			b.warnf("cluster %s: endpoint %q port %d is not an IP address and port; left out", mc.Name, e.Address, e.Port)
			continue
		}
		use = append(use, e)
	}
	// Group by zone, zones sorted ("" first), then by address and port.
	slices.SortFunc(use, func(x, y *model.Endpoint) int {
		return cmp.Or(cmp.Compare(x.Zone, y.Zone), cmp.Compare(x.Address, y.Address), cmp.Compare(x.Port, y.Port))
	})
	lbs := make([]*endpointv3.LbEndpoint, len(use)) // one backing array for every zone
	var group *endpointv3.LocalityLbEndpoints
	start := 0
	for i, e := range use {
		if i == 0 || e.Zone != use[i-1].Zone {
			if group != nil {
				group.LbEndpoints, start = lbs[start:i:i], i
			}
			group = b.a.locality.new()
			if e.Zone != "" {
				group.Locality = &corev3.Locality{Zone: e.Zone}
			}
			cla.Endpoints = append(cla.Endpoints, group)
		}
		ep, host, lb := b.a.endpoint.new(), b.a.lbHost.new(), b.a.lbEndpoint.new()
		ep.Address = b.a.socketAddress(e.Address, uint32(e.Port), corev3.SocketAddress_TCP)
		host.Endpoint = ep
		lb.HealthStatus, lb.HostIdentifier = corev3.HealthStatus_HEALTHY, host
		lbs[i] = lb
	}
	if group != nil {
		group.LbEndpoints = lbs[start:]
	}
	b.endpoints = use[:0]
	return cla
}

// translateSecrets gives every model Secret with data its SDS secret. A Secret without data is
// not emitted; the filter chains that need it are left out (see filterChain).
func (b *builder) translateSecrets() {
	for _, s := range b.fleet.Secrets {
		d, ok := b.secrets[s.Name]
		if !ok || len(d.Cert) == 0 || len(d.Key) == 0 {
			b.warnf("Secret %s: no certificate data", s.Name)
			continue
		}
		b.available[s.Name] = true
		b.res.Secrets = append(b.res.Secrets, &tlsv3.Secret{
			Name: s.Name,
			Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
				CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: d.Cert}},
				PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: d.Key}},
			}},
		})
	}
}
