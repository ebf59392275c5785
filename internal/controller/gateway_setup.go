package controller

import (
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

// SetupWithManager registers the Gateway controller. Owned fleet objects are watched so that a
// deleted or hand-edited object is restored; a FleetClass, FleetConfig, GatewayClass or Namespace
// change re-reconciles exactly the Gateways that use it, found through field indexes.
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
		Owns(&policyv1.PodDisruptionBudget{}).
		Watches(&gwapiv1.GatewayClass{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysOfClass),
			builder.WithPredicates(classDecisionChanged)).
		Watches(&flotillav1alpha1.FleetClass{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysOfFleetClass),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&flotillav1alpha1.FleetConfig{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysOfFleetConfig),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysInNamespace),
			builder.WithPredicates(predicate.LabelChangedPredicate{}))
	b = r.watchInputs(b)
	if r.Events != nil {
		b = b.WatchesRawSource(source.Channel(r.Events.ch, &handler.EnqueueRequestForObject{}))
	}
	if withCertManager {
		// cert-manager writes the fleet Secret without an owner reference: find its Gateway by name.
		b = b.Owns(&cmapi.Certificate{}).
			Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.gatewayOfFleetSecret),
				builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
					return o.GetLabels()[provisioner.LabelManagedBy] == provisioner.ManagedByValue
				})))
	}
	return b.Complete(r)
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
