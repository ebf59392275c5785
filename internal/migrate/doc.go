// Package migrate prints what Flotilla serves for Ingresses as Gateway API objects (HTTPRoutes,
// ListenerSets for the TLS hosts, ReferenceGrants) plus RouteFilters for what Gateway API cannot
// say, and proves the printed objects behave like the Ingresses (Verify): both sets are resolved
// and translated separately, and the xDS decisions of a corpus of requests derived from the
// Ingresses are compared.
//
// The unit of migration is a group of hosts: the hosts of one Ingress belong together, and so do
// the Ingresses of one host (ingress-nginx merges them: the oldest wins a duplicate path, and one
// Ingress's use-regex turns every path of the host into a regular expression) and a canary with
// its primaries. A group migrates as a whole or not at all, so what stays an Ingress is served
// exactly as before.
package migrate
