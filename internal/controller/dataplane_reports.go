package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/flotilla-dev/flotilla/internal/xds/server"
)

// DataPlaneReports is the leader's view of every replica's data-plane report: it sums a fleet's
// entries of all unexpired report Leases, its own included, so that every replica's changes reach
// the Gateway's status through the same coalesced reports (at most one status change per replica
// and second under churn, whichever replica leads).
type DataPlaneReports struct {
	// Reader is the cache, which holds only the report Leases of Namespace.
	Reader    client.Reader
	Namespace string
	// Replica is this replica's name.
	Replica string
	// Self, when set, is this replica's view, counted directly instead of from its report Lease:
	// for a replica that publishes none.
	Self interface {
		DataPlaneStatus(fleet string) server.DataPlaneStatus
	}
	Now func() time.Time

	mu      sync.Mutex
	decoded map[string]decodedReport // by Lease name
}

type decodedReport struct {
	resourceVersion string
	report          DataPlaneReport
}

func (a *DataPlaneReports) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Fleet is the fleet's data plane summed over every replica that has Envoys of it.
func (a *DataPlaneReports) Fleet(ctx context.Context, fleet string) (FleetDataPlane, error) {
	var out FleetDataPlane
	if a.Self != nil {
		if own := fleetDataPlane(a.Self.DataPlaneStatus(fleet)); !own.empty() {
			out = out.add(own)
		}
	}
	if a.Reader == nil {
		return out, nil
	}
	list := &coordinationv1.LeaseList{}
	if err := a.Reader.List(ctx, list, client.InNamespace(a.Namespace), client.HasLabels{LabelDataPlaneReport}); err != nil {
		return out, fmt.Errorf("listing data-plane reports: %w", err)
	}
	now := a.now()
	for i := range list.Items {
		l := &list.Items[i]
		if a.own(l) || !now.Before(reportExpiry(l)) {
			continue // our own, counted above, or a replica that stopped reporting
		}
		rep, err := a.decode(l)
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Ignoring an unreadable data-plane report", "lease", klog.KObj(l))
			continue
		}
		if e, ok := rep.Fleets[fleet]; ok && !e.empty() {
			out = out.add(e)
		}
	}
	return out, nil
}

// own says the Lease is this replica's report and the replica's view is counted directly.
func (a *DataPlaneReports) own(l *coordinationv1.Lease) bool {
	return a.Self != nil && l.Name == ReportLeaseName(a.Replica)
}

// decode decodes a report once per resourceVersion (every Gateway reconcile reads every report).
func (a *DataPlaneReports) decode(l *coordinationv1.Lease) (DataPlaneReport, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if d, ok := a.decoded[l.Name]; ok && d.resourceVersion == l.ResourceVersion {
		return d.report, nil
	}
	rep, err := decodeReport(l)
	if err != nil {
		return rep, err
	}
	if a.decoded == nil {
		a.decoded = map[string]decodedReport{}
	}
	a.decoded[l.Name] = decodedReport{resourceVersion: l.ResourceVersion, report: rep}
	return rep, nil
}

// forget drops a deleted report's decoding.
func (a *DataPlaneReports) forget(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.decoded, name)
}

// GatewaysOfReports is the Gateway controller's watch on the report Leases: a report enqueues the
// Gateways of the fleets whose entries it changed, so a renewal (renewTime only) enqueues none.
// A report that appears, disappears, or comes back after expiring enqueues all its fleets.
func (a *DataPlaneReports) GatewaysOfReports() handler.EventHandler {
	enqueue := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], fleets []string) {
		for _, f := range fleets {
			ns, name, _ := strings.Cut(f, "/")
			q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
		}
	}
	all := func(l *coordinationv1.Lease) []string {
		if a.own(l) {
			return nil // counted directly: the xDS server's own notices cover it
		}
		rep, _ := decodeReport(l)
		return reportFleets(rep)
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, all(e.Object.(*coordinationv1.Lease)))
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			o, n := e.ObjectOld.(*coordinationv1.Lease), e.ObjectNew.(*coordinationv1.Lease)
			if a.own(n) {
				return
			}
			if now := a.now(); !now.Before(reportExpiry(o)) && now.Before(reportExpiry(n)) {
				enqueue(q, all(n)) // it counts again
				return
			}
			before, _ := decodeReport(o)
			after, _ := decodeReport(n)
			enqueue(q, changedFleets(before, after))
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			l, ok := e.Object.(*coordinationv1.Lease)
			if !ok {
				return // a tombstone: the expiry check has enqueued its fleets already
			}
			a.forget(l.Name)
			enqueue(q, all(l))
		},
	}
}

// DataPlaneReportReconciler (leader) makes a report stop counting when it expires: it looks at each
// report again at its expiry (RequeueAfter: the report's renewTime plus its duration, the only
// timed re-check this needs), and then re-enqueues its fleets' Gateways and deletes it, so a
// replica that died leaves no report behind. A renewal before then moves the re-check.
type DataPlaneReportReconciler struct {
	Client  client.Client
	Reports *DataPlaneReports
	Events  *FleetEvents
}

// Reconcile checks one report Lease for expiry.
func (r *DataPlaneReportReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	l := &coordinationv1.Lease{}
	if err := r.Client.Get(ctx, req.NamespacedName, l); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if r.Reports.own(l) {
		return reconcile.Result{}, nil // counted directly, never from the Lease
	}
	if left := reportExpiry(l).Sub(r.Reports.now()); left > 0 {
		// Reason for the timed re-check: the report stops counting then unless it is renewed.
		return reconcile.Result{RequeueAfter: left + 100*time.Millisecond}, nil
	}
	rep, _ := decodeReport(l)
	ctrl.LoggerFrom(ctx).Info("Data-plane report expired; its Envoys no longer count", "lease", klog.KObj(l),
		"replica", l.Labels[LabelDataPlaneReport], "fleets", len(rep.Fleets))
	for _, f := range reportFleets(rep) {
		r.Events.Notify(f)
	}
	// Only this version: a replica that renewed it meanwhile keeps it.
	err := r.Client.Delete(ctx, l, client.Preconditions{ResourceVersion: &l.ResourceVersion, UID: &l.UID})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("deleting expired data-plane report %s: %w", klog.KObj(l), err)
	}
	return reconcile.Result{}, nil
}

// SetupWithManager registers the expiry check (leader only, the default).
func (r *DataPlaneReportReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("data-plane-report").
		For(&coordinationv1.Lease{}).
		Complete(r)
}
