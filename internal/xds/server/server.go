package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/delta/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
)

// gRPC settings suited to Envoy: its xDS cluster pings every 30 seconds (provisioner's bootstrap),
// the server pings idle connections to notice dead Envoys, and a stopping server waits this long
// for streams to end before cutting them.
const (
	keepaliveMinTime     = 15 * time.Second
	keepaliveTime        = 30 * time.Second
	keepaliveTimeout     = 10 * time.Second
	maxConcurrentStreams = 1000
	gracefulStopTimeout  = 10 * time.Second
)

// readBufferSize is each connection's gRPC read buffer. What an Envoy sends is small (ACKs,
// subscriptions), and the connection is idle most of its life: gRPC's default of 32 KiB was
// the largest part of the memory an Envoy costs the server (BenchmarkADSLoad).
const readBufferSize = 4 << 10

// Options configure a Server.
type Options struct {
	// Address is where Start listens (host:port); Serve takes its own listener instead.
	Address string
	// GetCertificate returns the server's certificate. It is called for every handshake, so a
	// rotated certificate needs no restart.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// ClientCAs returns the pool fleets' client certificates must chain to, also per handshake.
	ClientCAs func() (*x509.CertPool, error)
	// AuthorizeFleet, when set, decides whether a verified chain (leaf first, root last) may
	// speak for the fleet its leaf names: with several issuers in ClientCAs (Flotilla's CA,
	// cert-manager issuers), each is trusted only for its own fleets, and only for the Gateway
	// instance it was issued to. A stream no chain is authorized for is refused with the reason of
	// the *Refusal it returns (ReasonUntrustedIssuer for any other error).
	AuthorizeFleet func(fleet string, chain []*x509.Certificate) error
	// Registerer receives the server's metrics (flotilla_xds_*); nil registers none. Servers
	// sharing a Registerer share the collectors.
	Registerer prometheus.Registerer
	// Logger logs refusals, NACKs and the server's life.
	Logger logr.Logger
	// OnDataPlaneStatus, when set, is called with a fleet key when DataPlaneStatus(fleet) changed
	// because of what an Envoy did (a stream admitted or closed, an ACK, a NACK): Acked, the
	// counts or Rejected differ from the last call. Publish does not call it (its caller knows it published).
	// It is called from stream goroutines, without locks held, and must not block.
	OnDataPlaneStatus func(fleet string)
}

// Server serves xDS to fleets. Publish, Forget and the status methods are safe for concurrent use.
type Server struct {
	o       Options
	log     logr.Logger
	metrics *metrics

	// main holds every type but secrets (ADS mode); secrets holds secrets (non-ADS, see doc.go).
	main, secrets cache.SnapshotCache
	mux           *cache.MuxCache
	serves        atomic.Uint32

	// mu guards the bookkeeping below; Publish holds a fleet's own lock while it sets snapshots.
	mu        sync.Mutex
	fleets    map[string]*fleetEntry
	versions  map[string]map[string]string // fleet → type URL → published version
	streams   map[streamKey]*xstream
	byFleet   map[string]map[*xstream]struct{} // streams by the fleet their certificate names
	connected map[string]int                   // admitted streams by fleet
	summaries map[string]summary               // what OnDataPlaneStatus last reported
}

// New makes a Server; it serves once Serve or Start runs.
func New(o Options) *Server {
	s := &Server{
		o:         o,
		log:       o.Logger,
		metrics:   newMetrics(o.Registerer),
		fleets:    map[string]*fleetEntry{},
		versions:  map[string]map[string]string{},
		streams:   map[streamKey]*xstream{},
		byFleet:   map[string]map[*xstream]struct{}{},
		connected: map[string]int{},
		summaries: map[string]summary{},
	}
	s.main = cache.NewSnapshotCache(true, fleetHash{}, libraryLogger{s.log})
	s.secrets = cache.NewSnapshotCache(false, fleetHash{}, libraryLogger{s.log})
	s.mux = &cache.MuxCache{
		Classify:      func(r *cache.Request) string { return cacheFor(r.GetTypeUrl()) },
		ClassifyDelta: func(r *cache.DeltaRequest) string { return cacheFor(r.GetTypeUrl()) },
		Caches:        map[string]cache.Cache{"main": s.main, "secrets": s.secrets},
	}
	return s
}

func cacheFor(typeURL string) string {
	if typeURL == resource.SecretType {
		return "secrets"
	}
	return "main"
}

