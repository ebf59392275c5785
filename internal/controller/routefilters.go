package controller

import (
	"context"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
)

// Indexes of RouteFilters and of the routes that name them.
const (
	// IndexRouteFilterRef indexes HTTPRoutes and GRPCRoutes by the RouteFilters their rules name:
	// "<ns>/<name>".
	IndexRouteFilterRef = "route.routeFilters"
	// IndexRouteFilterSecret indexes RouteFilters by their basic-auth Secret: "<ns>/<name>".
	IndexRouteFilterSecret = "routefilter.secret"
	// IndexRouteFilterService indexes RouteFilters by their authorization Service: "<ns>/<name>".
	IndexRouteFilterService = "routefilter.service"
)

// +kubebuilder:rbac:groups=gateway.flotilla.dev,resources=routefilters,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.flotilla.dev,resources=routefilters/status,verbs=get;update

// routeFilterRefs are the "<ns>/<name>" of the RouteFilters a route's rules name.
func routeFilterRefs(o client.Object) []string {
	var fs [][]gwapiv1.HTTPRouteFilter
	switch rt := o.(type) {
	case *gwapiv1.HTTPRoute:
		for i := range rt.Spec.Rules {
			fs = append(fs, rt.Spec.Rules[i].Filters)
		}
	case *gwapiv1.GRPCRoute:
		for i := range rt.Spec.Rules {
			for _, f := range rt.Spec.Rules[i].Filters {
				if f.ExtensionRef != nil {
					fs = append(fs, []gwapiv1.HTTPRouteFilter{{Type: gwapiv1.HTTPRouteFilterExtensionRef, ExtensionRef: f.ExtensionRef}})
				}
			}
		}
	}
	keys := sets.New[string]()
	for _, rule := range fs {
		for _, f := range rule {
			if r := f.ExtensionRef; r != nil && string(r.Group) == flotillav1alpha1.GroupVersion.Group && string(r.Kind) == flotillav1alpha1.RouteFilterKind {
				keys.Insert(o.GetNamespace() + "/" + string(r.Name))
			}
		}
	}
	return sets.List(keys)
}

// filterSecrets and filterServices are "ns/name" of the Secrets and Services a RouteFilter's
// spec names (basic auth's htpasswd Secret; the authorization service and the error pages'
// Service), ns being the filter's namespace: a RouteFilter's own, or an Ingress's for the filter
// its annotations make.
func filterSecrets(ns string, spec *flotillav1alpha1.RouteFilterSpec) []string {
	if spec == nil || spec.BasicAuth == nil {
		return nil
	}
	ref := spec.BasicAuth.SecretRef
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	return []string{ns + "/" + string(ref.Name)}
}

func filterServices(ns string, spec *flotillav1alpha1.RouteFilterSpec) []string {
	if spec == nil {
		return nil
	}
	var keys []string
	if ea := spec.ExternalAuth; ea != nil {
		if k := gatewayapi.ServiceKey(ns, ea.BackendRef); k != "" {
			keys = append(keys, k)
		}
	}
	if ep := spec.ErrorPages; ep != nil {
		if k := gatewayapi.ServiceKey(ns, ep.BackendRef); k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// setupRouteFilterIndexes registers the RouteFilter indexes.
func setupRouteFilterIndexes(ctx context.Context, indexer client.FieldIndexer, served func(string) bool) error {
	for _, rk := range routeKinds {
		if (rk.kind != "HTTPRoute" && rk.kind != "GRPCRoute") || !served(rk.kind) {
			continue
		}
		if err := indexer.IndexField(ctx, rk.newObj(), IndexRouteFilterRef, routeFilterRefs); err != nil {
			return err
		}
	}
	if err := indexer.IndexField(ctx, &flotillav1alpha1.RouteFilter{}, IndexRouteFilterSecret, func(o client.Object) []string {
		rf := o.(*flotillav1alpha1.RouteFilter)
		return filterSecrets(rf.Namespace, &rf.Spec)
	}); err != nil {
		return err
	}
	return indexer.IndexField(ctx, &flotillav1alpha1.RouteFilter{}, IndexRouteFilterService, func(o client.Object) []string {
		rf := o.(*flotillav1alpha1.RouteFilter)
		return filterServices(rf.Namespace, &rf.Spec)
	})
}

// readRouteFilters adds the RouteFilters the routes name to in, and their Secrets and Services
// to what resolve reads.
func (f *FleetInputs) readRouteFilters(ctx context.Context, in *gatewayapi.Input, keys, services, secrets sets.Set[string]) error {
	for _, key := range sets.List(keys) {
		ns, name, _ := strings.Cut(key, "/")
		rf := &flotillav1alpha1.RouteFilter{}
		if err := f.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, rf); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return err
		}
		in.RouteFilters = append(in.RouteFilters, rf)
		secrets.Insert(filterSecrets(rf.Namespace, &rf.Spec)...)
		services.Insert(filterServices(rf.Namespace, &rf.Spec)...)
	}
	return nil
}

