package gatewayapi

import (
	"cmp"
	"reflect"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	infv1 "sigs.k8s.io/gateway-api-inference-extension/api/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// ResolveFrom is Resolve, reusing what it can of prev, the Gateway's last resolution: when
// nothing but HTTPRoutes and EndpointSlices changed since, an HTTPRoute that did not change
// (same namespace, name, UID, resourceVersion and generation) is not converted again: its
// conversion, and the clusters it made, are taken from prev (their endpoints recomputed when the
// Service's EndpointSlices changed); and a virtual host whose routes are the same model routes
// as before is prev's, the same value, so that translation can reuse its translation
// (translate.TranslateFrom). The result is exactly Resolve's; the differential tests check it.
//
// Input objects are snapshots: an object that changes has a new resourceVersion (the API
// server's rule). Objects without one (built by hand) are never taken from prev.
func ResolveFrom(in Input, prev *Result) Result {
	return resolve(in, prev, true)
}

// resolveMemo is what a resolution lends the next one (see ResolveFrom).
type resolveMemo struct {
	// world identifies every input but the HTTPRoutes and the EndpointSlices; nil when some
	// object in it has no resourceVersion (nothing is then reused).
	world  []any
	routes map[objID]*routeMemo
	vhosts map[vhostKey]*vhostMemo
	// patch is the state the patch path reads (nil: the resolution cannot hand one on).
	patch *patchState
}

// objID identifies one version of an object.
type objID struct {
	ns, name, rv string
	uid          types.UID
	gen          int64
}

func idOf(m *metav1.ObjectMeta) (objID, bool) {
	return objID{m.Namespace, m.Name, m.ResourceVersion, m.UID, m.Generation}, m.ResourceVersion != ""
}

// routeMemo is an HTTPRoute's conversion: the route before attachment, and the clusters its
// backendRefs resolved to.
type routeMemo struct {
	rt       route
	clusters []memoCluster
	services []objKey // the Services it marked used (with BackendTLSPolicies only)
}

// memoCluster is a cluster as a conversion left it, with where its endpoints come from and the
// EndpointSlices they were computed from.
type memoCluster struct {
	c    model.Cluster
	src  endpointSource
	seen endpointSlices
}

// vhostKey names a virtual host of a listener.
type vhostKey struct{ listener, domain string }

// vhostMemo is a virtual host and the entries it was made of, in order.
type vhostMemo struct {
	entries []*entry
	vh      model.VirtualHost
}

// worldOf identifies every field of in but HTTPRoutes and EndpointSlices: objects by objID,
// other values as they are (compared with reflect.DeepEqual). Walking the struct by reflection
// means a field added to Input is part of it without anyone having to remember.
func worldOf(in *Input) []any {
	v := reflect.ValueOf(in).Elem()
	t := v.Type()
	out := make([]any, 0, t.NumField())
	for i := range t.NumField() {
		if !inWorld(t.Field(i).Name) {
			continue
		}
		one := worldOfField(v.Field(i))
		if one == nil {
			return nil
		}
		out = append(out, one[0])
	}
	return out
}

// inWorld says whether the Input field of a name is part of the world.
func inWorld(field string) bool { return field != "HTTPRoutes" && field != "EndpointSlices" }

// worldOfField is one field's part of worldOf, as a slice of one; nil when some object in it
// has no resourceVersion.
func worldOfField(f reflect.Value) []any {
	switch objs := f.Interface().(type) { // the large lists, without reflection per object
	case []*corev1.Service:
		if ids, ok := idsOf(objs); ok {
			return []any{ids}
		}
		return nil
	case []*corev1.Namespace:
		if ids, ok := idsOf(objs); ok {
			return []any{ids}
		}
		return nil
	}
	if f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Pointer {
		ids := make([]objID, f.Len())
		for j := range f.Len() {
			o, ok := f.Index(j).Interface().(metav1.Object)
			if !ok {
				ids = nil
				break
			}
			id, ok := idOfObject(o)
			if !ok {
				return nil
			}
			ids[j] = id
		}
		if ids != nil || f.Len() == 0 {
			return []any{ids}
		}
	}
	if o, ok := f.Interface().(metav1.Object); ok && f.Kind() == reflect.Pointer {
		if f.IsNil() {
			return []any{nil}
		}
		id, ok := idOfObject(o)
		if !ok {
			return nil
		}
		return []any{id}
	}
	return []any{f.Interface()}
}

// idsOf identifies each of objs; ok false when one has no resourceVersion.
func idsOf[T interface {
	*O
	metav1.Object
}, O any](objs []T) ([]objID, bool) {
	ids := make([]objID, len(objs))
	for i, o := range objs {
		id, ok := idOfObject(o)
		if !ok {
			return nil, false
		}
		ids[i] = id
	}
	return ids, true
}

func idOfObject(o metav1.Object) (objID, bool) {
	id := objID{o.GetNamespace(), o.GetName(), o.GetResourceVersion(), o.GetUID(), o.GetGeneration()}
	if id.rv == "" {
		return id, false
	}
	switch o.(type) {
	case *gwapiv1.Gateway, *gwapiv1.ListenerSet, *gwapiv1.BackendTLSPolicy, *infv1.InferencePool, *flotillav1alpha1.RouteFilter:
		// Flotilla writes their status, which resolution does not read: their version for it is
		// their generation (a status write would otherwise make the next resolution a full one).
		if id.gen > 0 {
			id.rv = ""
		}
	}
	return id, true
}

// worldFrom is worldOf(in), and prev's memo when in's world is prev's (compared without building
// it; nil otherwise).
func worldFrom(prev *Result, in *Input) ([]any, *resolveMemo) {
	if prev != nil && prev.memo != nil && prev.memo.world != nil && sameWorldAs(prev.memo.world, in) {
		return prev.memo.world, prev.memo
	}
	return worldOf(in), nil
}

// sameWorldAs says whether worldOf(in) would be w: the large lists compared in place.
func sameWorldAs(w []any, in *Input) bool {
	v := reflect.ValueOf(in).Elem()
	t := v.Type()
	k := 0
	for i := range t.NumField() {
		if !inWorld(t.Field(i).Name) {
			continue
		}
		if k >= len(w) {
			return false
		}
		var same bool
		switch objs := v.Field(i).Interface().(type) {
		case []*corev1.Service:
			same = sameIDs(w[k], len(objs), func(j int) *metav1.ObjectMeta { return &objs[j].ObjectMeta })
		case []*corev1.Namespace:
			same = sameIDs(w[k], len(objs), func(j int) *metav1.ObjectMeta { return &objs[j].ObjectMeta })
		default:
			one := worldOfField(v.Field(i))
			if one == nil {
				return false
			}
			same = sameWorld(w[k:k+1], one)
		}
		if !same {
			return false
		}
		k++
	}
	return k == len(w)
}

// sameIDs says whether the n objects meta gives are the versions w (a []objID) names, in any
// order (a list from the cache comes in any order).
func sameIDs(w any, n int, meta func(int) *metav1.ObjectMeta) bool {
	ids, ok := w.([]objID)
	if !ok || len(ids) != n {
		return false
	}
	j := 0
	for ; j < n; j++ { // in the world's order: compared in place
		if id, ok := idOf(meta(j)); !ok || id != ids[j] {
			break
		}
	}
	if j == n {
		return true
	}
	got := make([]objID, n)
	for j := range n {
		id, ok := idOf(meta(j))
		if !ok {
			return false
		}
		got[j] = id
	}
	return sameSet(got, ids)
}

// sameSet says whether two lists of identities hold the same ones, in any order (sorted copies
// compared: only when they are not in the same order).
func sameSet(a, b []objID) bool {
	return len(a) == len(b) && (slices.Equal(a, b) || slices.Equal(sortIDs(slices.Clone(a)), sortIDs(slices.Clone(b))))
}

// sortIDs sorts identities by namespace and name (then version): the world does not depend on
// the order its lists come in, as resolution does not.
func sortIDs(ids []objID) []objID {
	slices.SortFunc(ids, func(a, b objID) int {
		return cmp.Or(cmp.Compare(a.ns, b.ns), cmp.Compare(a.name, b.name), cmp.Compare(a.rv, b.rv), cmp.Compare(a.uid, b.uid), cmp.Compare(a.gen, b.gen))
	})
	return ids
}

// sameWorld compares two worldOf results: object identities as such, other values deeply.
func sameWorld(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, xok := a[i].([]objID)
		y, yok := b[i].([]objID)
		switch {
		case xok && yok:
			if !sameSet(x, y) {
				return false
			}
		case xok != yok:
			return false
		case !reflect.DeepEqual(a[i], b[i]):
			return false
		}
	}
	return true
}

