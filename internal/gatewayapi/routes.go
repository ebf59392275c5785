package gatewayapi

import (
	"cmp"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// routes converts and attaches every route that names the Gateway or one of its ListenerSets, and
// returns their status sorted by kind, namespace and name.
func (r *resolver) routes() []RouteStatus {
	var ours []*route
	add := func(rt *route) {
		if r.attach(rt) {
			ours = append(ours, rt)
		}
	}
	hrs := ordered(r, r.in.HTTPRoutes, func(o *gwapiv1.HTTPRoute) (*metav1.ObjectMeta, []gwapiv1.ParentReference) {
		return &o.ObjectMeta, o.Spec.ParentRefs
	})
	grs := ordered(r, r.in.GRPCRoutes, func(o *gwapiv1.GRPCRoute) (*metav1.ObjectMeta, []gwapiv1.ParentReference) {
		return &o.ObjectMeta, o.Spec.ParentRefs
	})
	r.presize(hrs, grs)
	for _, o := range hrs {
		add(r.convertHTTPRoute(o))
	}
	for _, o := range grs {
		add(r.grpcRoute(o))
	}
	for _, o := range ordered(r, r.in.TLSRoutes, func(o *gwapiv1.TLSRoute) (*metav1.ObjectMeta, []gwapiv1.ParentReference) {
		return &o.ObjectMeta, o.Spec.ParentRefs
	}) {
		add(r.tlsRoute(o))
	}
	for _, o := range ordered(r, r.in.TCPRoutes, func(o *gwapiv1.TCPRoute) (*metav1.ObjectMeta, []gwapiv1.ParentReference) {
		return &o.ObjectMeta, o.Spec.ParentRefs
	}) {
		add(r.tcpRoute(o))
	}
	for _, o := range ordered(r, r.in.UDPRoutes, func(o *gwapiv1.UDPRoute) (*metav1.ObjectMeta, []gwapiv1.ParentReference) {
		return &o.ObjectMeta, o.Spec.ParentRefs
	}) {
		add(r.udpRoute(o))
	}
	var ingresses []*route
	if len(r.in.Ingresses) > 0 {
		ingresses = r.ingressRoutes()
		for _, rt := range ingresses {
			r.attachIngress(rt)
		}
		ours = append(ours, ingresses...)
	}
	rankByAge(ours)
	settleKindContests(r.listeners)
	out := make([]RouteStatus, 0, len(ours))
	for _, rt := range ours {
		if rt.kind != kindIngress {
			out = append(out, r.status(rt))
		}
	}
	r.ingressed, r.ours = ingresses, ours
	slices.SortFunc(out, func(a, b RouteStatus) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// presize sizes the cluster indexes for the backendRefs of the HTTP and gRPC routes, the bulk of
// a large fleet (at most one cluster each, and no more than there are Services).
func (r *resolver) presize(hrs []*gwapiv1.HTTPRoute, grs []*gwapiv1.GRPCRoute) {
	n := 0
	for _, o := range hrs {
		for i := range o.Spec.Rules {
			n += len(o.Spec.Rules[i].BackendRefs)
		}
	}
	for _, o := range grs {
		for i := range o.Spec.Rules {
			n += len(o.Spec.Rules[i].BackendRefs)
		}
	}
	n = min(n, len(r.in.Services))
	r.clusters = make([]model.Cluster, 0, n)
	r.clusterIndex, r.backends = make(map[string]int, n), make(map[backendKey]int, n)
}

// ordered returns the routes of in that one of their parentRefs names this Gateway or one of its
// ListenerSets for, oldest first (then by namespace/name): the order in which routes claim
// contested hostnames and matches. Only those routes are converted.
func ordered[P any](r *resolver, in []P, meta func(P) (*metav1.ObjectMeta, []gwapiv1.ParentReference)) []P {
	type keyed struct { // the sort key, copied out of the objects for locality
		sec      int64 // creation time (UnixNano would overflow for a zero time)
		nsec     int
		ns, name string
		o        P
	}
	ks := make([]keyed, 0, len(in))
	for _, o := range in {
		m, refs := meta(o)
		if slices.ContainsFunc(refs, func(p gwapiv1.ParentReference) bool { _, _, ours := r.parentTarget(m.Namespace, p); return ours }) {
			t := m.CreationTimestamp.Time
			ks = append(ks, keyed{t.Unix(), t.Nanosecond(), m.Namespace, m.Name, o})
		}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(a.sec, b.sec), cmp.Compare(a.nsec, b.nsec), cmp.Compare(a.ns, b.ns), cmp.Compare(a.name, b.name))
	})
	out := make([]P, len(ks))
	for i, k := range ks {
		out[i] = k.o
	}
	return out
}

// rankByAge sets the age of every route: its rank by creation time, then namespace/name, with
// equal ranks for routes of different kinds that share namespace and name.
func rankByAge(rts []*route) {
	byAge := slices.Clone(rts)
	slices.SortFunc(byAge, func(a, b *route) int { return olderFirstMeta(a.meta, b.meta) })
	for i, rt := range byAge {
		rt.age = i
		if i > 0 && olderFirstMeta(byAge[i-1].meta, rt.meta) == 0 {
			rt.age = byAge[i-1].age
		}
	}
}

// olderFirstMeta is olderFirst without the interface calls.
func olderFirstMeta(a, b *metav1.ObjectMeta) int {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}
