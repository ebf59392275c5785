package controller

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"github.com/flotilla-dev/flotilla/internal/xds/translate"
)

// An EndpointSlice change (a Pod started, stopped or became ready: the most frequent event of a
// busy cluster) is not a full pass over the fleet. Its event enqueues an endpoints request, one
// per Gateway and Service ("<gateway>/<svc-namespace>/<svc-name>" as the request's name: a
// Gateway's name has no "/"), and the xDS reconciler answers it from the fleet's last full pass:
// it reads that Service's EndpointSlices alone, recomputes the endpoints of the clusters they
// feed (gatewayapi Result.SetEndpoints), rebuilds those ClusterLoadAssignments
// (translate.UpdateEndpoints) and publishes, which hashes only what changed: only the EDS
// version moves. Nothing else of a resolution reads EndpointSlices, so this is exactly what a
// full pass would publish (the differential test in internal/xds/translate checks it). Without
// a last full pass to start from (none yet, a refused Gateway, a failed translation, a fleet
// with translation warnings), the request is a full pass. A fleet's full passes and endpoint
// updates hold the fleet's lock, so they apply in the order they read the cache.

var endpointUpdates = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "flotilla_fleet_endpoint_updates_total",
	Help: "EndpointSlice changes applied to a fleet without a full resolution (only its endpoints were computed again).",
})

func init() { metrics.Registry.MustRegister(endpointUpdates) }

// endpointState is what a fleet's last full pass leaves for endpoint updates: the resolution (the
// stored one is the Gateway controller's, and immutable: its clusters are copied before the first
// update changes them) and the resources it published.
type endpointState struct {
	result gatewayapi.Result
	out    *translate.Resources
	// own says result's clusters are this state's copy (made on the first endpoint update, so
	// that a full pass costs no copy); until then they are the stored resolution's.
	own bool
}

// fleetLocks serialises a fleet's reconciles (its Gateway's and its endpoint requests).
type fleetLocks struct{ m sync.Map }

func (l *fleetLocks) lock(key string) func() {
	v, _ := l.m.LoadOrStore(key, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// endpointsRequest is the request of an EndpointSlice change for a Gateway's Service.
func endpointsRequest(gw types.NamespacedName, svcNS, svc string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name + "/" + svcNS + "/" + svc}}
}

// parseEndpointsRequest splits an endpoints request: the Gateway's request and "ns/name" of the
// Service; ok is false for a Gateway's own request.
func parseEndpointsRequest(req reconcile.Request) (gw reconcile.Request, svc string, ok bool) {
	name, svc, ok := strings.Cut(req.Name, "/")
	if !ok {
		return req, "", false
	}
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: req.Namespace, Name: name}}, svc, true
}

// keepEndpointState keeps a full pass's resolution and resources for the fleet's endpoint
// updates, or drops them (nil out).
func (r *XDSReconciler) keepEndpointState(key string, res *resolved, out *translate.Resources) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if out == nil || len(out.Warnings) > 0 {
		delete(r.endpointStates, key)
		return
	}
	if r.endpointStates == nil {
		r.endpointStates = map[string]*endpointState{}
	}
	r.endpointStates[key] = &endpointState{result: res.result, out: out}
}

// updateEndpoints answers an endpoints request from the fleet's last full pass; done is false
// when there is none to start from (the caller makes a full pass).
func (r *XDSReconciler) updateEndpoints(ctx context.Context, key, svc string) (done bool, err error) {
	r.mu.Lock()
	st := r.endpointStates[key]
	r.mu.Unlock()
	if st == nil {
		return false, nil
	}
	ns, name, _ := strings.Cut(svc, "/")
	if !st.result.UsesEndpointsOf(ns, name) {
		return true, nil // no cluster of the fleet takes its endpoints from this Service
	}
	list := &discoveryv1.EndpointSliceList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{IndexEndpointSliceService: svc}, readOnly); err != nil {
		return true, err
	}
	ess := make([]*discoveryv1.EndpointSlice, len(list.Items))
	for i := range list.Items {
		ess[i] = &list.Items[i]
	}
	if !st.own { // SetEndpoints changes the clusters in place: ours, not the stored resolution's
		st.result.Fleet.Clusters = slices.Clone(st.result.Fleet.Clusters)
		st.own = true
	}
	changed := st.result.SetEndpoints(map[string][]*discoveryv1.EndpointSlice{svc: ess})
	if len(changed) == 0 {
		return true, nil
	}
	out, ok := translate.UpdateEndpoints(st.out, changed)
	if !ok {
		r.keepEndpointState(key, nil, nil)
		return false, nil
	}
	published, err := r.DataPlane.Publish(key, out.Wire())
	if err != nil {
		r.keepEndpointState(key, nil, nil) // the next request makes a full pass
		return true, err
	}
	st.out = out
	endpointUpdates.Inc()
	if published {
		r.Report.Changed(key)
		ctrl.LoggerFrom(ctx).V(1).Info("Published fleet endpoints", "fleet", key, "service", svc, "clusters", len(changed))
	}
	return true, nil
}

// gatewayKey is the fleet key of a Gateway's request.
func gatewayKey(req reconcile.Request) string {
	return provisioner.FleetKeyFor(req.Namespace, req.Name)
}
