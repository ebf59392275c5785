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
//
// # What ResolveFrom reuses, and how each dependency is tracked
//
// ResolveFrom(in, prev) is exactly Resolve(in) (the differential tests in internal/xds/translate
// check resolutions, statuses included, after random edits), made from what prev lends:
//
//   - The world: every Input field but HTTPRoutes and EndpointSlices, identified by object
//     (namespace, name, UID, resourceVersion, generation; the generation alone for Gateways,
//     ListenerSets, BackendTLSPolicies, InferencePools and RouteFilters, whose status Flotilla
//     writes and resolution does not read) and by value for the rest (worldOf walks Input by
//     reflection). A different world: a full resolution. Objects without a resourceVersion are
//     never reused. Input objects are snapshots: a changed object has a new resourceVersion.
//   - An HTTPRoute's conversion depends on the route and the world; its clusters also on the
//     EndpointSlices of their Services: a replayed conversion recomputes the endpoints of a
//     cluster whose Service's slices are not the versions it was computed from (memoCluster.seen).
//     A conversion that read a RouteFilter, an InferencePool or a cluster with backend TLS is not
//     kept: those record their uses for their own status.
//   - A virtual host depends on its entries in order (the routes of its group and of the less
//     specific groups that cover its domain, ranked); the same entries give the same value
//     (vhostMemo), which is what lets translation reuse its translation.
//   - The patch path (patch.go) depends on the world too, and on each changed route's
//     attachments before and after: only exact domains the listener owns, on the Gateway's own
//     listeners, so that the virtual hosts of those domains are all that changes; other routes
//     competing for the same domain are re-ranked with it (the group is rebuilt); clusters are
//     reference-counted by the model's routes, so one is dropped when its count reaches zero.
package gatewayapi
