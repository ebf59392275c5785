package xdstest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
)

// Client is a state-of-the-world ADS client that behaves like Envoy: it subscribes to all
// clusters and listeners, then to the endpoints, route configurations and secrets they name
// (updating those subscriptions whenever clusters or listeners change), sends its node on the
// first request only, and ACKs each response (version_info and response_nonce), or NACKs it
// (version_info of the last accepted version, error_detail) when the type is rejected.
type Client struct {
	base
	node     *corev3.Node
	stream   discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	sendMu   sync.Mutex
	sentNode bool
}

// Dial opens an ADS stream to addr over TLS (tlsConfig carries the client certificate and the
// server CA) and subscribes like Envoy starting up. A nil node sends none. The stream lives until
// ctx ends or Close; a failed handshake or a refused stream shows as the stream's end (Err, Done,
// Wait), not as an error here, since gRPC connects lazily.
func Dial(ctx context.Context, addr string, tlsConfig *tls.Config, node *corev3.Node) (*Client, error) {
	stream, conn, cancel, err := openStream(ctx, addr, tlsConfig, discoveryv3.AggregatedDiscoveryServiceClient.StreamAggregatedResources)
	if err != nil {
		return nil, err
	}
	c := &Client{base: newBase(cancel), node: node, stream: stream}
	c.closeFn = conn.Close
	c.mu.Lock()
	c.typ(resource.ClusterType).wildcard = true
	c.typ(resource.ListenerType).wildcard = true
	c.mu.Unlock()
	// Errors sending show up as the stream's end, which the receiving goroutine records.
	_ = c.send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.ClusterType})
	_ = c.send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.ListenerType})
	go c.receive()
	return c, nil
}

// Redial opens a new stream for the Envoy whose earlier stream prev was (ended, say, by a server
// restart), as Envoy reconnects: it keeps what it accepted, and its first request of each type it
// subscribed to carries the version it runs and the names it subscribes to (clusters, endpoints,
// secrets, listeners, route configurations: the order Envoy first subscribed in). Response counts
// start again at zero.
func Redial(ctx context.Context, prev *Client, addr string, tlsConfig *tls.Config) (*Client, error) {
	stream, conn, cancel, err := openStream(ctx, addr, tlsConfig, discoveryv3.AggregatedDiscoveryServiceClient.StreamAggregatedResources)
	if err != nil {
		return nil, err
	}
	c := &Client{base: newBase(cancel), node: prev.node, stream: stream}
	c.closeFn = conn.Close
	c.resumeFrom(&prev.base)
	var reqs []*discoveryv3.DiscoveryRequest
	c.mu.Lock()
	for _, typ := range []string{resource.ClusterType, resource.EndpointType, resource.SecretType, resource.ListenerType, resource.RouteType} {
		st := c.typ(typ)
		if !st.wildcard && st.names == nil {
			continue // never subscribed
		}
		reqs = append(reqs, &discoveryv3.DiscoveryRequest{TypeUrl: typ, VersionInfo: st.version, ResourceNames: st.names})
	}
	c.mu.Unlock()
	for _, req := range reqs {
		_ = c.send(req)
	}
	go c.receive()
	return c, nil
}

