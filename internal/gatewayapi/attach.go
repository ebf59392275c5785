package gatewayapi

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// route is any route kind during resolution.
type route struct {
	kind       gwapiv1.Kind
	meta       *metav1.ObjectMeta
	parentRefs []gwapiv1.ParentReference
	hostnames  []gwapiv1.Hostname
	// invalid is the UnsupportedValue message of a route Flotilla cannot implement.
	invalid string
	// refReason/refMsg are the ResolvedRefs problem ("" when every reference resolved).
	refReason gwapiv1.RouteConditionReason
	refMsg    []string
	// entries are the model routes of an HTTPRoute or GRPCRoute, in rule and match order.
	entries []entry
	// backends are the merged backends of a TLS, TCP or UDP route; a TLSRoute's passthrough are
	// those of its Passthrough listeners (see kindPassthroughTLSRoute).
	backends, passthrough *model.Backends
	// protoKind, when set, is the kind whose protocol rules its backends follow instead of kind's.
	protoKind gwapiv1.Kind
	parents   []*parentState
	// age ranks the route among all routes by creation time, then namespace/name (equal for
	// routes of different kinds with the same namespace/name).
	age int
	// stamp marks the route as held by the virtual host being built.
	stamp int

	// backendKind, when set, is the kind whose protocol rules its backends follow (a RouteFilter's
	// authorization service: HTTPRoute or GRPCRoute); trustedRefs skips the ReferenceGrant check
	// of cross-namespace backends (a RouteFilter the Ingress front end made: the
	// IngressClassConfig decided).
	backendKind gwapiv1.Kind
	trustedRefs bool

	// Of an Ingress host (kind Ingress): the Ingress, the host, whether the route is the host's
	// HTTPS part, and the problems found while building the model.
	ingress     *IngressRoute
	ingressHost *IngressHost
	secure      bool
	notes       []string
	// canaries are the canary Ingresses whose Services the route's paths use or would use, with
	// their problems.
	canaries map[*metav1.ObjectMeta]*canaryUse
}

func (rt *route) id() string { return rt.meta.Namespace + "/" + rt.meta.Name }

// refFailed records a backend reference problem; the first reason is the one reported.
func (rt *route) refFailed(reason gwapiv1.RouteConditionReason, msg string) {
	if rt.refReason == "" {
		rt.refReason = reason
	}
	rt.refMsg = append(rt.refMsg, msg)
}

// attachment is a route attached to a listener, with the hostnames it serves there.
type attachment struct {
	route     *route
	l         *listener
	hostnames []string // intersected with the listener's; "" for "any"
	rejected  bool     // lost the listener's hostnames to an older route of the other kind
}

// parentTarget returns the listeners a parentRef can select when it names this Gateway or one of
// its ListenerSets; ours is false when the parentRef names something else.
func (r *resolver) parentTarget(routeNS string, p gwapiv1.ParentReference) (ls []*listener, set *listenerSet, ours bool) {
	if p.Group != nil && *p.Group != gwapiv1.GroupName {
		return nil, nil, false
	}
	kind := kindGateway
	if p.Kind != nil {
		kind = *p.Kind
	}
	ns := refNamespace(routeNS, p.Namespace) // as ParentKey names it, without building the key
	switch kind {
	case kindGateway:
		if ns != r.gw.Namespace || string(p.Name) != r.gw.Name {
			return nil, nil, false
		}
		return r.listeners[:len(r.gw.Spec.Listeners)], nil, true
	case kindListenerSet:
		for _, s := range r.sets {
			if s.obj.Namespace == ns && s.obj.Name == string(p.Name) {
				return s.listeners, s, true
			}
		}
	}
	return nil, nil, false
}

// parentState is the outcome of one parentRef that names this Gateway or its ListenerSets.
type parentState struct {
	ref    gwapiv1.ParentReference
	reason gwapiv1.RouteConditionReason
	msg    string
	atts   []*attachment
}

// attach applies every parentRef of rt that names this Gateway or its ListenerSets, attaching
// the route to the listeners it selects; ours is false when no parentRef names them. Status is
// written later (status), once contests between routes are settled.
func (r *resolver) attach(rt *route) (ours bool) {
	for i, p := range rt.parentRefs {
		if slices.ContainsFunc(rt.parentRefs[:i], func(q gwapiv1.ParentReference) bool { return sameParentRef(p, q) }) {
			continue
		}
		ls, set, mine := r.parentTarget(rt.meta.Namespace, p)
		if !mine {
			continue
		}
		ps := &parentState{ref: *p.DeepCopy()}
		ps.reason, ps.msg = r.attachParent(rt, p, ls, set, ps)
		rt.parents = append(rt.parents, ps)
	}
	return len(rt.parents) > 0
}

func sameParentRef(a, b gwapiv1.ParentReference) bool {
	return a.Name == b.Name && equalPtr(a.Group, b.Group) && equalPtr(a.Kind, b.Kind) && equalPtr(a.Namespace, b.Namespace) &&
		equalPtr(a.SectionName, b.SectionName) && equalPtr(a.Port, b.Port)
}

func equalPtr[T comparable](a, b *T) bool {
	return a == b || a != nil && b != nil && *a == *b
}

