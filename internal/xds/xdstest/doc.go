// Package xdstest is an ADS client for tests: it connects over mutual TLS like a fleet's Envoy,
// subscribes the way Envoy does (clusters and listeners, then the endpoints, route configurations
// and secrets they name), ACKs what it receives or NACKs it on demand, and lets a test wait for
// what arrived. Client speaks state-of-the-world ADS, DeltaClient delta ADS.
package xdstest