// watchRouteFilters maps RouteFilters, and the Secrets and Services they name, to the Gateways
// of the routes that use them.
func (f *FleetInputs) watchRouteFilters(b *builder.Builder) *builder.Builder {
	return b.Watches(&flotillav1alpha1.RouteFilter{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		return f.gatewaysOfRouteFilter(ctx, o.GetNamespace()+"/"+o.GetName())
	}), builder.WithPredicates(predicate.GenerationChangedPredicate{}))
}

// gatewaysOfRouteFilter maps a RouteFilter ("ns/name") to the Gateways of the routes naming it.
func (f *FleetInputs) gatewaysOfRouteFilter(ctx context.Context, key string) []reconcile.Request {
	keys := sets.New[string]()
	for _, rk := range routeKinds {
		if (rk.kind != "HTTPRoute" && rk.kind != "GRPCRoute") || !f.served(rk.kind) {
			continue
		}
		list := rk.newList()
		if err := f.Client.List(ctx, list, client.MatchingFields{IndexRouteFilterRef: key}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Listing routes of a RouteFilter", "routeFilter", key)
			continue
		}
		for _, o := range rk.items(list) {
			for _, ref := range rk.spec(o).ParentRefs {
				keys.Insert(gatewayapi.ParentKey(o.GetNamespace(), ref))
			}
		}
	}
	return f.gatewaysOfParents(ctx, keys)
}

// gatewaysOfRouteFiltersUsing maps a Secret or Service ("ns/name") to the Gateways of the routes
// whose RouteFilters name it.
func (f *FleetInputs) gatewaysOfRouteFiltersUsing(ctx context.Context, index, key string) []reconcile.Request {
	list := &flotillav1alpha1.RouteFilterList{}
	if err := f.Client.List(ctx, list, client.MatchingFields{index: key}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing RouteFilters", "index", index, "key", key)
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		reqs = append(reqs, f.gatewaysOfRouteFilter(ctx, list.Items[i].Namespace+"/"+list.Items[i].Name)...)
	}
	return reqs
}

// RouteFilterReconciler writes each RouteFilter's Accepted and ResolvedRefs conditions from the
// same check resolution makes of it for every rule that names it (gatewayapi.CheckRouteFilter),
// with an Event when a condition turns False or True again. It runs on the leader.
type RouteFilterReconciler struct {
	Client   client.Client
	Status   *StatusWriter
	Recorder recorder.EventRecorder
	// Unserved are the kinds whose CRDs were missing at start-up (ReferenceGrant among them:
	// then no cross-namespace reference is granted).
	Unserved []string
}

