package controller

import (
	"context"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
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
	for _, rk := range routeKinds {
		if r.served(rk.kind) {
			b = b.Watches(rk.newObj(), handler.EnqueueRequestsFromMapFunc(r.gatewaysOfRoute(rk)))
		}
	}
	if r.served("ListenerSet") {
		b = b.Watches(&gwapiv1.ListenerSet{}, handler.EnqueueRequestsFromMapFunc(r.gatewayOfListenerSet))
	}
	if r.served("ReferenceGrant") {
		// A grant may allow or forbid references of any route or listener: rare, so all Gateways.
		b = b.Watches(&gwapiv1.ReferenceGrant{}, handler.EnqueueRequestsFromMapFunc(r.allGateways))
	}
	b = b.Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysOfService)).
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysOfEndpointSlice)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.gatewaysOfCertificate))
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

func gatewayRequests(list *gwapiv1.GatewayList) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, gw := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name}})
	}
	return reqs
}

func (r *GatewayReconciler) listGateways(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	list := &gwapiv1.GatewayList{}
	if err := r.Client.List(ctx, list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing Gateways")
		return nil
	}
	return gatewayRequests(list)
}

func (r *GatewayReconciler) gatewaysOfClass(ctx context.Context, o client.Object) []reconcile.Request {
	return r.listGateways(ctx, client.MatchingFields{IndexGatewayClassName: o.GetName()})
}

func (r *GatewayReconciler) gatewaysOfFleetClass(ctx context.Context, o client.Object) []reconcile.Request {
	classes := &gwapiv1.GatewayClassList{}
	if err := r.Client.List(ctx, classes, client.MatchingFields{IndexGatewayClassFleetClass: o.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing GatewayClasses of a FleetClass")
		return nil
	}
	var reqs []reconcile.Request
	for _, c := range classes.Items {
		reqs = append(reqs, r.gatewaysOfClass(ctx, &c)...)
	}
	return reqs
}

func (r *GatewayReconciler) gatewaysOfFleetConfig(ctx context.Context, o client.Object) []reconcile.Request {
	return r.listGateways(ctx, client.InNamespace(o.GetNamespace()), client.MatchingFields{IndexGatewayFleetConfig: o.GetName()})
}

func (r *GatewayReconciler) gatewayOfFleetSecret(ctx context.Context, o client.Object) []reconcile.Request {
	list := &gwapiv1.GatewayList{}
	if err := r.Client.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing Gateways")
		return nil
	}
	for _, gw := range list.Items {
		if provisioner.SecretName(&gw) == o.GetName() {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name}}}
		}
	}
	return nil
}

// gatewaysInNamespace answers a namespace label change: tenancy admission of the namespace's own
// Gateways, and allowedRoutes/allowedListeners selectors of any Gateway, may change. Rare: all.
func (r *GatewayReconciler) gatewaysInNamespace(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.listGateways(ctx)
}

func (r *GatewayReconciler) allGateways(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.listGateways(ctx)
}

// gatewaysOfRoute maps a route to the Gateways it names (directly or through a ListenerSet) and those
// whose status entries it still carries.
func (r *GatewayReconciler) gatewaysOfRoute(rk routeKind) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		keys := sets.New[string]()
		for _, ref := range rk.spec(o).ParentRefs {
			keys.Insert(parentKey(o.GetNamespace(), ref))
		}
		for _, p := range *rk.parents(o) {
			if p.ControllerName == ControllerName {
				keys.Insert(parentKey(o.GetNamespace(), p.ParentRef))
			}
		}
		return r.gatewaysOfParents(ctx, keys)
	}
}

// gatewaysOfParents turns "Gateway/ns/name" and "ListenerSet/ns/name" keys into Gateway requests.
func (r *GatewayReconciler) gatewaysOfParents(ctx context.Context, keys sets.Set[string]) []reconcile.Request {
	var reqs []reconcile.Request
	for _, k := range sets.List(keys) {
		kind, rest, _ := strings.Cut(k, "/")
		ns, name, _ := strings.Cut(rest, "/")
		switch kind {
		case "Gateway":
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
		case "ListenerSet":
			if !r.served("ListenerSet") {
				continue
			}
			ls := &gwapiv1.ListenerSet{}
			if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, ls); err == nil {
				reqs = append(reqs, r.gatewayOfListenerSet(ctx, ls)...)
			}
		}
	}
	return reqs
}

func (r *GatewayReconciler) gatewayOfListenerSet(_ context.Context, o client.Object) []reconcile.Request {
	ls := o.(*gwapiv1.ListenerSet)
	ns := ls.Namespace
	if ls.Spec.ParentRef.Namespace != nil {
		ns = string(*ls.Spec.ParentRef.Namespace)
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: string(ls.Spec.ParentRef.Name)}}}
}

// gatewaysOfServiceKey maps a Service ("ns/name") to the Gateways of the routes that use it.
func (r *GatewayReconciler) gatewaysOfServiceKey(ctx context.Context, key string) []reconcile.Request {
	keys := sets.New[string]()
	for _, rk := range routeKinds {
		if !r.served(rk.kind) {
			continue
		}
		list := rk.newList()
		if err := r.Client.List(ctx, list, client.MatchingFields{IndexRouteService: key}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Listing routes of a Service", "service", key)
			continue
		}
		for _, o := range rk.items(list) {
			for _, ref := range rk.spec(o).ParentRefs {
				keys.Insert(parentKey(o.GetNamespace(), ref))
			}
		}
	}
	return r.gatewaysOfParents(ctx, keys)
}

func (r *GatewayReconciler) gatewaysOfService(ctx context.Context, o client.Object) []reconcile.Request {
	return r.gatewaysOfServiceKey(ctx, o.GetNamespace()+"/"+o.GetName())
}

func (r *GatewayReconciler) gatewaysOfEndpointSlice(ctx context.Context, o client.Object) []reconcile.Request {
	svc := o.GetLabels()[discoveryv1.LabelServiceName]
	if svc == "" {
		return nil
	}
	return r.gatewaysOfServiceKey(ctx, o.GetNamespace()+"/"+svc)
}

// gatewaysOfCertificate maps a Secret to the Gateways whose listeners (or ListenerSets' listeners)
// use it as a certificate.
func (r *GatewayReconciler) gatewaysOfCertificate(ctx context.Context, o client.Object) []reconcile.Request {
	key := o.GetNamespace() + "/" + o.GetName()
	reqs := r.listGateways(ctx, client.MatchingFields{IndexCertificateSecret: key})
	if r.served("ListenerSet") {
		list := &gwapiv1.ListenerSetList{}
		if err := r.Client.List(ctx, list, client.MatchingFields{IndexCertificateSecret: key}); err == nil {
			for i := range list.Items {
				reqs = append(reqs, r.gatewayOfListenerSet(ctx, &list.Items[i])...)
			}
		}
	}
	return reqs
}
