package controller

import (
	"context"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"k8s.io/klog/v2"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	infv1 "sigs.k8s.io/gateway-api-inference-extension/api/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
)

// InferencePool indexes.
const (
	// IndexRouteInferencePool indexes HTTPRoutes by the InferencePools their backendRefs name:
	// "<ns>/<name>".
	IndexRouteInferencePool = "route.inferencePools"
	// IndexPoolPicker indexes InferencePools by their Endpoint Picker Service: "<ns>/<name>".
	IndexPoolPicker = "inferencepool.endpointPicker"
	// IndexPoolParent indexes InferencePools by the Gateways of our status.parents entries:
	// "<ns>/<name>", so an entry is removed once no route of the Gateway uses the pool.
	IndexPoolParent = "inferencepool.parents"
)

// +kubebuilder:rbac:groups=inference.networking.k8s.io,resources=inferencepools,verbs=get;list;watch
// +kubebuilder:rbac:groups=inference.networking.k8s.io,resources=inferencepools/status,verbs=get;update
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch

func setupInferenceIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &gwapiv1.HTTPRoute{}, IndexRouteInferencePool, func(o client.Object) []string {
		return routePools(o.(*gwapiv1.HTTPRoute))
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &infv1.InferencePool{}, IndexPoolPicker, func(o client.Object) []string {
		ref := o.(*infv1.InferencePool).Spec.EndpointPickerRef
		if ref == nil || (ref.Group != nil && *ref.Group != "") || (ref.Kind != "" && ref.Kind != "Service") {
			return nil
		}
		return []string{o.GetNamespace() + "/" + string(ref.Name)}
	}); err != nil {
		return err
	}
	return indexer.IndexField(ctx, &infv1.InferencePool{}, IndexPoolParent, func(o client.Object) []string {
		var out []string
		for _, p := range o.(*infv1.InferencePool).Status.Parents {
			if p.ControllerName == infv1.ControllerName(ControllerName) {
				out = append(out, gatewayapi.PoolParentKey(o.GetNamespace(), p.ParentRef))
			}
		}
		return out
	})
}