// Reconcile checks one RouteFilter.
func (r *RouteFilterReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	rf := &flotillav1alpha1.RouteFilter{}
	if err := r.Client.Get(ctx, req.NamespacedName, rf); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	in, err := r.input(ctx, rf)
	if err != nil {
		return reconcile.Result{}, err
	}
	check := gatewayapi.CheckRouteFilter(in, rf)
	accepted := metav1.Condition{Type: flotillav1alpha1.ConditionAccepted, Status: metav1.ConditionTrue, Reason: "Accepted",
		Message: "The filter can be served", ObservedGeneration: rf.Generation}
	if check.AcceptedReason != "" {
		accepted.Status, accepted.Reason, accepted.Message = metav1.ConditionFalse, check.AcceptedReason, check.AcceptedMsg
	}
	resolvedRefs := metav1.Condition{Type: string(gwapiv1.RouteConditionResolvedRefs), Status: metav1.ConditionTrue, Reason: "ResolvedRefs",
		Message: "References resolved", ObservedGeneration: rf.Generation}
	if check.RefsReason != "" {
		resolvedRefs.Status, resolvedRefs.Reason, resolvedRefs.Message = metav1.ConditionFalse, check.RefsReason, strings.Join(check.RefsMsg, "; ")
	}
	var before [2]*metav1.Condition
	wrote, err := r.Status.Update(ctx, req.NamespacedName, rf, func() {
		for i, c := range []metav1.Condition{accepted, resolvedRefs} {
			if old := meta.FindStatusCondition(rf.Status.Conditions, c.Type); old != nil {
				before[i] = old.DeepCopy()
			}
			meta.SetStatusCondition(&rf.Status.Conditions, c)
		}
	})
	if err != nil || !wrote {
		return reconcile.Result{}, err
	}
	recordTransition(r.Recorder, rf, before[0], accepted)
	recordTransition(r.Recorder, rf, before[1], resolvedRefs)
	return reconcile.Result{}, nil
}

// input is what CheckRouteFilter reads: the filter's Secret, its Service with its
// EndpointSlices, and the ReferenceGrants.
func (r *RouteFilterReconciler) input(ctx context.Context, rf *flotillav1alpha1.RouteFilter) (gatewayapi.Input, error) {
	var in gatewayapi.Input
	for _, key := range filterSecrets(rf.Namespace, &rf.Spec) {
		ns, name, _ := strings.Cut(key, "/")
		s := &corev1.Secret{}
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err == nil {
			in.Secrets = append(in.Secrets, gatewayapi.SecretInfoFrom(s))
		} else if !apierrors.IsNotFound(err) {
			return in, err
		}
	}
	for _, key := range filterServices(rf.Namespace, &rf.Spec) {
		ns, name, _ := strings.Cut(key, "/")
		svc := &corev1.Service{}
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, svc); err == nil {
			in.Services = append(in.Services, svc)
			slices := &discoveryv1.EndpointSliceList{}
			if err := r.Client.List(ctx, slices, client.InNamespace(ns), client.MatchingLabels{discoveryv1.LabelServiceName: name}); err != nil {
				return in, err
			}
			for i := range slices.Items {
				in.EndpointSlices = append(in.EndpointSlices, &slices.Items[i])
			}
		} else if !apierrors.IsNotFound(err) {
			return in, err
		}
	}
	if slices.Contains(r.Unserved, "ReferenceGrant") {
		return in, nil
	}
	grants := &gwapiv1.ReferenceGrantList{}
	if err := r.Client.List(ctx, grants); err != nil {
		return in, err
	}
	for i := range grants.Items {
		in.ReferenceGrants = append(in.ReferenceGrants, &grants.Items[i])
	}
	return in, nil
}

// SetupWithManager watches RouteFilters (their spec), and the Secrets, Services and
// ReferenceGrants they may name.
func (r *RouteFilterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	byIndex := func(index string) handler.MapFunc {
		return func(ctx context.Context, o client.Object) []reconcile.Request {
			list := &flotillav1alpha1.RouteFilterList{}
			if err := r.Client.List(ctx, list, client.MatchingFields{index: o.GetNamespace() + "/" + o.GetName()}); err != nil {
				ctrl.LoggerFrom(ctx).Error(err, "Listing RouteFilters", "index", index)
				return nil
			}
			reqs := make([]reconcile.Request, 0, len(list.Items))
			for i := range list.Items {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
			}
			return reqs
		}
	}
	all := func(ctx context.Context, _ client.Object) []reconcile.Request {
		list := &flotillav1alpha1.RouteFilterList{}
		if err := r.Client.List(ctx, list); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
		return reqs
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("routefilter").
		For(&flotillav1alpha1.RouteFilter{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(byIndex(IndexRouteFilterSecret))).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(byIndex(IndexRouteFilterService)))
	if !slices.Contains(r.Unserved, "ReferenceGrant") {
		b = b.Watches(&gwapiv1.ReferenceGrant{}, handler.EnqueueRequestsFromMapFunc(all))
	}
	return b.Complete(r)
}
