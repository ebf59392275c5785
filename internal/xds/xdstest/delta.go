package xdstest

import (
	"context"
	"crypto/tls"
	"maps"
	"slices"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/anypb"
)

// DeltaClient is a delta (incremental) ADS client subscribed to every resource of the types it
// was dialled with. It applies added, changed and removed resources, keeps the system version of
// the last accepted response as the type's Version, and ACKs (response_nonce) or NACKs
// (error_detail) each response.
type DeltaClient struct {
	base
	node     *corev3.Node
	stream   discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	sendMu   sync.Mutex
	sentNode bool
}

// DialDelta opens a delta ADS stream to addr over TLS and subscribes to all resources of each
// type (legacy wildcard: no names). Errors after the stream opened show as its end, as with Dial.
func DialDelta(ctx context.Context, addr string, tlsConfig *tls.Config, node *corev3.Node, typeURLs ...string) (*DeltaClient, error) {
	stream, conn, cancel, err := openStream(ctx, addr, tlsConfig, discoveryv3.AggregatedDiscoveryServiceClient.DeltaAggregatedResources)
	if err != nil {
		return nil, err
	}
	c := &DeltaClient{base: newBase(cancel), node: node, stream: stream}
	c.closeFn = conn.Close
	c.mu.Lock()
	for _, typ := range typeURLs {
		c.typ(typ).wildcard = true
	}
	c.mu.Unlock()
	for _, typ := range typeURLs {
		_ = c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typ})
	}
	go c.receive()
	return c, nil
}

// RedialDelta opens a new delta stream for the client whose earlier stream prev was, as Envoy
// reconnects: it keeps what it accepted, and each type's first request carries the versions of the
// resources it holds (initial_resource_versions), so a server with the same content has nothing
// to send again. Response counts start again at zero.
func RedialDelta(ctx context.Context, prev *DeltaClient, addr string, tlsConfig *tls.Config) (*DeltaClient, error) {
	stream, conn, cancel, err := openStream(ctx, addr, tlsConfig, discoveryv3.AggregatedDiscoveryServiceClient.DeltaAggregatedResources)
	if err != nil {
		return nil, err
	}
	c := &DeltaClient{base: newBase(cancel), node: prev.node, stream: stream}
	c.closeFn = conn.Close
	c.resumeFrom(&prev.base)
	var reqs []*discoveryv3.DeltaDiscoveryRequest
	c.mu.Lock()
	for _, typ := range slices.Sorted(maps.Keys(c.types)) {
		if st := c.types[typ]; st.wildcard {
			reqs = append(reqs, &discoveryv3.DeltaDiscoveryRequest{TypeUrl: typ, InitialResourceVersions: maps.Clone(st.versions)})
		}
	}
	c.mu.Unlock()
	for _, req := range reqs {
		_ = c.send(req)
	}
	go c.receive()
	return c, nil
}

func (c *DeltaClient) send(req *discoveryv3.DeltaDiscoveryRequest) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if !c.sentNode {
		req.Node, c.sentNode = c.node, true
	}
	return c.stream.Send(req)
}

func (c *DeltaClient) receive() {
	for {
		resp, err := c.stream.Recv()
		if err != nil {
			c.end(err)
			return
		}
		_ = c.send(c.handle(resp))
	}
}

// handle applies a response and returns the ACK or NACK.
func (c *DeltaClient) handle(resp *discoveryv3.DeltaDiscoveryResponse) *discoveryv3.DeltaDiscoveryRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.broadcastLocked()
	typ := resp.GetTypeUrl()
	st := c.typ(typ)
	st.responses++
	st.received += len(resp.GetResources())
	st.nonce = resp.GetNonce()
	packed := make([]*anypb.Any, 0, len(resp.GetResources()))
	for _, r := range resp.GetResources() {
		packed = append(packed, r.GetResource())
	}
	decoded, err := decode(packed)
	reason := st.reject
	if reason == "" && err != nil {
		reason = err.Error()
	}
	if reason != "" {
		st.nacks++
		return &discoveryv3.DeltaDiscoveryRequest{TypeUrl: typ, ResponseNonce: st.nonce,
			ErrorDetail: &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: reason}}
	}
	for name, m := range decoded {
		st.resources[name] = m
	}
	for _, r := range resp.GetResources() {
		st.versions[r.GetName()] = r.GetVersion()
	}
	for _, name := range resp.GetRemovedResources() {
		delete(st.resources, name)
		delete(st.versions, name)
	}
	st.version = resp.GetSystemVersionInfo()
	return &discoveryv3.DeltaDiscoveryRequest{TypeUrl: typ, ResponseNonce: st.nonce}
}
