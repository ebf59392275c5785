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
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

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

// XDSReconciler resolves each Gateway of a Flotilla class, translates the result to Envoy
// configuration and publishes it to the xDS server. It runs in every replica (each serves xDS
// from its own cache); it writes nothing to the API server.
type XDSReconciler struct {
	FleetInputs
	DataPlane DataPlane
	// Events tells the Gateway controller a fleet's data-plane condition may have changed.
	Events *FleetEvents
	// Trust learns which fleets are admitted, for which Gateway instance and with which issuer;
	// nil in tests that run no xDS server.
	Trust *FleetTrust

	mu       sync.Mutex
	failures map[string]string // fleet key → why translation failed
}

// Reconcile translates and publishes one fleet.
func (r *XDSReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	key := req.Namespace + "/" + req.Name
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
	// The same gate as the Gateway controller's: a Gateway refused there is served nothing here,
	// and no certificate speaks for its fleet.
	adm, err := r.admit(ctx, gw, class, provisioner.Defaults{})
	if err != nil {
		return reconcile.Result{}, err
	}
	if !adm.admitted() {
		r.forget(key)
		return reconcile.Result{}, nil
	}
	if r.Trust != nil {
		certManager, issuers := adm.issuers()
		if r.Trust.Admit(key, string(gw.UID), certManager, issuers) {
			// A new Gateway of the same name: the old instance's streams end now.
			r.DataPlane.Forget(key)
		}
	}

	start := time.Now()
	res, err := r.resolve(ctx, gw)
	if err != nil {
		return reconcile.Result{}, err
	}
	out, err := translate.Translate(&res.result.Fleet, secretData(res))
	translateSeconds.Observe(time.Since(start).Seconds())
	log := ctrl.LoggerFrom(ctx)
	if err != nil {
		// A bug, not bad input: the last good configuration keeps serving and the Gateway says so.
		log.Error(err, "Translating fleet configuration; the last good configuration keeps serving", "gateway", klog.KObj(gw))
		r.setFailure(key, err.Error())
		return reconcile.Result{}, nil
	}
	r.setFailure(key, "")
	for _, w := range out.Warnings {
		log.V(1).Info("Left out of the fleet configuration", "gateway", klog.KObj(gw), "why", w)
	}
	changed, err := r.DataPlane.Publish(key, out.ByType())
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("publishing fleet %s: %w", key, err)
	}
	if changed {
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

func (r *XDSReconciler) forget(key string) {
	if r.Trust != nil {
		r.Trust.Revoke(key)
	}
	r.DataPlane.Forget(key)
	r.setFailure(key, "")
}

func (r *XDSReconciler) setFailure(key, why string) {
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

// DataPlaneCondition is the Gateway's ConditionDataPlaneAccepted as this replica knows it.
func (r *XDSReconciler) DataPlaneCondition(key string, generation int64) metav1.Condition {
	c := metav1.Condition{Type: ConditionDataPlaneAccepted, ObservedGeneration: generation}
	rep := r.DataPlane.DataPlaneStatus(key)
	switch why := r.failure(key); {
	case why != "":
		c.Status, c.Reason = metav1.ConditionFalse, ReasonTranslationFailed
		c.Message = "Translating the configuration failed (a Flotilla bug; the last good configuration keeps serving): " + why
	case rep.Rejected != nil:
		c.Status, c.Reason = metav1.ConditionFalse, ReasonDataPlaneRejected
		c.Message = fmt.Sprintf("Envoy %s rejected %s version %s (it keeps serving its last accepted configuration): %s",
			rep.Rejected.Node, strings.TrimPrefix(rep.Rejected.TypeURL, resource.APITypePrefix), rep.Rejected.Version, rep.Rejected.Message)
	case rep.Connected == 0:
		c.Status, c.Reason = metav1.ConditionUnknown, ReasonNoProxiesConnected
		c.Message = "No Envoy of this fleet is connected to the replica that reports status"
	case rep.Acked:
		c.Status, c.Reason = metav1.ConditionTrue, ReasonDataPlaneAccepted
		c.Message = fmt.Sprintf("%d connected Envoys accepted the latest configuration", rep.Connected)
	default:
		c.Status, c.Reason = metav1.ConditionUnknown, ReasonDataPlaneAccepted
		c.Message = fmt.Sprintf("Waiting for %d connected Envoys to acknowledge the latest configuration", rep.Connected)
	}
	return c
}

// SetupWithManager registers the xDS controller: it runs in every replica (no leader election)
// and watches what resolution reads, like the Gateway controller.
func (r *XDSReconciler) SetupWithManager(mgr ctrl.Manager) error {
	noLeader := false
	b := ctrl.NewControllerManagedBy(mgr).
		Named("xds").
		WithOptions(controller.Options{NeedLeaderElection: &noLeader}).
		For(&gwapiv1.Gateway{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&gwapiv1.GatewayClass{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysOfClass),
			builder.WithPredicates(classDecisionChanged))
	// What the admission gate reads, as the Gateway controller watches it.
	b = r.watchAdmission(b)
	return r.watchInputs(b).Complete(r)
}

// FleetEvents carries "look at this fleet again" notices from the xDS side (NACKs, ACKs,
// translation failures) to the Gateway controller, which owns the status.
type FleetEvents struct {
	ch chan event.GenericEvent
}

// NewFleetEvents makes an empty notice channel.
func NewFleetEvents() *FleetEvents { return &FleetEvents{ch: make(chan event.GenericEvent, 1024)} }

// Notify asks for the fleet's Gateway to be reconciled. It never blocks the caller (the xDS
// server calls it from its stream goroutines).
func (e *FleetEvents) Notify(fleet string) {
	if e == nil {
		return
	}
	ns, name, _ := strings.Cut(fleet, "/")
	gw := &gwapiv1.Gateway{}
	gw.Namespace, gw.Name = ns, name
	select {
	case e.ch <- event.GenericEvent{Object: gw}:
	default:
		go func() { e.ch <- event.GenericEvent{Object: gw} }()
	}
}
