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
//   - a secret is named after the model Secret ("<ns>/<name>").
//
// What cannot be expressed safely never reaches Envoy as invalid configuration: a route whose
// match cannot be expressed can never match, so it is left out; a route whose filters or action
// cannot be expressed answers 500 (503 for gRPC) instead of forwarding an unmodified request; a
// filter chain whose certificate has no data is left out. Each such decision is a Warning.
package translate