// openStream dials addr over TLS and opens one stream with open (a state-of-the-world or delta
// ADS stream); the stream ends with the returned cancel.
func openStream[S any](ctx context.Context, addr string, tlsConfig *tls.Config,
	open func(discoveryv3.AggregatedDiscoveryServiceClient, context.Context, ...grpc.CallOption) (S, error)) (S, *grpc.ClientConn, context.CancelFunc, error) {
	var zero S
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
	if err != nil {
		return zero, nil, nil, fmt.Errorf("dialling xDS server %s: %w", addr, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := open(discoveryv3.NewAggregatedDiscoveryServiceClient(conn), sctx)
	if err != nil {
		cancel()
		_ = conn.Close()
		return zero, nil, nil, fmt.Errorf("opening an ADS stream to %s: %w", addr, err)
	}
	return stream, conn, cancel, nil
}

func (c *Client) send(req *discoveryv3.DiscoveryRequest) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if !c.sentNode {
		req.Node, c.sentNode = c.node, true
	}
	return c.stream.Send(req)
}

func (c *Client) receive() {
	for {
		resp, err := c.stream.Recv()
		if err != nil {
			c.end(err)
			return
		}
		for _, req := range c.handle(resp) {
			_ = c.send(req)
		}
	}
}

// handle applies a response and returns the requests Envoy would send in reply: the ACK or NACK,
// then the subscriptions that clusters or listeners changed.
func (c *Client) handle(resp *discoveryv3.DiscoveryResponse) []*discoveryv3.DiscoveryRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.broadcastLocked()
	typ := resp.GetTypeUrl()
	st := c.typ(typ)
	st.responses++
	st.received += len(resp.GetResources())
	st.nonce = resp.GetNonce()
	decoded, err := decode(resp.GetResources())
	reason := st.reject
	if reason == "" && err != nil {
		reason = err.Error()
	}
	if reason != "" {
		st.nacks++
		return []*discoveryv3.DiscoveryRequest{{
			TypeUrl: typ, VersionInfo: st.version, ResponseNonce: st.nonce, ResourceNames: st.names,
			ErrorDetail: &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: reason},
		}}
	}
	if st.wildcard {
		st.resources = decoded
	} else { // named resources absent from a response are not removed
		for name, m := range decoded {
			if slices.Contains(st.names, name) {
				st.resources[name] = m
			}
		}
	}
	st.version = resp.GetVersionInfo()
	out := []*discoveryv3.DiscoveryRequest{{TypeUrl: typ, VersionInfo: st.version, ResponseNonce: st.nonce, ResourceNames: st.names}}
	if typ == resource.ClusterType || typ == resource.ListenerType {
		out = append(out, c.resubscribeLocked()...)
	}
	return out
}

// resubscribeLocked updates the named subscriptions to what the clusters and listeners name.
func (c *Client) resubscribeLocked() []*discoveryv3.DiscoveryRequest {
	r := references(c.typ(resource.ClusterType).resources, c.typ(resource.ListenerType).resources)
	var out []*discoveryv3.DiscoveryRequest
	for _, sub := range []struct {
		typ   string
		names map[string]bool
	}{{resource.EndpointType, r.endpoints}, {resource.RouteType, r.routes}, {resource.SecretType, r.secrets}} {
		st := c.typ(sub.typ)
		names := sorted(sub.names)
		if slices.Equal(names, st.names) || len(names) == 0 && st.names == nil {
			continue // unchanged, or never subscribed (an empty first request would mean "all")
		}
		st.names = names
		for name := range st.resources {
			if !sub.names[name] {
				delete(st.resources, name)
			}
		}
		out = append(out, &discoveryv3.DiscoveryRequest{TypeUrl: sub.typ, VersionInfo: st.version, ResponseNonce: st.nonce, ResourceNames: names})
	}
	return out
}

// Subscriptions returns the resource names the client subscribes to for a named type (EDS, RDS,
// SDS); nil for the wildcard types.
func (c *Client) Subscriptions(typeURL string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.typ(typeURL).names)
}

// EnvoyTLS is the TLS configuration of a fleet's Envoy: its client certificate and key (the fleet
// Secret's tls.crt and tls.key) and the CA bundle it verifies the xDS server with (the fleet
// ConfigMap's xds-ca.crt), for the server name it dials.
func EnvoyTLS(certPEM, keyPEM, serverCAPEM []byte, serverName string) (*tls.Config, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("fleet certificate: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(serverCAPEM) {
		return nil, errors.New("no CA certificate to verify the xDS server with")
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, ServerName: serverName,
		MinVersion: tls.VersionTLS12}, nil
}

// NACKAgain sends the NACK of the last response of a rejected type n times more, as a misbehaving
// client in a loop would (the server must bound what that costs it).
func (c *Client) NACKAgain(typeURL string, n int) error {
	c.mu.Lock()
	st := c.typ(typeURL)
	req := &discoveryv3.DiscoveryRequest{TypeUrl: typeURL, VersionInfo: st.version, ResponseNonce: st.nonce, ResourceNames: st.names,
		ErrorDetail: &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: st.reject}}
	c.mu.Unlock()
	for range n {
		if err := c.send(req); err != nil {
			return err
		}
	}
	return nil
}
