// Package gatewayapi resolves one Gateway with its ListenerSets, routes and references into the
// fleet model plus the status every object should report; pure, with no Kubernetes client.
//
// Resolve is the entry point. Everything it reads comes in an Input snapshot, and everything it
// decides comes back in a Result: the model.Fleet for the translator and plain status structs for
// the status writer (which keeps lastTransitionTime and skips no-op writes).
package gatewayapi
