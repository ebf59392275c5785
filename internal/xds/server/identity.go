package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/delta/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/flotilla-dev/flotilla/internal/pki"
)

// streamKey names a stream: go-control-plane numbers state-of-the-world and delta streams
// separately, and each Serve call has its own go-control-plane server.
type streamKey struct {
	serve uint32
	delta bool
	id    int64
}

// xstream is what the server knows of one stream. Guarded by Server.mu.
type xstream struct {
	key      streamKey
	fleet    string // the fleet the client certificate names, once it is authorized; "" otherwise
	claimed  string // the fleet the certificate names, authorized or not (for refusal logs)
	refusal  string // why the stream is refused at open, if it is
	detail   string // the refusal's explanation (AuthorizeFleet's error)
	peer     string
	cancel   func(error)
	expiry   *time.Timer           // closes the stream when its certificate expires
	chains   [][]*x509.Certificate // the verified chains of its client certificate (Reauthorize)
	admitted bool                  // a request passed the identity check: counted as connected
	node     *corev3.Node          // the node requests carry (Envoy sends it on the first one only)
	types    map[string]*typeState
}

// callbacks are go-control-plane's hooks into the server, for the streams of one Serve call.
type callbacks struct {
	s     *Server
	serve uint32
}

var (
	_ sotw.Callbacks  = callbacks{}
	_ delta.Callbacks = callbacks{}
)

func (c callbacks) OnStreamOpen(ctx context.Context, id int64, _ string) error {
	return c.s.open(ctx, streamKey{c.serve, false, id})
}

func (c callbacks) OnDeltaStreamOpen(ctx context.Context, id int64, _ string) error {
	return c.s.open(ctx, streamKey{c.serve, true, id})
}

func (c callbacks) OnStreamClosed(id int64, _ *corev3.Node) {
	c.s.closed(streamKey{c.serve, false, id})
}

func (c callbacks) OnDeltaStreamClosed(id int64, _ *corev3.Node) {
	c.s.closed(streamKey{c.serve, true, id})
}

// OnStreamRequest: go-control-plane has already put the stream's remembered node on a request
// that carries none (an empty node when the first request had none).
func (c callbacks) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	return c.s.request(streamKey{c.serve, false, id}, req.GetNode(), req)
}

// OnStreamDeltaRequest: go-control-plane fills in the node only after this call, so a request
// without one is checked against the node of the stream's first request.
func (c callbacks) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	return c.s.request(streamKey{c.serve, true, id}, req.GetNode(), req)
}

func (c callbacks) OnStreamResponse(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	c.s.sent(streamKey{c.serve, false, id}, resp.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo())
}

func (c callbacks) OnStreamDeltaResponse(id int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
	c.s.sent(streamKey{c.serve, true, id}, resp.GetTypeUrl(), resp.GetNonce(), resp.GetSystemVersionInfo())
}

// peerIdentity is what a stream's verified client certificate says, and why it is refused if it is.
type peerIdentity struct {
	fleet   string // authorized fleet; "" when refused
	claimed string // the fleet the certificate names, authorized or not
	refusal string
	detail  string
	addr    string
	// expires is when the first certificate of the authorized chain expires (zero when refused).
	expires time.Time
	chains  [][]*x509.Certificate
}

// identity returns the fleet the stream's verified client certificate names, or why there is none.
func identity(ctx context.Context, authorize func(string, []*x509.Certificate) error) peerIdentity {
	var id peerIdentity
	p, ok := peer.FromContext(ctx)
	if !ok {
		id.refusal = ReasonNoCertificate
		return id
	}
	if p.Addr != nil {
		id.addr = p.Addr.String()
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		id.refusal = ReasonNoCertificate
		return id
	}
	id.chains = info.State.VerifiedChains
	leaf := info.State.VerifiedChains[0][0]
	fleet, ok := pki.FleetFromCert(leaf)
	if !ok {
		id.refusal, id.detail = ReasonNoFleetIdentity, fmt.Sprintf("certificate subject %q, serial %s", leaf.Subject, leaf.SerialNumber)
		return id
	}
	id.claimed = fleet
	if authorize == nil {
		id.fleet, id.expires = fleet, chainExpiry(info.State.VerifiedChains[0])
		return id
	}
	// Every verified chain is tried (a certificate may chain to several trusted CAs); the refusal
	// reported is the first chain's.
	for i, chain := range info.State.VerifiedChains {
		err := authorize(fleet, chain)
		if err == nil {
			id.fleet, id.refusal, id.detail, id.expires = fleet, "", "", chainExpiry(chain)
			return id
		}
		if i == 0 {
			id.refusal, id.detail = ReasonUntrustedIssuer, err.Error()
			var r *Refusal
			if errors.As(err, &r) {
				id.refusal, id.detail = r.Reason, r.Err.Error()
			}
		}
	}
	return id
}

