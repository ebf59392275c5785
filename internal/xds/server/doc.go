// Package server is Flotilla's ADS server: every replica serves each Envoy fleet its own snapshot
// over gRPC with mutual TLS, and records what the fleet's Envoys say of it (ACK, NACK).
//
// # Identity
//
// The gRPC server requires a client certificate that chains to Options.ClientCAs (read per
// handshake). When a stream opens, its verified leaf certificate names the fleet (URI SAN
// spiffe://flotilla/fleet/<ns>/<name>, see pki.FleetFromCert). Every request is then checked: the
// node's cluster must name that same fleet, and the stream's first request must carry a node.
// Only then does the request reach the cache, whose node hash is node.cluster; so node.cluster is
// trusted only once the certificate has vouched for it. A refused stream ends with an error, a log
// line and a flotilla_xds_refused_streams_total{reason} increment; so does a connection refused at
// the TLS handshake (no certificate, one that does not verify, not TLS), which never reaches a
// stream callback (refusalCounting wraps the transport credentials for that).
//
// # Sources of trust (FleetTrust, internal/controller/trust.go)
//
// The server itself knows no CA: Options.ClientCAs and Options.AuthorizeFleet decide. In the
// manager both come from controller.FleetTrust, whose only sources are what the platform admin
// controls:
//
//   - Flotilla's built-in CA (the flotilla-ca Secret in the operator's namespace), trusted for the
//     fleets of classes that name no cert-manager issuer;
//   - a FleetClass's spec.certificates.certManager.caBundle, trusted for the fleets of that class
//     alone (and never Flotilla's CA for them);
//   - the admitted Gateway instances: a fleet is trusted only while its Gateway is of a Flotilla
//     class and admitted by that class's tenancy limits (the admission gate both controllers share),
//     and only for certificates bound to that instance's UID (a urn:uuid: URI SAN). Anything else is
//     refused as unknown_fleet or instance_mismatch.
//
// Nothing in a team's namespace is a source of trust: not the fleet Secret's ca.crt, not its
// cert-manager annotations, not a ConfigMap. ClientCAs is the union of the CAs above (the TLS
// handshake needs a pool); which CA may speak for which fleet is AuthorizeFleet's decision.
//
// # Versions
//
// Each resource type has its own version: a hash of that type's resources (deterministic proto
// marshal, sorted by name). An endpoints-only change moves only the EDS version, so Envoy sees no
// listener, route or cluster update, and a restarted replica reproduces the versions its
// predecessor served. The five Envoy types (CDS, EDS, LDS, RDS, SDS) always have a version, even
// when empty, so a fleet without listeners still completes Envoy's initialisation.
//
// Snapshots live in two go-control-plane snapshot caches behind a mux: secrets in a non-ADS cache
// (Envoy subscribes to cluster secrets before listener secrets; an ADS cache would hold the
// cluster secrets back until every secret of the snapshot is requested, stalling initialisation
// until Envoy's fetch timeout), everything else in an ADS cache, which orders responses
// CDS, EDS, LDS, RDS (make before break) and only answers EDS/RDS requests naming every resource
// of the snapshot. Publish therefore refuses a snapshot whose EDS and RDS resources are not exactly
// those its clusters and listeners reference (Snapshot.Consistent).
//
// # ACKs and NACKs
//
// The server remembers, per stream and type, the version it sent under each nonce. A request
// carrying error_detail is a NACK of the version sent under its response_nonce; it is recorded
// with Envoy's message and node id until the stream accepts another version (or closes, or the
// current version becomes the one the Envoy already runs). go-control-plane would answer a NACK
// by sending the rejected version again at once, forever; the server parks such a request instead
// (it tells the cache the Envoy has the rejected version), so the next Publish with new content is
// what the Envoy gets next. Envoy keeps serving its last accepted configuration meanwhile.
//
// The status is per replica: an Envoy connected to another replica is seen by that replica only.
package server
