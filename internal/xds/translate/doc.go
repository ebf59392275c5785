// Package translate turns one fleet's model (internal/model) into the Envoy xDS resources its
// Envoys get: listeners, route configurations, clusters, endpoints and secrets, validated and sorted.
//
// Translate is pure and deterministic: the same model and secret data give byte-identical
// resources. Dynamic references (RDS, EDS, SDS) all go through ADS, and they are named so:
//
//   - a listener is named after its model listener ("http-80");
//   - the route configuration of an HTTP listener is named after the listener; that of a
//     terminating HTTPS filter chain is "<listener>/<chain>" ("https-443/Gateway/infra/gw/https");
//   - a cluster and its ClusterLoadAssignment are named after the model cluster;
//   - a secret is named after the model Secret ("<ns>/<name>"), or after the trust bundle
//     ("BackendTLSPolicy/<ns>/<name>"; the model keeps the two kinds of names apart).
//
// Clusters refer to their trust bundle (a validation context secret) and to the Gateway's backend
// client certificate (a TLS certificate secret) by these names only, so a changed CA bundle (a
// rotated CA, a trust-manager Bundle) or a renewed client certificate changes the secrets alone:
// listeners, route configurations, clusters and endpoints stay byte-identical, and Envoy gets an
// SDS update without draining anything. Only the trust bundles some valid cluster uses are
// emitted.
//
// What cannot be expressed safely never reaches Envoy as invalid configuration: a route whose
// match cannot be expressed can never match, so it is left out; a route whose filters or action
// cannot be expressed answers 500 (503 for gRPC) instead of forwarding an unmodified request; a
// filter chain whose certificate has no data is left out. Each such decision is a Warning.
//
// Backend TLS fails closed, never open: a cluster whose TLS cannot be honoured (the policy is
// invalid, its trust bundle is missing or holds no certificate that parses, its client
// certificate has no data, its SNI or a subject alternative name cannot be expressed, or the
// backend speaks UDP) is emitted without a transport socket and with no endpoints, whatever the
// model's endpoints: Envoy answers 503 ("no healthy upstream") for its share of the traffic and
// never sends it plaintext. Routes keep referring to it, and a Warning names it and says why.
//
// Decisions Envoy's API leaves open (each shown in a golden case under testdata/):
//
//   - The share of traffic Gateway API sends to invalid backends goes to InvalidBackendCluster, a
//     cluster that never exists, with cluster_not_found_response_code INTERNAL_SERVER_ERROR: HTTP
//     500 for exactly that share. A route with no valid backend answers 500 directly. GRPCRoutes
//     answer 503 instead, which Envoy turns into gRPC UNAVAILABLE.
//   - TCP and TLS connections to no valid backend are closed (a direct_response filter without a
//     response); UDP goes to the highest-weighted backend, since Envoy's UDP proxy cannot split.
//   - Request timeouts become the route timeout ("0s" disables it); backend timeouts become the
//     retry policy's per_try_timeout (with num_retries 0 when the route asks for no retries, since
//     Envoy would retry once by default). gRPC and WebSocket routes without a request timeout get
//     none, rather than Envoy's 15 s default, which would cut streams and upgraded connections.
//   - Retries retry on connect-failure, refused-stream and reset, plus the route's status codes.
//   - A backend's own header filters go on its weighted-cluster entry, and
//     most_specific_header_mutations_wins lets them win over the route's.
//   - Listener ports are the container ports the provisioner maps them to; Envoy binds them
//     directly.
//   - Backend TLS (UpstreamTlsContext): SNI from the policy's hostname, TLS 1.2 at least, ALPN h2
//     to HTTP/2 and gRPC backends (which keep their explicit HTTP/2 options), http/1.1 to HTTP/1.1
//     and WebSocket backends, none to TCP backends. The certificate must carry one of the
//     policy's subject alternative names (exact matches; Hostname is a DNS SAN, URI a URI SAN),
//     or, when it names none, the SNI as a DNS SAN, as Gateway API requires. A trust bundle
//     comes from SDS through a combined validation context (the SAN matchers stay in the
//     cluster); the system trust store is the file SystemTrustBundle of the Envoy image, in a
//     plain validation context (a combined one requires an SDS secret).
//
// The returned resources share read-only pieces (config sources, packed typed configs): treat
// them as immutable.
package translate
