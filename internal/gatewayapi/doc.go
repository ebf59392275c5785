// Package gatewayapi resolves one Gateway with its ListenerSets, routes and references into the
// fleet model plus the status every object should report; pure, with no Kubernetes client.
//
// Resolve is the entry point. Everything it reads comes in an Input snapshot, and everything it
// decides comes back in a Result: the model.Fleet for the translator and plain status structs for
// the status writer (which keeps lastTransitionTime and skips no-op writes).
//
// # What depends on EndpointSlices
//
// EndpointSlices are read in one place: the endpoints of a cluster of a Service port
// (resolver.endpoints). Each such cluster records that port (endpointsFrom; an Ingress
// cluster variant inherits its base's, a service-upstream cluster records none: its endpoint is
// the cluster IP), so Result.SetEndpoints can recompute exactly the endpoints of the clusters of
// the Services whose slices changed. No status, route or other cluster field depends on
// endpoints. InferencePool clusters take their endpoints from Pods (a full resolution).
package gatewayapi
