package gatewayapi

import (
	"cmp"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// routes converts and attaches every route that names the Gateway or one of its ListenerSets, and
// returns their status sorted by kind, namespace and name.
func (r *resolver) routes() []RouteStatus {
	var ours []*route
	add := func(rt *route, ok bool) {
		if ok && r.attach(rt) {
			ours = append(ours, rt)
		}
	}
	for _, o := range sorted(r.in.HTTPRoutes) {
		add(r.lazy(o.Namespace, o.Spec.ParentRefs, func() *route { return r.httpRoute(o) }))
	}
	for _, o := range sorted(r.in.GRPCRoutes) {
		add(r.lazy(o.Namespace, o.Spec.ParentRefs, func() *route { return r.grpcRoute(o) }))
	}
	for _, o := range sorted(r.in.TLSRoutes) {
		add(r.lazy(o.Namespace, o.Spec.ParentRefs, func() *route { return r.tlsRoute(o) }))
	}
	for _, o := range sorted(r.in.TCPRoutes) {
		add(r.lazy(o.Namespace, o.Spec.ParentRefs, func() *route { return r.tcpRoute(o) }))
	}
	for _, o := range sorted(r.in.UDPRoutes) {
		add(r.lazy(o.Namespace, o.Spec.ParentRefs, func() *route { return r.udpRoute(o) }))
	}
	settleKindContests(r.listeners)
	out := make([]RouteStatus, 0, len(ours))
	for _, rt := range ours {
		out = append(out, r.status(rt))
	}
	slices.SortFunc(out, func(a, b RouteStatus) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// lazy converts a route only when one of its parentRefs names this Gateway or its ListenerSets.
func (r *resolver) lazy(ns string, refs []gwapiv1.ParentReference, conv func() *route) (*route, bool) {
	probe := &route{meta: &metav1.ObjectMeta{Namespace: ns}}
	for _, p := range refs {
		if _, _, ours := r.parentTarget(probe, p); ours {
			return conv(), true
		}
	}
	return nil, false
}

// sorted returns the objects oldest first (then by namespace/name): the order in which routes
// claim contested hostnames and matches.
func sorted[T any, P interface {
	*T
	metav1.Object
}](in []P) []P {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b P) int { return olderFirst(a, b) })
	return out
}