// Serve serves ADS (state of the world and delta) on lis until ctx ends, then stops gracefully:
// open streams are ended (Envoys keep their configuration and reconnect, to another replica or to
// this one restarted) and in-flight sends get gracefulStopTimeout to finish.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	creds, err := s.credentials()
	if err != nil {
		return err
	}
	// Stream handlers run until this context ends; GracefulStop alone would wait for Envoys to
	// hang up, which they never do.
	xdsCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	cb := callbacks{s: s, serve: s.serves.Add(1)}
	lib := libraryLogger{s.log}
	gs := grpc.NewServer(
		grpc.Creds(creds),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.ReadBufferSize(readBufferSize),
	)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, &adsService{
		sotw:  sotw.NewServer(xdsCtx, s.mux, cb, sotw.WithOrderedADS(), sotw.WithLogger(lib)),
		delta: delta.NewServer(xdsCtx, s.mux, cb, delta.WithLogger(lib)),
	})

	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	s.log.Info("Serving xDS", "address", lis.Addr().String())
	select {
	case err := <-served:
		return fmt.Errorf("serving xDS on %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	s.log.Info("Stopping the xDS server", "address", lis.Addr().String())
	stopStreams()
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	timer := time.NewTimer(gracefulStopTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		gs.Stop()
		<-stopped
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serving xDS on %s: %w", lis.Addr(), err)
	}
	return nil
}

// Start listens on Options.Address and serves until ctx ends: the Server is a controller-runtime
// manager Runnable.
func (s *Server) Start(ctx context.Context) error {
	if s.o.Address == "" {
		return errors.New("xDS server: no address to listen on")
	}
	lis, err := net.Listen("tcp", s.o.Address)
	if err != nil {
		return fmt.Errorf("listening for xDS on %s: %w", s.o.Address, err)
	}
	return s.Serve(ctx, lis)
}

// NeedLeaderElection is false: every replica serves xDS from its own cache.
func (s *Server) NeedLeaderElection() bool { return false }

// credentials is mutual TLS, 1.2 or later (Go prefers 1.3): the certificate and the client CA pool
// are read for every handshake, so rotating either needs no restart. There is no plaintext mode.
func (s *Server) credentials() (credentials.TransportCredentials, error) {
	if s.o.GetCertificate == nil || s.o.ClientCAs == nil {
		return nil, errors.New("xDS server: GetCertificate and ClientCAs are required (it never serves without mutual TLS)")
	}
	perClient := func(*tls.ClientHelloInfo) (*tls.Config, error) {
		pool, err := s.o.ClientCAs()
		if err != nil {
			return nil, fmt.Errorf("loading the xDS client CA pool: %w", err)
		}
		return &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: s.o.GetCertificate,
			ClientAuth:     tls.RequireAndVerifyClientCert,
			ClientCAs:      pool,
			NextProtos:     []string{"h2"},
		}, nil
	}
	return refusalCounting{TransportCredentials: credentials.NewTLS(&tls.Config{
		MinVersion:         tls.VersionTLS12,
		ClientAuth:         tls.RequireAndVerifyClientCert,
		GetCertificate:     s.o.GetCertificate,
		GetConfigForClient: perClient,
	}), s: s}, nil
}

// refusalCounting logs and counts connections refused at the TLS handshake (no client certificate,
// one of a CA the server does not trust, an expired one), which never reach a stream callback: every
// refusal has a log line and a flotilla_xds_refused_streams_total{reason} increment.
type refusalCounting struct {
	credentials.TransportCredentials
	s *Server
}

func (c refusalCounting) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		reason := handshakeRefusal(err)
		c.s.metrics.refused.WithLabelValues(reason).Inc()
		c.s.log.Info("Refusing xDS connection at the TLS handshake", "reason", reason, "peer", raw.RemoteAddr().String(), "detail", err.Error())
	}
	return conn, info, err
}

func (c refusalCounting) Clone() credentials.TransportCredentials {
	return refusalCounting{TransportCredentials: c.TransportCredentials.Clone(), s: c.s}
}

// handshakeRefusal is the refusal reason of a failed server handshake.
func handshakeRefusal(err error) string {
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &verify):
		return ReasonCertificateInvalid
	case strings.Contains(err.Error(), "didn't provide a certificate"):
		// crypto/tls has no sentinel for it (alertCertificateRequired in TLS 1.3).
		return ReasonNoCertificate
	}
	return ReasonTLSHandshake
}

// libraryLogger adapts logr to go-control-plane's logger: its chatter goes to high verbosity.
type libraryLogger struct{ l logr.Logger }

func (g libraryLogger) Debugf(format string, args ...any) { g.at(5, format, args) }
func (g libraryLogger) Infof(format string, args ...any)  { g.at(4, format, args) }
func (g libraryLogger) Warnf(format string, args ...any)  { g.at(2, format, args) }
func (g libraryLogger) Errorf(format string, args ...any) {
	g.l.Error(fmt.Errorf(format, args...), "Error reported by go-control-plane")
}

func (g libraryLogger) at(level int, format string, args []any) {
	if l := g.l.V(level); l.Enabled() {
		l.Info("Message from go-control-plane", "detail", fmt.Sprintf(format, args...))
	}
}
