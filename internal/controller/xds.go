package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	cachetypes "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/model"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"github.com/flotilla-dev/flotilla/internal/xds/server"
	"github.com/flotilla-dev/flotilla/internal/xds/translate"
)

// ConditionDataPlaneAccepted says whether the fleet's Envoys accepted the configuration they were
// sent: False with Envoy's own error when one rejected it (NACK), or when translation failed.
const ConditionDataPlaneAccepted = "gateway.flotilla.dev/DataPlaneAccepted"

// Reasons of ConditionDataPlaneAccepted.
const (
	ReasonDataPlaneAccepted  = "Accepted"
	ReasonDataPlaneRejected  = "Rejected"
	ReasonTranslationFailed  = "TranslationFailed"
	ReasonNoProxiesConnected = "NoProxiesConnected"
)

// DataPlane is the xDS server as the controllers use it.
type DataPlane interface {
	// Publish sets a fleet's resources and says whether anything changed.
	Publish(fleet string, res map[resource.Type][]cachetypes.Resource) (bool, error)
	// Forget drops a fleet.
	Forget(fleet string)
	// DataPlaneStatus is what the fleet's Envoys connected to this replica said of their
	// configuration.
	DataPlaneStatus(fleet string) server.DataPlaneStatus
}

var translateSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
	Name:    "flotilla_xds_translation_duration_seconds",
	Help:    "Time to resolve and translate one fleet's configuration.",
	Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
})

func init() { metrics.Registry.MustRegister(translateSeconds) }

// XDSReconciler resolves each Gateway of a Flotilla class once per change of its inputs, translates
// the result to Envoy configuration and publishes it to the xDS server, and stores the resolution
// for the Gateway controller (Resolutions). It runs in every replica (each serves xDS from its own
// cache); it writes nothing to the API server.
type XDSReconciler struct {
	FleetInputs
	DataPlane DataPlane
	// Events tells the Gateway controller a fleet's data-plane condition may have changed.
	Events *FleetEvents
	// Trust learns which fleets are admitted, for which Gateway instance and with which issuer;
	// nil in tests that run no xDS server.
	Trust *FleetTrust
	// Resolutions receives each fleet's resolution, for the Gateway controller's status and
	// provisioning; nil stores none.
	Resolutions *Resolutions
	// Reports sums the fleets' Envoys over every replica for DataPlaneCondition; nil counts
	// this replica's alone.
	Reports *DataPlaneReports
	// Report publishes this replica's view of the fleets' Envoys; nil publishes none.
	Report *ReportPublisher
	// Defaults are the parameters' built-in defaults; XDSTrust, when set, gives
	// Defaults.XDSTrust (the built-in CA's trust bundle, which fleets verify the server with).
	Defaults provisioner.Defaults
	XDSTrust func(context.Context) ([]byte, error)
	// requeue carries RequeueAll's Gateways to the controller.
	requeue chan event.GenericEvent

	mu             sync.Mutex
	failures       map[string]string         // fleet key → why translation failed
	endpointStates map[string]*endpointState // fleet key → its last full pass, for endpoint updates
	locks          fleetLocks
}

// Reconcile translates and publishes one fleet.
func (r *XDSReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if gw, svc, ok := parseEndpointsRequest(req); ok {
		key := gatewayKey(gw)
		defer r.locks.lock(key)()
		if done, err := r.updateEndpoints(ctx, key, svc); done || err != nil {
			return reconcile.Result{}, err
		}
		return r.reconcileFleet(ctx, gw)
	}
	defer r.locks.lock(gatewayKey(req))()
	return r.reconcileFleet(ctx, req)
}