// convertHTTPRoute is httpRoute, from the last resolution's conversion when the route and
// everything it read are the same; a conversion that read something the memo does not replay
// (a RouteFilter, an InferencePool, a BackendTLSPolicy) is not kept.
func (r *resolver) convertHTTPRoute(o *gwapiv1.HTTPRoute) *route {
	id, ok := idOf(&o.ObjectMeta)
	if !ok || r.next == nil {
		return r.httpRoute(o)
	}
	if m := r.prev.route(id); m != nil {
		rt := m.rt // the entries are read-only; what attachment sets is this copy's
		rt.meta, rt.parentRefs, rt.hostnames = detached(&o.ObjectMeta), o.Spec.ParentRefs, o.Spec.Hostnames
		rt.refMsg = slices.Clip(rt.refMsg)
		for i := range m.clusters {
			mc := &m.clusters[i]
			if k := (objKey{mc.src.ns, mc.src.svc}); mc.src.port != nil && !sameSlices(mc.seen, r.slices[k]) {
				// The Service's endpoints changed since: the memo (prev's, so copied) gets them.
				if m == r.prev.route(id) {
					m = &routeMemo{rt: m.rt, clusters: slices.Clone(m.clusters), services: m.services}
					mc = &m.clusters[i]
				}
				mc.c.Endpoints, mc.seen = r.endpoints(mc.src.ns, mc.src.svc, mc.src.port), r.slices[k]
			}
			if _, done := r.clusterIndex[mc.c.Name]; done {
				continue
			}
			r.addCluster(mc.c)
			if mc.src.port != nil {
				r.endpointsFrom(mc.c.Name, mc.src.ns, mc.src.svc, mc.src.port)
			}
		}
		for _, k := range m.services {
			r.usedServices[k] = true
		}
		r.next.routes[id] = m
		return &rt
	}
	r.recording, r.impure = true, false
	r.recClusters, r.recServices = r.recClusters[:0], r.recServices[:0]
	rt := r.httpRoute(o)
	rt.meta = detached(rt.meta)
	r.recording = false
	if r.impure {
		return rt
	}
	m := &routeMemo{rt: *rt, services: slices.Clone(r.recServices)}
	m.rt.refMsg = slices.Clip(m.rt.refMsg)
	for _, i := range r.recClusters {
		mc := memoCluster{c: r.clusters[i]}
		if i < len(r.epSources) {
			mc.src = r.epSources[i]
			mc.seen = r.slices[objKey{mc.src.ns, mc.src.svc}]
		}
		m.clusters = append(m.clusters, mc)
	}
	r.next.routes[id] = m
	return rt
}

