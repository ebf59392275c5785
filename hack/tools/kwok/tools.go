//go:build tools

// Package tools pins KWOK, which fakes a Node and its Pods (IPs, readiness) for the test cluster.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