// reconcileFleet is a full pass over one fleet, its lock held: resolve, translate, publish.
func (r *XDSReconciler) reconcileFleet(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	key := provisioner.FleetKeyFor(req.Namespace, req.Name)
	gw := &gwapiv1.Gateway{}
	if err := r.Client.Get(ctx, req.NamespacedName, gw); client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, err
	} else if err != nil || !gw.DeletionTimestamp.IsZero() {
		r.forget(key)
		return reconcile.Result{}, nil
	}
	class := &gwapiv1.GatewayClass{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: string(gw.Spec.GatewayClassName)}, class); client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, err
	} else if err != nil || class.Spec.ControllerName != ControllerName {
		r.forget(key)
		return reconcile.Result{}, nil
	}
	if c := meta.FindStatusCondition(class.Status.Conditions, string(gwapiv1.GatewayClassConditionStatusAccepted)); c == nil ||
		c.Status == metav1.ConditionUnknown || c.ObservedGeneration != class.Generation {
		return reconcile.Result{}, nil // the class's decision brings the Gateway back
	}
	// The one gate: a refused Gateway is served nothing, and no certificate speaks for its fleet.
	defaults := r.Defaults
	if r.XDSTrust != nil {
		trust, err := r.XDSTrust(ctx)
		if err != nil {
			return reconcile.Result{}, err
		}
		defaults.XDSTrust = trust // Envoy verifies the xDS server with Flotilla's CAs
	}
	adm, err := r.admit(ctx, gw, class, defaults)
	if err != nil {
		return reconcile.Result{}, err
	}
	start := time.Now()
	// The fleet's last resolution lends what did not change (gatewayapi.ResolveFrom).
	var prevRes *gatewayapi.Result
	r.mu.Lock()
	if st := r.endpointStates[key]; st != nil {
		prevRes = &st.result
	}
	r.mu.Unlock()
	res, err := r.resolve(ctx, gw, paramsForResolve(adm.params), prevRes)
	if err != nil {
		return reconcile.Result{}, err
	}
	if !adm.admitted() {
		_, why := adm.reason()
		res.result.RefuseGateway(why) // its routes say why they are not served
		r.unserve(key)
		r.store(key, gw, adm, res)
		return reconcile.Result{}, nil
	}
	if r.Trust != nil {
		certManager, issuers := adm.issuers()
		if r.Trust.Admit(key, string(gw.UID), certManager, issuers) {
			// A new Gateway of the same name: the old instance's streams end now.
			r.DataPlane.Forget(key)
		}
	}
	// Stored once translation has said whether it failed, which the status reports.
	defer r.store(key, gw, adm, res)

	// The fleet's last translation lends the clusters that did not change (translate.TranslateFrom).
	var prevOut *translate.Resources
	var prevFleet *model.Fleet
	r.mu.Lock()
	if st := r.endpointStates[key]; st != nil {
		prevOut, prevFleet = st.out, &st.result.Fleet
	}
	r.mu.Unlock()
	out, err := translate.TranslateFrom(&res.result.Fleet, secretData(res), prevOut, prevFleet)
	translateSeconds.Observe(time.Since(start).Seconds())
	log := ctrl.LoggerFrom(ctx)
	if err != nil {
		// A bug, not bad input: the last good configuration keeps serving and the Gateway says so.
		log.Error(err, "Translating fleet configuration; the last good configuration keeps serving", "gateway", klog.KObj(gw))
		translationFailures.Inc()
		r.setFailure(key, err.Error())
		r.keepEndpointState(key, nil, nil)
		return reconcile.Result{}, nil
	}
	r.setFailure(key, "")
	for _, w := range out.Warnings {
		log.V(1).Info("Left out of the fleet configuration", "gateway", klog.KObj(gw), "why", w)
	}
	// What translation changed about a route reaches that route's status (stored by the defer).
	if len(out.RouteWarnings) > 0 {
		byRoute := make(map[string][]string, len(out.RouteWarnings))
		for _, w := range out.RouteWarnings {
			byRoute[w.Route] = append(byRoute[w.Route], w.Message)
		}
		res.result.MarkUntranslatable(byRoute)
	}
	changed, err := r.DataPlane.Publish(key, out.Wire())
	if err != nil {
		r.keepEndpointState(key, nil, nil)
		return reconcile.Result{}, fmt.Errorf("publishing fleet %s: %w", key, err)
	}
	r.keepEndpointState(key, res, out)
	if changed {
		r.Report.Changed(key) // the connected Envoys are behind until they ACK (Publish notifies nothing)
		log.V(1).Info("Published fleet configuration", "gateway", klog.KObj(gw), "listeners", len(out.Listeners),
			"routeConfigs", len(out.Routes), "clusters", len(out.Clusters), "took", time.Since(start))
	}
	return reconcile.Result{}, nil
}

// secretData is the data of the certificates the fleet model names, from the Secrets resolve read.
func secretData(res *resolved) map[string]translate.TLSSecret {
	out := make(map[string]translate.TLSSecret, len(res.result.Fleet.Secrets))
	for _, s := range res.result.Fleet.Secrets {
		if sec, ok := res.secrets[s.Name]; ok {
			out[s.Name] = translate.TLSSecret{Cert: sec.Data[corev1.TLSCertKey], Key: sec.Data[corev1.TLSPrivateKeyKey]}
		}
	}
	return out
}

// forget drops everything of a fleet whose Gateway is gone or not Flotilla's.
func (r *XDSReconciler) forget(key string) {
	r.unserve(key)
	if r.Resolutions != nil {
		r.Resolutions.forget(key)
	}
}

// unserve stops serving a fleet: no trust, no snapshot (its open streams close).
func (r *XDSReconciler) unserve(key string) {
	r.keepEndpointState(key, nil, nil)
	if r.Trust != nil {
		r.Trust.Revoke(key)
	}
	r.DataPlane.Forget(key)
	r.Report.Changed(key)
	r.setFailure(key, "")
}

// store hands the fleet's resolution to the Gateway controller.
func (r *XDSReconciler) store(key string, gw *gwapiv1.Gateway, adm admission, res *resolved) {
	if r.Resolutions != nil {
		r.Resolutions.set(key, &fleetResolution{uid: gw.UID, generation: gw.Generation, adm: adm, res: res})
	}
}

