// Package controller holds Flotilla's reconcilers and their Kubernetes glue: watches, field indexes,
// map functions, and the one status writer. Semantics live in pure packages; this package only reads,
// calls them and writes.
package controller
