// Package offline runs the controller's own resolve and translate on Kubernetes objects read from
// YAML or JSON files instead of a cluster: it reads and filters the documents, gives Services
// without EndpointSlices synthetic endpoints, and renders each Gateway's xDS and status.
//
// It is the library behind flotillactl; nothing in it talks to an API server.
package offline
