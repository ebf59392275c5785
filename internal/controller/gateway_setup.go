package controller

import (
	"context"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

// SetupWithManager registers the Gateway controller. Owned fleet objects are watched so that a
// deleted or hand-edited object is restored; everything else reaches it as a new resolution from
// the xDS controller (Events), which watches the class, its parameters and the inputs.
// withCertManager adds the watch on cert-manager Certificates (only when their CRD is installed).
func (r *GatewayReconciler) SetupWithManager(mgr ctrl.Manager, withCertManager bool) error {
	specOrMeta := predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{})
	b := ctrl.NewControllerManagedBy(mgr).
		Named("gateway").
		For(&gwapiv1.Gateway{}, builder.WithPredicates(specOrMeta)).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Secret{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Owns(&policyv1.PodDisruptionBudget{})
	// The class, its parameters and every input of the resolution are the xDS controller's watches:
	// it resolves, stores the resolution and notifies this controller (Events), which resolves
	// nothing itself.
	// An object that blocked a fleet (FleetObjectConflict) has no owner reference to map it back:
	// its deletion finds the Gateway by name.
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ServiceAccount{}, &corev1.ConfigMap{},
		&corev1.Secret{}, &autoscalingv2.HorizontalPodAutoscaler{}, &policyv1.PodDisruptionBudget{}} {
		b = b.Watches(obj, handler.EnqueueRequestsFromMapFunc(r.gatewayOfFleetObjectName), builder.WithPredicates(unownedDeleted))
	}
	if r.Events != nil {
		b = b.WatchesRawSource(source.Channel(r.Events.ch, &handler.EnqueueRequestForObject{}))
	}
	if r.Reports != nil {
		// Other replicas' data-plane reports: the fleets whose entries changed.
		b = b.Watches(&coordinationv1.Lease{}, r.Reports.GatewaysOfReports())
	}
	if withCertManager {
		// cert-manager writes the fleet Secret without an owner reference: find its Gateway by name.
		b = b.Owns(&cmapi.Certificate{}).
			Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.gatewayOfFleetObjectName),
				builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
					return o.GetLabels()[provisioner.LabelManagedBy] == provisioner.ManagedByValue
				})))
	}
	return b.Complete(r)
}

// watchAdmission adds the watches on what FleetInputs.admit reads besides the GatewayClass: the
// FleetClass, the FleetConfig, the namespace's labels, and the other Gateways of the namespace
// (a deleted or re-classed Gateway may bring another back under the quota).
func (f *FleetInputs) watchAdmission(b *builder.Builder) *builder.Builder {
	return b.Watches(&flotillav1alpha1.FleetClass{}, handler.EnqueueRequestsFromMapFunc(f.gatewaysOfFleetClass),
		builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&flotillav1alpha1.FleetConfig{}, handler.EnqueueRequestsFromMapFunc(f.gatewaysOfFleetConfig),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Only a label change: a namespace created has no Gateway or route yet, and one deleted takes
		// its own with it (their deletions reach the Gateways that had them).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(f.gatewaysInNamespace),
			builder.WithPredicates(predicate.LabelChangedPredicate{}, predicate.Funcs{
				CreateFunc: func(event.CreateEvent) bool { return false },
				DeleteFunc: func(event.DeleteEvent) bool { return false },
			})).
		Watches(&gwapiv1.Gateway{}, handler.EnqueueRequestsFromMapFunc(f.neighbourGateways),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc: func(event.CreateEvent) bool { return true },
				DeleteFunc: func(event.DeleteEvent) bool { return true },
				UpdateFunc: func(e event.UpdateEvent) bool {
					return e.ObjectOld.(*gwapiv1.Gateway).Spec.GatewayClassName != e.ObjectNew.(*gwapiv1.Gateway).Spec.GatewayClassName
				},
				GenericFunc: func(event.GenericEvent) bool { return false },
			}))
}

// neighbourGateways are the other Gateways of a Gateway's namespace: its arrival, departure or
// change of class can move them across the class's per-namespace quota.
func (f *FleetInputs) neighbourGateways(ctx context.Context, o client.Object) []reconcile.Request {
	var out []reconcile.Request
	for _, r := range f.listGateways(ctx, client.InNamespace(o.GetNamespace())) {
		if r.Name != o.GetName() {
			out = append(out, r)
		}
	}
	return out
}

// unownedDeleted passes the deletion of an object with no controller: one that may have held a
// fleet object's name.
var unownedDeleted = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	DeleteFunc:  func(e event.DeleteEvent) bool { return metav1.GetControllerOf(e.Object) == nil },
}

// classDecisionChanged passes GatewayClass events that can change its Gateways: a new spec or a
// new Accepted decision (not every status write, which would re-queue every Gateway of the class).
var classDecisionChanged = predicate.Or(predicate.GenerationChangedPredicate{}, predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		accepted := string(gwapiv1.GatewayClassConditionStatusAccepted)
		o := meta.FindStatusCondition(e.ObjectOld.(*gwapiv1.GatewayClass).Status.Conditions, accepted)
		n := meta.FindStatusCondition(e.ObjectNew.(*gwapiv1.GatewayClass).Status.Conditions, accepted)
		return (o == nil) != (n == nil) || (o != nil && (o.Status != n.Status || o.ObservedGeneration != n.ObservedGeneration))
	},
})
