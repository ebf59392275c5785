// Package controller holds Flotilla's reconcilers and their Kubernetes glue: watches, field indexes,
// map functions, and the one status writer. Semantics live in pure packages; this package only reads,
// calls them and writes.
//
// # One resolution per fleet and change
//
// The xDS controller (XDSReconciler, every replica) owns the watches on everything a fleet's
// resolution reads. For each change it takes the admission decision (FleetInputs.admit, the one
// gate), resolves once (FleetInputs.resolve, counted by flotilla_fleet_resolutions_total),
// publishes when the Gateway is admitted (or stops serving it when not), and stores the resolution
// in Resolutions, keyed by fleet and tagged with the Gateway's UID and generation. The store
// notifies the Gateway controller (GatewayReconciler, leader only) through FleetEvents; it
// provisions from the stored admission and writes every status from the stored resolution, never
// resolving itself, so what status says and what Envoy receives come from the same resolution.
// Watches on objects whose status Flotilla writes pass only spec, label and annotation changes
// (specChanged): Flotilla's own status writes never cause a resolution.
package controller