// chainExpiry is when the first certificate of a chain expires: TLS checked the chain at the
// handshake only, so that is when the stream stops being proved.
func chainExpiry(chain []*x509.Certificate) time.Time {
	var t time.Time
	for _, c := range chain {
		if t.IsZero() || c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}

// open registers a stream with the identity its certificate proves, refusing it when there is none.
func (s *Server) open(ctx context.Context, key streamKey) error {
	id := identity(ctx, s.o.AuthorizeFleet)
	fleet, refusal, addr := id.fleet, id.refusal, id.addr
	st := &xstream{key: key, fleet: fleet, claimed: id.claimed, refusal: refusal, detail: id.detail, peer: addr,
		cancel: cancelFrom(ctx), types: map[string]*typeState{}, chains: id.chains}
	if fleet != "" && st.cancel != nil && !id.expires.IsZero() {
		// Closed when the certificate expires (TLS verified it at the handshake only).
		st.expiry = time.AfterFunc(time.Until(id.expires), func() {
			s.metrics.refused.WithLabelValues(ReasonCertificateExpired).Inc()
			s.log.Info("Closing xDS stream: client certificate expired", "fleet", fleet, "peer", addr, "expired", id.expires)
			st.cancel(errCertificateExpired)
		})
	}
	s.mu.Lock()
	s.streams[key] = st
	if fleet != "" {
		if s.byFleet[fleet] == nil {
			s.byFleet[fleet] = map[*xstream]struct{}{}
		}
		s.byFleet[fleet][st] = struct{}{}
	}
	s.mu.Unlock()
	if refusal != "" {
		return s.refuse(st, refusal, "", "")
	}
	return nil
}

// Reauthorize checks every open stream's client certificate again (TLS verified it at the
// handshake only) and closes the streams whose certificate is no longer authorized for their
// fleet: after a CA rotation retires a CA, the streams opened with its certificates end, and their
// Envoys reconnect with the new CA's. It returns how many streams it closed.
func (s *Server) Reauthorize() int {
	if s.o.AuthorizeFleet == nil {
		return 0
	}
	s.mu.Lock()
	var open []*xstream
	for _, st := range s.streams {
		if st.fleet != "" && st.cancel != nil {
			open = append(open, st)
		}
	}
	s.mu.Unlock()
	closed := 0
	for _, st := range open {
		ok := false
		var why error
		for _, chain := range st.chains {
			if why = s.o.AuthorizeFleet(st.fleet, chain); why == nil {
				ok = true
				break
			}
		}
		if ok {
			continue
		}
		closed++
		s.metrics.refused.WithLabelValues(ReasonTrustWithdrawn).Inc()
		s.log.Info("Closing xDS stream: its client certificate is no longer trusted", "fleet", st.fleet, "peer", st.peer, "detail", why)
		st.cancel(errTrustWithdrawn)
	}
	return closed
}

// refuse logs and counts a refusal and returns the error that ends the stream. claimed is the
// node.cluster the stream's request claims ("" when refused at open, before any request).
func (s *Server) refuse(st *xstream, reason, claimed, nodeID string) error {
	s.metrics.refused.WithLabelValues(reason).Inc()
	kv := []any{"reason", reason, "certificateFleet", st.claimed, "peer", st.peer, "delta", st.key.delta}
	if claimed != "" || nodeID != "" {
		kv = append(kv, "nodeCluster", claimed, "node", nodeID)
	}
	if st.detail != "" {
		kv = append(kv, "detail", st.detail)
	}
	s.log.Info("Refusing xDS stream", kv...)
	if reason == ReasonNoCertificate || reason == ReasonNoFleetIdentity {
		return status.Errorf(codes.Unauthenticated, "xDS stream refused: %s", reason)
	}
	return status.Errorf(codes.PermissionDenied, "xDS stream refused: %s (node.cluster %q, certificate names %q)", reason, claimed, st.claimed)
}

// admitLocked checks a request's node against the stream's certificate and admits the stream on
// its first good request. It returns the refusal reason, if any, and the claimed fleet.
func (s *Server) admitLocked(st *xstream, node *corev3.Node) (reason, claimed string) {
	if node == nil {
		node = st.node
	}
	claimed = node.GetCluster()
	switch {
	case st.refusal != "":
		return st.refusal, claimed
	case claimed == "":
		return ReasonMissingNode, claimed
	case claimed != st.fleet:
		return ReasonIdentityMismatch, claimed
	}
	if st.node == nil || node.GetId() != st.node.GetId() {
		st.node = node
	}
	if !st.admitted {
		st.admitted = true
		s.connected[st.fleet]++
		_, published := s.versions[st.fleet]
		s.metrics.setConnected(st.fleet, s.connected[st.fleet], published)
		s.log.V(1).Info("Admitted xDS stream", "fleet", st.fleet, "node", node.GetId(), "peer", st.peer, "delta", st.key.delta)
	}
	return "", claimed
}

// closed forgets a stream.
func (s *Server) closed(key streamKey) {
	s.mu.Lock()
	st := s.streams[key]
	if st == nil {
		s.mu.Unlock()
		return
	}
	delete(s.streams, key)
	if st.expiry != nil {
		st.expiry.Stop()
	}
	fleet := st.fleet
	if fleet == "" {
		s.mu.Unlock()
		return
	}
	delete(s.byFleet[fleet], st)
	if len(s.byFleet[fleet]) == 0 {
		delete(s.byFleet, fleet)
	}
	if !st.admitted { // never counted, never part of the status
		s.mu.Unlock()
		return
	}
	_, published := s.versions[fleet]
	s.connected[fleet]--
	s.metrics.setConnected(fleet, s.connected[fleet], published)
	if s.connected[fleet] == 0 {
		delete(s.connected, fleet)
	}
	s.log.V(1).Info("Closed xDS stream", "fleet", fleet, "node", st.node.GetId(), "peer", st.peer, "delta", st.key.delta)
	notify := s.updateSummaryLocked(fleet)
	if !published && s.byFleet[fleet] == nil {
		delete(s.summaries, fleet)
	}
	s.mu.Unlock()
	if notify {
		s.notify(fleet)
	}
}

func (s *Server) notify(fleet string) {
	if s.o.OnDataPlaneStatus != nil {
		s.o.OnDataPlaneStatus(fleet)
	}
}
