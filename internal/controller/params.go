package controller

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// paramsObject is a Flotilla parameters kind: it validates itself and carries an Accepted condition.
type paramsObject interface {
	client.Object
	Validate() field.ErrorList
	StatusConditions() *[]metav1.Condition
}

// ParamsReconciler sets the Accepted condition of FleetClasses or FleetConfigs from the checks the API
// server cannot make (Validate), so an admin or team sees a mistake on the object itself.
type ParamsReconciler[T paramsObject] struct {
	Name     string
	New      func() T
	Status   *StatusWriter
	Recorder recorder.EventRecorder
}

// +kubebuilder:rbac:groups=gateway.flotilla.dev,resources=fleetclasses;fleetconfigs,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.flotilla.dev,resources=fleetclasses/status;fleetconfigs/status,verbs=get;update

// Reconcile validates one object and writes its Accepted condition when it changed.
func (r *ParamsReconciler[T]) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	obj := r.New()
	var before *metav1.Condition
	var after metav1.Condition
	wrote, err := r.Status.Update(ctx, req.NamespacedName, obj, func() {
		if c := meta.FindStatusCondition(*obj.StatusConditions(), flotillav1alpha1.ConditionAccepted); c != nil {
			before = c.DeepCopy()
		}
		after = flotillav1alpha1.AcceptedCondition(obj.Validate(), obj.GetGeneration())
		meta.SetStatusCondition(obj.StatusConditions(), after)
	})
	if err != nil || !wrote {
		return reconcile.Result{}, err
	}
	recordTransition(r.Recorder, obj, before, after)
	return reconcile.Result{}, nil
}

// SetupWithManager registers the controller; status-only updates do not trigger it.
func (r *ParamsReconciler[T]) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named(r.Name).
		For(r.New(), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}