// detached is a copy of an object's metadata: a route kept by a memo must not point into the
// object, which may be an element of a list read from the cache (without copying, see the
// controller's readOnly), and would keep the whole list alive.
func detached(m *metav1.ObjectMeta) *metav1.ObjectMeta {
	c := *m
	return &c
}

// route is the memo of an HTTPRoute version (nil for none).
func (m *resolveMemo) route(id objID) *routeMemo {
	if m == nil {
		return nil
	}
	return m.routes[id]
}

// noteCluster records, while a route is converted, a cluster its backendRefs resolved to; one
// with backend TLS makes the conversion one the memo does not keep (policies record what uses them).
func (r *resolver) noteCluster(i int) {
	if !r.recording {
		return
	}
	if r.clusters[i].TLS != nil {
		r.impure = true
	}
	r.recClusters = append(r.recClusters, i)
}

// sameSlices says whether two sets of a Service's EndpointSlices are the same versions.
func sameSlices(a, b endpointSlices) bool {
	x, y := a.all(), b.all()
	return slices.EqualFunc(x, y, func(p, q *discoveryv1.EndpointSlice) bool {
		if p == q {
			return true
		}
		i, ok := idOf(&p.ObjectMeta)
		j, _ := idOf(&q.ObjectMeta)
		return ok && i == j
	})
}

// virtualHostFrom is virtualHost, the last resolution's value when its entries are the same.
func (r *resolver) virtualHostFrom(l *listener, d string, groups []*hostGroup) model.VirtualHost {
	if r.next == nil {
		return r.virtualHost(d, groups)
	}
	key := vhostKey{l.source, d}
	seq := r.vhostEntries(groups)
	if m := r.prev.vhost(key); m != nil && slices.Equal(m.entries, seq) {
		r.next.vhosts[key] = m
		return m.vh
	}
	vh := model.VirtualHost{Name: d, Domains: []string{d}, Routes: make([]model.Route, len(seq))}
	for i, e := range seq {
		vh.Routes[i] = e.route
	}
	r.next.vhosts[key] = &vhostMemo{entries: slices.Clone(seq), vh: vh}
	return vh
}

func (m *resolveMemo) vhost(k vhostKey) *vhostMemo {
	if m == nil {
		return nil
	}
	return m.vhosts[k]
}
