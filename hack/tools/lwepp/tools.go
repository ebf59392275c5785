//go:build tools

// Package tools pins lwepp, the Gateway API Inference Extension's conformance Endpoint Picker, which
// the integration tests run against the test cluster to exercise inference routing end to end.
package tools

import _ "sigs.k8s.io/gateway-api-inference-extension/cmd/lwepp"