// routePools are the InferencePools an HTTPRoute's backendRefs name, as "<ns>/<name>".
func routePools(hr *gwapiv1.HTTPRoute) []string {
	var keys []string
	for _, r := range hr.Spec.Rules {
		for _, b := range r.BackendRefs {
			if k := gatewayapi.PoolKey(hr.Namespace, b.BackendObjectReference); k != "" {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// readPools adds to the input the InferencePools the Gateway's HTTPRoutes name and the Pods they
// select, and adds their Endpoint Picker Services to services (read with the routes' own). It
// returns the pools whose status may need our entry for the Gateway: the named ones, and those
// that carry an entry of ours.
func (f *FleetInputs) readPools(ctx context.Context, gw *gwapiv1.Gateway, in *gatewayapi.Input, services sets.Set[string]) ([]*infv1.InferencePool, error) {
	if !f.served("InferencePool") {
		return nil, nil
	}
	keys := sets.New[string]()
	for _, hr := range in.HTTPRoutes {
		keys.Insert(routePools(hr)...)
	}
	seen := sets.New[types.NamespacedName]()
	var touched []*infv1.InferencePool
	for _, k := range sets.List(keys) {
		ns, name, _ := strings.Cut(k, "/")
		pool := &infv1.InferencePool{}
		if err := f.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, pool); err != nil {
			if client.IgnoreNotFound(err) == nil {
				continue // resolve reports the missing pool
			}
			return nil, err
		}
		seen.Insert(client.ObjectKeyFromObject(pool))
		touched = append(touched, pool)
		in.InferencePools = append(in.InferencePools, pool)
		if ref := pool.Spec.EndpointPickerRef; ref != nil {
			services.Insert(ns + "/" + string(ref.Name))
		}
		if len(pool.Spec.Selector.MatchLabels) == 0 {
			continue
		}
		sel := client.MatchingLabels{}
		for k, v := range pool.Spec.Selector.MatchLabels {
			sel[string(k)] = string(v)
		}
		pods := &corev1.PodList{}
		if err := f.Client.List(ctx, pods, client.InNamespace(ns), sel); err != nil {
			return nil, err
		}
		for i := range pods.Items {
			in.Pods = append(in.Pods, &pods.Items[i])
		}
	}
	mine := &infv1.InferencePoolList{}
	if err := f.Client.List(ctx, mine, client.MatchingFields{IndexPoolParent: provisioner.FleetKey(gw)}); err != nil {
		return nil, err
	}
	for i := range mine.Items {
		if p := &mine.Items[i]; !seen.Has(client.ObjectKeyFromObject(p)) {
			touched = append(touched, p)
		}
	}
	return touched, nil
}

// watchPools maps InferencePools and the Pods they select to Gateways (Endpoint Picker Services
// are mapped with the other Services, see gatewaysOfServiceKey).
func (f *FleetInputs) watchPools(b *builder.Builder) *builder.Builder {
	if !f.served("InferencePool") {
		return b
	}
	return b.Watches(&infv1.InferencePool{}, handler.EnqueueRequestsFromMapFunc(f.gatewaysOfPool), builder.WithPredicates(specChanged)).
		Watches(&corev1.Pod{}, podHandler{f})
}

// gatewaysOfPool maps a pool to the Gateways of the HTTPRoutes that name it and of our entries.
func (f *FleetInputs) gatewaysOfPool(ctx context.Context, o client.Object) []reconcile.Request {
	key := o.GetNamespace() + "/" + o.GetName()
	parents := sets.New[string]()
	routes := &gwapiv1.HTTPRouteList{}
	if err := f.Client.List(ctx, routes, client.MatchingFields{IndexRouteInferencePool: key}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing HTTPRoutes of an InferencePool", "pool", key)
	}
	for _, hr := range routes.Items {
		for _, ref := range hr.Spec.ParentRefs {
			parents.Insert(gatewayapi.ParentKey(hr.Namespace, ref))
		}
	}
	if pool, ok := o.(*infv1.InferencePool); ok {
		for _, p := range pool.Status.Parents {
			if p.ControllerName == infv1.ControllerName(ControllerName) {
				parents.Insert("Gateway/" + gatewayapi.PoolParentKey(pool.Namespace, p.ParentRef))
			}
		}
	}
	return f.gatewaysOfParents(ctx, parents)
}

// gatewaysOfPicker maps an Endpoint Picker Service to the Gateways of the pools that name it.
func (f *FleetInputs) gatewaysOfPicker(ctx context.Context, svcKey string) []reconcile.Request {
	if !f.served("InferencePool") {
		return nil
	}
	pools := &infv1.InferencePoolList{}
	if err := f.Client.List(ctx, pools, client.MatchingFields{IndexPoolPicker: svcKey}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing InferencePools of an Endpoint Picker", "service", svcKey)
		return nil
	}
	var reqs []reconcile.Request
	for i := range pools.Items {
		reqs = append(reqs, f.gatewaysOfPool(ctx, &pools.Items[i])...)
	}
	return reqs
}

// gatewaysOfPod maps a Pod to the Gateways of the pools of its namespace that select it.
func (f *FleetInputs) gatewaysOfPod(ctx context.Context, pod *corev1.Pod, reqs map[reconcile.Request]bool) {
	pools := &infv1.InferencePoolList{}
	if err := f.Client.List(ctx, pools, client.InNamespace(pod.Namespace)); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing InferencePools")
		return
	}
	for i := range pools.Items {
		if p := &pools.Items[i]; gatewayapi.PoolSelects(p, pod) {
			for _, r := range f.gatewaysOfPool(ctx, p) {
				reqs[r] = true
			}
		}
	}
}

// podHandler enqueues the Gateways of a Pod's pools when what resolution reads of it changes:
// its labels (the old and the new ones: a Pod may leave a pool), IP, readiness or deletion.
type podHandler struct{ f *FleetInputs }

func (h podHandler) Create(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, q, e.Object)
}

func (h podHandler) Update(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	old, ok1 := e.ObjectOld.(*corev1.Pod)
	cur, ok2 := e.ObjectNew.(*corev1.Pod)
	if ok1 && ok2 && !podChanged(old, cur) {
		return
	}
	h.enqueue(ctx, q, e.ObjectOld, e.ObjectNew)
}

func (h podHandler) Delete(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, q, e.Object)
}