// status is the route's parent entries once attachment is final.
func (r *resolver) status(rt *route) RouteStatus {
	st := RouteStatus{Kind: string(rt.kind), Namespace: rt.meta.Namespace, Name: rt.meta.Name,
		Parents: make([]gwapiv1.RouteParentStatus, 0, len(rt.parents))}
	for _, ps := range rt.parents {
		c := conds{gen: rt.meta.Generation, list: make([]metav1.Condition, 0, 2)}
		reason, msg := ps.reason, ps.msg
		if reason == gwapiv1.RouteReasonAccepted && !slices.ContainsFunc(ps.atts, func(a *attachment) bool { return !a.rejected }) {
			reason, msg = reasonHostnameConflict, "An older route of the other kind (HTTPRoute or GRPCRoute) serves these hostnames on every selected listener"
		}
		c.set(string(gwapiv1.RouteConditionAccepted), reason == gwapiv1.RouteReasonAccepted, string(reason), msg)
		if rt.refReason == "" {
			c.set(string(gwapiv1.RouteConditionResolvedRefs), true, string(gwapiv1.RouteReasonResolvedRefs), "References resolved")
		} else {
			c.set(string(gwapiv1.RouteConditionResolvedRefs), false, string(rt.refReason), strings.Join(rt.refMsg, "; "))
		}
		st.Parents = append(st.Parents, gwapiv1.RouteParentStatus{ParentRef: ps.ref, ControllerName: r.in.ControllerName, Conditions: c.list})
	}
	return st
}

// reasonHostnameConflict is Flotilla's Accepted=False reason for an HTTPRoute or GRPCRoute that
// loses a hostname to an older route of the other kind on the same listener (the spec requires
// the rejection but names no reason).
const reasonHostnameConflict gwapiv1.RouteConditionReason = "HostnameConflict"

// settleKindContests applies the GRPCRoute rule: on one listener, an HTTPRoute and a GRPCRoute
// whose hostnames intersect cannot both be accepted; the older (then namespace/name first) wins.
func settleKindContests(ls []*listener) {
	for _, l := range ls {
		if !slices.ContainsFunc(l.routes, func(a *attachment) bool { return a.route.kind == kindHTTPRoute }) ||
			!slices.ContainsFunc(l.routes, func(a *attachment) bool { return a.route.kind == kindGRPCRoute }) {
			continue // no contest
		}
		atts := slices.Clone(l.routes)
		slices.SortStableFunc(atts, func(a, b *attachment) int { return cmp.Compare(a.route.age, b.route.age) })
		// The hostnames of the HTTPRoutes and GRPCRoutes kept so far.
		var http, grpc hostIndex
		rejected := false
		for _, a := range atts {
			own, other := &http, &grpc
			switch a.route.kind {
			case kindHTTPRoute:
			case kindGRPCRoute:
				own, other = &grpc, &http
			default:
				continue
			}
			a.rejected = other.intersects(a.hostnames)
			if a.rejected {
				rejected = true
			} else {
				own.add(a.hostnames)
			}
		}
		if rejected {
			l.routes = slices.DeleteFunc(l.routes, func(a *attachment) bool { return a.rejected })
		}
	}
}

// attachParent applies one parentRef: sectionName and port, then allowedRoutes, then hostnames.
func (r *resolver) attachParent(rt *route, p gwapiv1.ParentReference, ls []*listener, set *listenerSet, ps *parentState) (gwapiv1.RouteConditionReason, string) {
	if rt.invalid != "" {
		return gwapiv1.RouteReasonUnsupportedValue, rt.invalid
	}
	if set != nil && !set.allowed {
		return gwapiv1.RouteReasonNoMatchingParent, fmt.Sprintf("ListenerSet %s is not allowed by its Gateway", set.key())
	}
	var buf [16]*listener // room for a typical Gateway's listeners, off the heap
	selected := buf[:0]
	for _, l := range ls {
		if (p.SectionName == nil || *p.SectionName == l.name) && (p.Port == nil || *p.Port == l.port) {
			selected = append(selected, l)
		}
	}
	if len(selected) == 0 {
		return gwapiv1.RouteReasonNoMatchingParent, "No listener matches the parentRef's sectionName and port"
	}
	allowed := selected[:0] // filtered in place
	for _, l := range selected {
		var from *gwapiv1.FromNamespaces
		var sel *metav1.LabelSelector
		if l.allowed != nil && l.allowed.Namespaces != nil {
			from, sel = l.allowed.Namespaces.From, l.allowed.Namespaces.Selector
		}
		if l.allowsKind(rt.kind) && r.namespaceAllowed(from, sel, gwapiv1.NamespacesFromSame, l.parentNS, rt.meta.Namespace) {
			allowed = append(allowed, l)
		}
	}
	if len(allowed) == 0 {
		return gwapiv1.RouteReasonNotAllowedByListeners, fmt.Sprintf("No selected listener allows %s routes from namespace %s", rt.kind, rt.meta.Namespace)
	}
	attached := false
	for _, l := range allowed {
		hosts, ok := intersectHostnames(l.hostname, rt.hostnames)
		if !ok {
			continue
		}
		attached = true
		if !rt.attachedTo(l, ps) {
			a := &attachment{route: rt, l: l, hostnames: hosts}
			l.routes = append(l.routes, a)
			ps.atts = append(ps.atts, a)
		}
	}
	if !attached {
		return gwapiv1.RouteReasonNoMatchingListenerHostname, "No selected listener's hostname intersects the route's hostnames"
	}
	return gwapiv1.RouteReasonAccepted, "Route accepted"
}

// attachedTo says whether an earlier parentRef of rt (or ps, the current one) attached it to l.
func (rt *route) attachedTo(l *listener, ps *parentState) bool {
	on := func(a *attachment) bool { return a.l == l }
	if slices.ContainsFunc(ps.atts, on) {
		return true
	}
	for _, p := range rt.parents {
		if slices.ContainsFunc(p.atts, on) {
			return true
		}
	}
	return false
}
