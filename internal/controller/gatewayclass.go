package controller

import (
	"context"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/features"
)

// GatewayClassReconciler accepts GatewayClasses whose controllerName is Flotilla's: it checks their
// parametersRef, reports the installed Gateway API version and the supported features, and holds the
// gateway-exists finalizer while Gateways use the class.
type GatewayClassReconciler struct {
	Client   client.Client
	Status   *StatusWriter
	Recorder recorder.EventRecorder
	// Unserved are the route and policy kinds whose CRDs were missing at start-up; the Accepted
	// message names them so that users see why such objects get no status.
	Unserved []string
}

// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gatewayclasses,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gatewayclasses/status,verbs=get;update
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gateways,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.flotilla.dev,resources=fleetclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one GatewayClass's finalizer and status up to date.
func (r *GatewayClassReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	gc := &gwapiv1.GatewayClass{}
	if err := r.Client.Get(ctx, req.NamespacedName, gc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if gc.Spec.ControllerName != ControllerName {
		return reconcile.Result{}, nil
	}
	if err := r.reconcileFinalizer(ctx, gc); err != nil {
		return reconcile.Result{}, err
	}
	if !gc.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}

	found, err := r.lookupParams(ctx, gc)
	if err != nil {
		return reconcile.Result{}, err
	}
	crds := &metav1.PartialObjectMetadataList{}
	crds.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinitionList"))
	if err := r.Client.List(ctx, crds); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing CRDs: %w", err)
	}
	var gwCRDs []metav1.PartialObjectMetadata
	for _, crd := range crds.Items {
		if isGatewayAPICRD(crd.Name) {
			gwCRDs = append(gwCRDs, crd)
		}
	}

	var before *metav1.Condition
	var accepted metav1.Condition
	_, err = r.Status.Update(ctx, req.NamespacedName, gc, func() {
		accepted = withUnserved(acceptedCondition(gc, found), r.Unserved)
		if c := meta.FindStatusCondition(gc.Status.Conditions, accepted.Type); c != nil {
			before = c.DeepCopy()
		}
		meta.SetStatusCondition(&gc.Status.Conditions, accepted)
		meta.SetStatusCondition(&gc.Status.Conditions, supportedVersionCondition(gwCRDs, gc.Generation))
		gc.Status.SupportedFeatures = features.Supported()
	})
	if err != nil {
		return reconcile.Result{}, err
	}
	recordTransition(r.Recorder, gc, before, accepted)
	return reconcile.Result{}, nil
}

func (r *GatewayClassReconciler) lookupParams(ctx context.Context, gc *gwapiv1.GatewayClass) (paramsLookup, error) {
	ref := gc.Spec.ParametersRef
	if ref == nil || string(ref.Group) != flotillav1alpha1.GroupVersion.Group || string(ref.Kind) != flotillav1alpha1.KindFleetClass {
		return paramsLookup{}, nil
	}
	fc := &flotillav1alpha1.FleetClass{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: ref.Name}, fc); err != nil {
		if apierrors.IsNotFound(err) {
			return paramsLookup{}, nil
		}
		return paramsLookup{}, fmt.Errorf("reading FleetClass %q: %w", ref.Name, err)
	}
	return paramsLookup{fleetClass: fc}, nil
}

// reconcileFinalizer holds gateway-exists-finalizer while at least one Gateway names the class, so
// the class cannot disappear from under running fleets, and lets it go with the last Gateway.
func (r *GatewayClassReconciler) reconcileFinalizer(ctx context.Context, gc *gwapiv1.GatewayClass) error {
	gws := &gwapiv1.GatewayList{}
	if err := r.Client.List(ctx, gws, client.MatchingFields{IndexGatewayClassName: gc.Name}); err != nil {
		return fmt.Errorf("listing Gateways of class %q: %w", gc.Name, err)
	}
	inUse := len(gws.Items) > 0
	if inUse == controllerutil.ContainsFinalizer(gc, gwapiv1.GatewayClassFinalizerGatewaysExist) {
		return nil
	}
	patch := client.MergeFromWithOptions(gc.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if inUse {
		controllerutil.AddFinalizer(gc, gwapiv1.GatewayClassFinalizerGatewaysExist)
	} else {
		controllerutil.RemoveFinalizer(gc, gwapiv1.GatewayClassFinalizerGatewaysExist)
	}
	if err := r.Client.Patch(ctx, gc, patch); err != nil {
		return fmt.Errorf("updating finalizer of GatewayClass %q: %w", gc.Name, err)
	}
	return nil
}

// SetupWithManager registers the controller and its watches.
func (r *GatewayClassReconciler) SetupWithManager(mgr ctrl.Manager) error {
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.(*gwapiv1.GatewayClass).Spec.ControllerName == ControllerName
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("gatewayclass").
		For(&gwapiv1.GatewayClass{}, builder.WithPredicates(ours)).
		Watches(&flotillav1alpha1.FleetClass{}, handler.EnqueueRequestsFromMapFunc(r.classesForFleetClass)).
		// Only a Gateway appearing, going or changing its spec can change the class finalizer; not
		// every Gateway status write.
		Watches(&gwapiv1.Gateway{}, gatewayClassesOfGateway,
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesMetadata(&apiextensionsv1.CustomResourceDefinition{}, handler.EnqueueRequestsFromMapFunc(r.allClasses),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool { return isGatewayAPICRD(o.GetName()) }))).
		Complete(r)
}

func (r *GatewayClassReconciler) classesForFleetClass(ctx context.Context, o client.Object) []reconcile.Request {
	list := &gwapiv1.GatewayClassList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{IndexGatewayClassFleetClass: o.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing GatewayClasses of a FleetClass", "fleetClass", o.GetName())
		return nil
	}
	return classRequests(list.Items)
}

func (r *GatewayClassReconciler) allClasses(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &gwapiv1.GatewayClassList{}
	if err := r.Client.List(ctx, list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing GatewayClasses")
		return nil
	}
	return classRequests(list.Items)
}

func classRequests(classes []gwapiv1.GatewayClass) []reconcile.Request {
	var reqs []reconcile.Request
	for _, gc := range classes {
		if gc.Spec.ControllerName == ControllerName {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: gc.Name}})
		}
	}
	return reqs
}

// gatewayClassesOfGateway maps a Gateway (created, changed or deleted) to its class, whose finalizer
// may change; on an update, to the class it left as well.
var gatewayClassesOfGateway = handler.Funcs{
	CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		q.Add(classRequest(e.Object))
	},
	UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		q.Add(classRequest(e.ObjectOld))
		q.Add(classRequest(e.ObjectNew))
	},
	DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		q.Add(classRequest(e.Object))
	},
}

func classRequest(o client.Object) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Name: string(o.(*gwapiv1.Gateway).Spec.GatewayClassName)}}
}
