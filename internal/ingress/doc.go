// Package ingress is Flotilla's Ingress front end: a pure conversion of networking.k8s.io/v1
// Ingresses, with ingress-nginx's annotations and semantics, into what the Gateway of their
// IngressClass serves for them (gatewayapi.IngressRoute), which Resolve attaches to the
// Gateway's listeners next to its HTTPRoutes. Nothing here reads the cluster.
package ingress
