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
// InferencePools (Gateway API Inference Extension) whose Endpoint Picker chooses the endpoint
// of each request (the picker is an ext_proc server; see inference.go and the inference-*
// model cases):
//
//   - The pool's cluster balances with the override_host load balancing policy
//     (load_balancing_policy, which supersedes lb_policy): the request goes to the first address
//     the picker put in dynamic metadata envoy.lb/x-gateway-destination-endpoint that is an
//     endpoint of the cluster (the next ones on retries), the address used is recorded under
//     envoy.lb/x-gateway-destination-endpoint-served for the picker, and round robin chooses
//     when there is none. The pick is never read from the request header of the same name: a
//     client could set it and choose its own endpoint. A pool without a picker is plain round
//     robin. h2c pools get HTTP/2 like any h2c backend.
//   - An HTTP connection manager whose routes send traffic to a pool with a picker has the
//     ext_proc filter, after CORS and before the router, disabled: only the routes that enable
//     it ask a picker. Envoy requires a gRPC service of every ext_proc filter when it loads it,
//     so the filter names the first of those pickers by name, which every enabling route
//     overrides. It forwards and receives the envoy.lb metadata namespace, and sends request
//     and response headers, trailers and bodies (FULL_DUPLEX_STREAMED both ways) to the
//     picker, as the Endpoint Picker protocol asks.
//   - A route that names its cluster directly (one backend, without filters of its own)
//     enables the filter itself (ExtProcPerRoute: the pool's picker, its failure mode, the
//     processing mode). A route with weighted clusters enables it on each weighted cluster
//     whose pool has a picker instead: Envoy picks the weighted cluster when the route
//     matches, so a request asks the picker of the pool it goes to (70/30 across two pools asks
//     each pool's own picker), and the shares of Services or of pools without a picker ask
//     none. A backend's own filters stay beside it on the weighted cluster.
//   - A picker that fails closed (FailClose, the default) fails the requests it cannot answer
//     (Envoy answers 500, or 504 on a timeout); one that fails open lets them through to the
//     fallback round robin. With FULL_DUPLEX_STREAMED bodies Envoy can fail open only until
//     the first body chunk went to the picker (envoy #41276, Envoy 1.36, Flotilla's default
//     image): an unreachable or unhealthy picker fails open, one that dies mid-request fails
//     the request (it holds body Envoy cannot replay). Envoy 1.35.0 refused failure_mode_allow
//     with that mode outright (envoy #39740, gateway-api-inference-extension #1266); that
//     check was on the filter's own configuration, which is why the listener's filter never
//     fails open and only the per-route override carries the pool's failure mode.
//   - Routes to an InferencePool, picker or not, get no default route timeout (0s, like gRPC
//     and WebSocket routes): generated answers stream for minutes. A route's own timeouts apply.
//     The call to the picker has no timeout either (it lasts as long as the request); Envoy
//     applies no message timeout to full-duplex streams (the filter's 10 s only replaces the
//     200 ms default should another mode apply).
//   - The picker's cluster speaks gRPC (explicit HTTP/2, ALPN h2) over TLS and is health-checked
//     with the gRPC health protocol (timeout 1 s, every 5 s, out after 3 failures, back after
//     1 success). Pickers serve a self-signed certificate by default, so unless a
//     BackendTLSPolicy targets the picker's Service the cluster encrypts without verifying
//     (no validation context; TLS 1.2 at least; an SNI only when the model gives one). Only a
//     picker's cluster may do so: unverified TLS on any other cluster, or naming something to
//     verify with, fails closed. When a BackendTLSPolicy targets it, the picker is verified like
//     any backend (trust bundle or system trust, subject alternative names, SNI).
//   - A picker that is not a cluster of the fleet, or not an HTTP/2 one, and a gRPC health
//     check on an HTTP/1.1 cluster are model bugs: Translate fails.
//
// The returned resources share read-only pieces (config sources, packed typed configs): treat
// them as immutable.
//
// # Translating from the last translation
//
// TranslateFrom(f, secrets, prev, prevFleet) is Translate(f, secrets), reusing prev (the
// translation of prevFleet) where nothing it depends on changed; the differential tests check
// it byte for byte, versions included:
//
//   - a cluster's messages depend on its model alone unless it has backend TLS, a pool or
//     picker, or a gRPC health check (dependent): the same model, the same messages (its
//     ClusterLoadAssignment too with the same endpoints); the very same cluster slice as
//     prevFleet's (a patch that changed none) takes prev's messages wholesale. Reused messages
//     are not validated again;
//   - a virtual host is translated in a context of its own, so its translation depends on the
//     model virtual host (the same Routes slice is the same routes: the model is read-only and
//     gatewayapi.ResolveFrom hands an unchanged one on as it was), on where it is served (route
//     configuration, scheme, port), on the domains still free in its route configuration, and
//     on what its routes read of clusters (clusterFact: in the fleet, protocol, pool, picker;
//     compared once per fleet with prevFleet's clusters). Its needs of the HTTP connection
//     manager, its warnings and its encoding are kept with it (vhostMemo);
//   - Wire is what is published: each route configuration assembled from its virtual hosts'
//     encodings and the rest of it, in the order of a deterministic encoding of the whole, so
//     bytes and versions are those of Routes.
//
// Without prev, or when prev has warnings (a reused cluster would not repeat its own), it is
// Translate.
package translate
