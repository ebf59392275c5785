package server

import (
	"errors"
	"strings"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a stream is refused: the values of flotilla_xds_refused_streams_total's reason label.
const (
	// ReasonNoCertificate: the stream's connection carries no verified client certificate.
	ReasonNoCertificate = "no_certificate"
	// ReasonNoFleetIdentity: the client certificate names no fleet (no spiffe://flotilla/fleet/ URI SAN).
	ReasonNoFleetIdentity = "no_fleet_identity"
	// ReasonMissingNode: the stream's first request carries no node, or a node without a cluster.
	ReasonMissingNode = "missing_node"
	// ReasonUntrustedIssuer: the certificate chains to a CA the server trusts, but not to one
	// trusted for the fleet it names (Options.AuthorizeFleet).
	ReasonUntrustedIssuer = "untrusted_issuer"
	// ReasonIdentityMismatch: node.cluster names another fleet than the client certificate.
	ReasonIdentityMismatch = "identity_mismatch"
	// ReasonUnknownFleet: the certificate names a fleet this server does not serve (no such
	// Gateway, a Gateway of another controller, or one refused by its class's tenancy limits).
	ReasonUnknownFleet = "unknown_fleet"
	// ReasonInstanceMismatch: the certificate was issued to another instance of the fleet's
	// Gateway (one deleted and re-created under the same name), or to no instance at all.
	ReasonInstanceMismatch = "instance_mismatch"
	// ReasonCertificateInvalid: the TLS handshake failed verifying the client certificate (a CA the
	// server does not trust, expired, not for client authentication).
	ReasonCertificateInvalid = "certificate_invalid"
	// ReasonCertificateExpired: an admitted stream's client certificate (or a certificate of its
	// chain) expired; the stream is closed at that moment, and the Envoy reconnects with its
	// renewed certificate.
	ReasonCertificateExpired = "certificate_expired"
	// ReasonTrustWithdrawn: an admitted stream's certificate no longer chains to a CA trusted for
	// its fleet (a CA rotation retired the CA that signed it; Server.Reauthorize); the stream is
	// closed, and the Envoy reconnects with the certificate the new CA issued.
	ReasonTrustWithdrawn = "trust_withdrawn"
	// ReasonTLSHandshake: the TLS handshake failed for another reason (not TLS, no common version
	// or cipher, the client hung up).
	ReasonTLSHandshake = "tls_handshake"
)

// Refusal is an error Options.AuthorizeFleet returns to choose the reason a stream is refused
// with; any other error refuses it with ReasonUntrustedIssuer.
type Refusal struct {
	Reason string
	Err    error
}

func (r *Refusal) Error() string { return r.Reason + ": " + r.Err.Error() }
func (r *Refusal) Unwrap() error { return r.Err }

// metrics are the server's Prometheus collectors. Per-fleet series are deleted when the fleet is
// forgotten (connected_clients once its last stream has closed).
type metrics struct {
	connected *prometheus.GaugeVec
	pushes    *prometheus.CounterVec
	nacks     *prometheus.CounterVec
	refused   *prometheus.CounterVec
	publishes *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flotilla_xds_connected_clients",
			Help: "xDS streams open with a verified fleet identity, by fleet.",
		}, []string{"fleet"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_xds_pushes_total",
			Help: "xDS responses sent, by fleet and resource type (cds, eds, lds, rds, sds).",
		}, []string{"fleet", "type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_xds_nacks_total",
			Help: "xDS responses rejected by Envoy (NACKs), by fleet and resource type.",
		}, []string{"fleet", "type"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_xds_refused_streams_total",
			Help: "xDS connections and streams refused because the client's identity could not be established (at the TLS handshake or after it) or did not match its node, by reason.",
		}, []string{"reason"}),
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_xds_snapshot_publish_total",
			Help: "Snapshots set in the xDS cache (publishes that changed something), by fleet.",
		}, []string{"fleet"}),
	}
	if reg == nil {
		return m
	}
	m.connected = register(reg, m.connected)
	m.pushes = register(reg, m.pushes)
	m.nacks = register(reg, m.nacks)
	m.refused = register(reg, m.refused)
	m.publishes = register(reg, m.publishes)
	return m
}

// register registers c, or returns the collector already registered under its name (a second
// Server in the same process shares the series). Any other failure is a programming error.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic("xds server: registering metrics: " + err.Error())
}

// forget deletes a fleet's series, except connected_clients (see setConnected).
func (m *metrics) forget(fleet string) {
	m.pushes.DeletePartialMatch(prometheus.Labels{"fleet": fleet})
	m.nacks.DeletePartialMatch(prometheus.Labels{"fleet": fleet})
	m.publishes.DeleteLabelValues(fleet)
}

// setConnected sets a fleet's connected_clients; a fleet that is not published and has no
// stream left loses its series instead of keeping a zero forever.
func (m *metrics) setConnected(fleet string, n int, published bool) {
	if n == 0 && !published {
		m.connected.DeleteLabelValues(fleet)
		return
	}
	m.connected.WithLabelValues(fleet).Set(float64(n))
}

// typeLabel is the short name of an xDS type URL used as a label value.
func typeLabel(typeURL string) string {
	switch typeURL {
	case resource.ClusterType:
		return "cds"
	case resource.EndpointType:
		return "eds"
	case resource.ListenerType:
		return "lds"
	case resource.RouteType:
		return "rds"
	case resource.SecretType:
		return "sds"
	case resource.ScopedRouteType:
		return "srds"
	case resource.VirtualHostType:
		return "vhds"
	case resource.RuntimeType:
		return "rtds"
	case resource.ExtensionConfigType:
		return "ecds"
	}
	return typeURL[strings.LastIndex(typeURL, ".")+1:]
}