func (r *XDSReconciler) setFailure(key, why string) {
	observeTranslation(key, why != "")
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures[key] == why {
		return
	}
	if r.failures == nil {
		r.failures = map[string]string{}
	}
	if why == "" {
		delete(r.failures, key)
	} else {
		r.failures[key] = why
	}
	r.Events.Notify(key)
}

func (r *XDSReconciler) failure(key string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failures[key]
}

// DataPlaneCondition is the Gateway's ConditionDataPlaneAccepted: this replica's translation
// failure, if any, and the fleet's Envoys on every replica (Reports), or on this one alone when
// Reports is nil.
func (r *XDSReconciler) DataPlaneCondition(ctx context.Context, key string, generation int64) (metav1.Condition, error) {
	var dp FleetDataPlane
	if r.Reports != nil {
		var err error
		if dp, err = r.Reports.Fleet(ctx, key); err != nil {
			return metav1.Condition{}, err
		}
	} else if own := fleetDataPlane(r.DataPlane.DataPlaneStatus(key)); !own.empty() {
		dp = dp.add(own)
	}
	return dataPlaneCondition(r.failure(key), dp, generation), nil
}

// SetupWithManager registers the xDS controller: it runs in every replica (no leader election)
// and watches what resolution reads, like the Gateway controller.
func (r *XDSReconciler) SetupWithManager(mgr ctrl.Manager) error {
	noLeader := false
	r.requeue = make(chan event.GenericEvent, 1024)
	b := ctrl.NewControllerManagedBy(mgr).
		Named("xds").
		WatchesRawSource(source.Channel(r.requeue, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{NeedLeaderElection: &noLeader}).
		For(&gwapiv1.Gateway{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&gwapiv1.GatewayClass{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysOfClass),
			builder.WithPredicates(classDecisionChanged))
	// What the admission gate reads.
	b = r.watchAdmission(b)
	// The managed backend client certificate's Secret, which cert-manager fills and renews (no
	// reference names it, so no index finds it): by name.
	b = b.Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.gatewayOfFleetObjectName),
		builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetLabels()[provisioner.LabelManagedBy] == provisioner.ManagedByValue
		})))
	return r.watchInputs(b).Complete(r)
}

// RequeueAll reconciles every Gateway again (the built-in CA changed: every fleet's trust
// bundle or certificate does). It blocks until every Gateway is queued or ctx ends.
func (r *XDSReconciler) RequeueAll(ctx context.Context) error {
	if r.requeue == nil {
		return nil
	}
	var gws gwapiv1.GatewayList
	if err := r.Client.List(ctx, &gws); err != nil {
		return err
	}
	for i := range gws.Items {
		select {
		case r.requeue <- event.GenericEvent{Object: &gws.Items[i]}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// FleetEvents carries "look at this fleet again" notices to the Gateway controller, which owns the
// status: a new resolution from the xDS controller, and the xDS side's NACKs, ACKs and translation
// failures. Notices for one fleet that are not yet delivered collapse into one; one goroutine
// delivers them, whatever the burst.
type FleetEvents struct {
	ch   chan event.GenericEvent
	kick chan struct{}
	once sync.Once

	mu      sync.Mutex
	pending map[string]struct{}
	order   []string
}

// NewFleetEvents makes an empty notice channel.
func NewFleetEvents() *FleetEvents {
	return &FleetEvents{ch: make(chan event.GenericEvent, 64), kick: make(chan struct{}, 1), pending: map[string]struct{}{}}
}

// Notify asks for the fleet's Gateway to be reconciled. It never blocks the caller (the xDS
// server calls it from its stream goroutines).
func (e *FleetEvents) Notify(fleet string) {
	if e == nil {
		return
	}
	e.mu.Lock()
	if _, ok := e.pending[fleet]; ok {
		e.mu.Unlock()
		return
	}
	e.pending[fleet] = struct{}{}
	e.order = append(e.order, fleet)
	e.mu.Unlock()
	e.once.Do(func() { go e.deliver() })
	select {
	case e.kick <- struct{}{}:
	default: // a delivery round is due already
	}
}

// deliver hands pending notices to the channel, oldest first, blocking on the channel only.
func (e *FleetEvents) deliver() {
	for range e.kick {
		for {
			e.mu.Lock()
			if len(e.order) == 0 {
				e.mu.Unlock()
				break
			}
			fleet := e.order[0]
			e.order = e.order[1:]
			delete(e.pending, fleet)
			e.mu.Unlock()
			ns, name, _ := strings.Cut(fleet, "/")
			gw := &gwapiv1.Gateway{}
			gw.Namespace, gw.Name = ns, name
			e.ch <- event.GenericEvent{Object: gw}
		}
	}
}
