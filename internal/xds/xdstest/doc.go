// Package xdstest is an ADS client for tests: it connects over mutual TLS like a fleet's Envoy,
// subscribes the way Envoy does (clusters and listeners, then the endpoints, route configurations
// and secrets they name), ACKs what it receives or NACKs it on demand, and lets a test wait for
// what arrived. Client speaks state-of-the-world ADS, DeltaClient delta ADS. PickEndpoint is the
// other half of a fleet's Envoy: an ext_proc client that asks an InferencePool's Endpoint Picker
// for an endpoint the way Flotilla's configuration makes Envoy ask.
package xdstest
