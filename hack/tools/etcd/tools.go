//go:build tools

// Package tools pins the etcd server the test cluster builds from source (kept apart from the
// Kubernetes tools module so that etcd links the gRPC and client versions it was released with).
package tools

import _ "go.etcd.io/etcd/server/v3"