func (h podHandler) Generic(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, q, e.Object)
}

func (h podHandler) enqueue(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], objs ...client.Object) {
	reqs := map[reconcile.Request]bool{}
	for _, o := range objs {
		if pod, ok := o.(*corev1.Pod); ok {
			h.f.gatewaysOfPod(ctx, pod, reqs)
		}
	}
	for r := range reqs {
		q.Add(r)
	}
}

// podChanged says whether a Pod update changes what resolution reads.
func podChanged(old, cur *corev1.Pod) bool {
	return gatewayapi.PodReady(old) != gatewayapi.PodReady(cur) || old.Status.PodIP != cur.Status.PodIP ||
		!maps.Equal(old.Labels, cur.Labels) || (old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil)
}

// TransformPod keeps of a Pod only what InferencePool resolution reads (name, namespace, labels,
// deletion, podIP, the Ready condition), so that caching every Pod of the cluster stays cheap.
func TransformPod(o any) (any, error) {
	pod, ok := o.(*corev1.Pod)
	if !ok {
		return o, nil
	}
	out := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID,
		ResourceVersion: pod.ResourceVersion, Labels: pod.Labels, DeletionTimestamp: pod.DeletionTimestamp}}
	out.Status.PodIP = pod.Status.PodIP
	if i := slices.IndexFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodReady }); i >= 0 {
		out.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: pod.Status.Conditions[i].Status}}
	}
	return out, nil
}

// writePoolStatuses writes, on every InferencePool that concerns the Gateway, our parent entry
// for it (or removes it once no route of the Gateway uses the pool); other entries are kept.
func (r *GatewayReconciler) writePoolStatuses(ctx context.Context, gw *gwapiv1.Gateway, res *resolved) error {
	decided := map[types.NamespacedName][]metav1.Condition{}
	for _, ps := range res.result.InferencePools {
		decided[types.NamespacedName{Namespace: ps.Namespace, Name: ps.Name}] = ps.Conditions
	}
	me := provisioner.FleetKey(gw)
	group := infv1.Group(gwapiv1.GroupName)
	for _, p := range res.pools {
		key := client.ObjectKeyFromObject(p)
		want, used := decided[key]
		obj := &infv1.InferencePool{}
		var wantEntries []infv1.ParentStatus
		if used {
			wantEntries = []infv1.ParentStatus{{
				// The namespace is always written: conformance matches parents on it.
				ParentRef:      infv1.ParentReference{Group: &group, Kind: "Gateway", Namespace: infv1.Namespace(gw.Namespace), Name: infv1.ObjectName(gw.Name)},
				ControllerName: infv1.ControllerName(ControllerName),
				Conditions:     want,
			}}
		}
		list := poolParents(p.Namespace, me)
		var before map[string][]metav1.Condition
		var full int
		wrote, err := r.Status.Update(ctx, key, obj, func() {
			obj.Status.Parents, before, full = list.merge(obj.Status.Parents, wantEntries)
		})
		if err != nil { // a pool deleted meanwhile is not one (StatusWriter.Update)
			return err
		}
		if full > 0 {
			ctrl.LoggerFrom(ctx).Info("InferencePool parent list is full; this Gateway's entry is left out", "pool", klog.KObj(obj))
		}
		// A team acts on its pool's Events: a picker that cannot be resolved, no accepted route.
		if wrote || full > 0 {
			list.recordEntries(r.Recorder, obj, before, obj.Status.Parents, full)
		}
	}
	return nil
}

// poolParents is a pool's status.parents as a shared list: our entry is the one naming this
// Gateway (me: "<ns>/<name>").
func poolParents(ns, me string) sharedList[infv1.ParentStatus] {
	return sharedList[infv1.ParentStatus]{
		ours: func(ps infv1.ParentStatus) bool {
			return ps.ControllerName == infv1.ControllerName(ControllerName) && gatewayapi.PoolParentKey(ns, ps.ParentRef) == me
		},
		id:         func(ps infv1.ParentStatus) string { return gatewayapi.PoolParentKey(ns, ps.ParentRef) },
		conditions: func(ps *infv1.ParentStatus) *[]metav1.Condition { return &ps.Conditions },
		max:        maxPoolParents,
	}
}
