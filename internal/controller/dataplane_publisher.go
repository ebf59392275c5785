package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/flotilla-dev/flotilla/internal/xds/server"
)

// Defaults of ReportPublisher's timing.
const (
	DefaultReportRenewInterval = 10 * time.Second
	DefaultReportExpiry        = 30 * time.Second
	// DefaultReportMinInterval is the least time between two writes of a replica's report: changes
	// arriving meanwhile are coalesced into the next write.
	DefaultReportMinInterval = time.Second
)

var reportWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "flotilla_data_plane_report_writes_total",
	Help: "Writes of this replica's data-plane report Lease: a changed report (report) or only its renewal (renewal).",
}, []string{"kind"})

func init() { metrics.Registry.MustRegister(reportWrites) }

// RBAC for the report Leases, in the operator's namespace only (a Role, not the ClusterRole): each
// replica writes its own, the leader reads them all and deletes expired ones.
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=system,resources=leases,verbs=get;list;watch;create;patch;delete

// ReportPublisher publishes this replica's view of every fleet's Envoys as a Lease in Namespace
// (ReportLeaseName(Replica)), for the leader to aggregate into DataPlaneAccepted. It runs in every
// replica. Writes are bounded: a change is written at most once per MinInterval (changes meanwhile
// collapse into one write of the whole report), an unchanged report is never rewritten, and
// otherwise only the Lease's renewTime is patched every RenewInterval.
type ReportPublisher struct {
	Client    client.Client
	Namespace string
	Replica   string
	// Source is this replica's xDS server.
	Source interface {
		DataPlaneStatus(fleet string) server.DataPlaneStatus
	}
	RenewInterval, Expiry, MinInterval time.Duration

	kick chan struct{}
	once sync.Once

	mu    sync.Mutex
	dirty map[string]struct{}
	// report is what this replica says now; written is what its Lease says, once synced (a
	// replica restarted under the same name finds its previous report there: the first write
	// replaces it).
	report, written DataPlaneReport
	synced          bool
}

func (p *ReportPublisher) init() {
	p.once.Do(func() {
		p.kick = make(chan struct{}, 1)
		p.dirty = map[string]struct{}{}
		p.report.Fleets = map[string]FleetDataPlane{}
	})
}

// Changed says the fleet's data plane on this replica may have changed (the xDS server's
// OnDataPlaneStatus, a publish, a fleet forgotten). It never blocks.
func (p *ReportPublisher) Changed(fleet string) {
	if p == nil {
		return
	}
	p.init()
	p.mu.Lock()
	p.dirty[fleet] = struct{}{}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// NeedLeaderElection is false: every replica reports its own Envoys.
func (p *ReportPublisher) NeedLeaderElection() bool { return false }

// Start writes the report whenever it changes (at most once per MinInterval) and renews it until
// ctx ends, then deletes it: the replica's Envoys stop counting at once (they reconnect to another
// replica, whose report counts them). A replica that dies without deleting it stops counting when
// it expires.
func (p *ReportPublisher) Start(ctx context.Context) error {
	p.init()
	log := ctrl.LoggerFrom(ctx).WithName("data-plane-report").WithValues("lease", p.Namespace+"/"+ReportLeaseName(p.Replica))
	defer p.release(log)
	renew := time.NewTicker(p.RenewInterval)
	defer renew.Stop()
	var last time.Time // of the last write
	write := func(force bool) {
		if err := p.flush(ctx, force); err != nil {
			if ctx.Err() == nil {
				log.Error(err, "Writing the data-plane report; retrying at the next change or renewal")
			}
			return
		}
		last = time.Now()
	}
	write(true)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-renew.C:
			if time.Since(last) >= p.RenewInterval/2 {
				write(true)
			}
		case <-p.kick:
			// Coalesce: whatever changes until MinInterval after the last write goes into one write.
			if wait := p.MinInterval - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(wait):
				}
			}
			write(false)
		}
	}
}

// flush recomputes the dirty fleets and writes the report if it changed, or renews it when force.
func (p *ReportPublisher) flush(ctx context.Context, force bool) error {
	p.mu.Lock()
	dirty := p.dirty
	p.dirty = map[string]struct{}{}
	p.mu.Unlock()
	for fleet := range dirty {
		if e := fleetDataPlane(p.Source.DataPlaneStatus(fleet)); e.empty() {
			delete(p.report.Fleets, fleet)
		} else {
			p.report.Fleets[fleet] = e
		}
	}
	changed := !p.synced || len(changedFleets(p.written, p.report)) > 0
	if !changed && !force {
		return nil
	}
	if err := p.write(ctx, changed); err != nil {
		// Recomputed at the next write: the report is what the xDS server says then.
		p.mu.Lock()
		for fleet := range dirty {
			p.dirty[fleet] = struct{}{}
		}
		p.mu.Unlock()
		return err
	}
	if changed {
		p.synced = true
		p.written = DataPlaneReport{Fleets: make(map[string]FleetDataPlane, len(p.report.Fleets))}
		for k, v := range p.report.Fleets {
			p.written.Fleets[k] = v
		}
	}
	return nil
}

// write patches the Lease (creating it when missing): renewTime always, the report when withReport.
func (p *ReportPublisher) write(ctx context.Context, withReport bool) error {
	now := metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: ReportLeaseName(p.Replica),
			Labels: map[string]string{LabelDataPlaneReport: ReportLeaseName(p.Replica)}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(p.Replica),
			LeaseDurationSeconds: ptr.To(int32(max(p.Expiry/time.Second, 1))), RenewTime: &now},
	}
	patch := map[string]any{"spec": map[string]any{"renewTime": now, "holderIdentity": p.Replica,
		"leaseDurationSeconds": *lease.Spec.LeaseDurationSeconds}}
	kind := "renewal"
	if withReport {
		enc, err := encodeReport(p.report)
		if err != nil {
			return err
		}
		patch["metadata"] = map[string]any{"annotations": map[string]string{AnnotationDataPlaneReport: enc}}
		lease.Annotations = map[string]string{AnnotationDataPlaneReport: enc}
		kind = "report"
	}
	raw, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	err = p.Client.Patch(ctx, lease.DeepCopy(), client.RawPatch(types.MergePatchType, raw))
	if apierrors.IsNotFound(err) {
		// First write, or the leader deleted it as expired: the whole report.
		enc, encErr := encodeReport(p.report)
		if encErr != nil {
			return encErr
		}
		lease.Annotations = map[string]string{AnnotationDataPlaneReport: enc}
		err, kind = p.Client.Create(ctx, lease), "report"
	}
	if err != nil {
		return fmt.Errorf("writing data-plane report Lease %s/%s: %w", p.Namespace, lease.Name, err)
	}
	reportWrites.WithLabelValues(kind).Inc()
	return nil
}

// release deletes the report when the replica stops.
func (p *ReportPublisher) release(log logr.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: ReportLeaseName(p.Replica)}}
	if err := p.Client.Delete(ctx, lease); client.IgnoreNotFound(err) != nil {
		log.Error(err, "Deleting the data-plane report on the way out; it expires instead")
	}
}
