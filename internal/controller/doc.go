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
//
// # Endpoint changes without a full pass
//
// An EndpointSlice event is not a change of the fleet's resolution but of its endpoints: it maps
// to an endpoints request per Gateway using the Service, which XDSReconciler answers from the
// fleet's last full pass (endpoints.go): that Service's EndpointSlices are read, the endpoints of
// the clusters they feed are computed again (gatewayapi Result.SetEndpoints), those
// ClusterLoadAssignments rebuilt (translate.UpdateEndpoints) and published, which moves the EDS
// version only (flotilla_fleet_endpoint_updates_total counts them; no resolution is counted). The
// dependency is exact because resolve reads EndpointSlices in one place only (a cluster's
// endpoints) and records, per cluster, the Service port they came from. Any other event is a full
// pass, and so is an endpoints request with no last pass to start from. A fleet's lock orders its
// full passes and endpoint updates. A full pass resolves from the fleet's last resolution
// (gatewayapi.ResolveFrom: patch, memo or full, counted by flotilla_fleet_resolution_paths_total)
// and translates from its last translation; it reads the cache without copying (readOnly: nothing
// writes into what resolution reads). The leader's route status pass skips a route whose
// resourceVersion and wanted entries are those it last confirmed (route_status.go).
//
// # Data-plane status from every replica
//
// Every replica serves Envoys, so no replica alone knows a fleet's data plane. Each one publishes
// its view in a report: ReportPublisher keeps one coordination.k8s.io Lease per replica in the
// operator's namespace (ReportLeaseName, labelled LabelDataPlaneReport), whose renewTime and
// leaseDurationSeconds say how long it counts and whose AnnotationDataPlaneReport holds a compact
// JSON DataPlaneReport: per fleet with Envoys on the replica, how many are connected, how many run
// the latest versions, and the latest outstanding NACK (node, type URL, version, Envoy's message).
// The xDS server's OnDataPlaneStatus hook and the xDS controller's publishes mark fleets changed;
// the publisher writes the whole report at most once per DefaultReportMinInterval (changes
// meanwhile are coalesced), never when it did not change, and otherwise only patches renewTime
// every renewal interval. On the way out it deletes its Lease (its Envoys reconnect elsewhere and
// are counted there); a replica that dies leaves it to expire.
//
// The leader's cache holds only these Leases. DataPlaneReports sums a fleet's entries of every
// unexpired report, the leader's own included (not its live view: so every replica's changes reach
// the Gateway's status through the same coalescing, and churn on the leader's Envoys cannot
// rewrite status more often than churn elsewhere), and XDSReconciler's DataPlaneCondition turns
// the sum into ConditionDataPlaneAccepted (dataPlaneCondition, pure). The Gateway controller
// watches the Leases and enqueues the Gateways of the fleets whose entries changed (a renewal
// enqueues none); DataPlaneReportReconciler re-checks each report at its expiry (RequeueAfter, for
// that reason only), re-enqueues its fleets and deletes it.
//
// Why a Lease and not a status CRD or a ConfigMap: a Lease is the API's own "this holder is alive
// until renewTime + duration" object, leader election's too, so liveness needs no new type, no
// CRD to install, and one object per replica; one object per replica (not per fleet) keeps writes
// bounded by replicas, not fleets. The price is the annotation budget (256 KiB per object): at
// ~60 bytes per fleet, and Envoy's messages cut to 512 bytes, a replica can report some thousands
// of fleets; past that, per-replica ConfigMaps would be the next step.
//
// # Shared status lists
//
// A route's status.parents, a BackendTLSPolicy's status.ancestors and an InferencePool's
// status.parents are written by several controllers and Gateways. One generic writer,
// sharedList (shared_status.go), merges this Gateway's entries into each: other entries are never
// touched, ours keep their places and unchanged conditions their lastTransitionTime, stale ones go,
// new ones are appended while the API's cap allows (routes 32, policies 16, pools 32); an entry
// left out for lack of room is logged and gets a StatusListFull Warning Event, and every kind
// emits Events on the same condition transitions (recordEntries).
//
// # Ingress
//
// Ingresses are a second front end to the same resolution (ingress.go): FleetInputs.resolve reads
// the IngressClassConfigs that name the Gateway, their IngressClasses and the Ingresses of those
// classes through field indexes, converts them (internal/ingress, pure) into Input.Ingresses, and
// reads the Services and Secrets they name; the leader writes status.loadBalancer and the Ingress
// Events from the stored resolution (writeIngressStatuses).
package controller
