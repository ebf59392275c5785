package gatewayapi

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// listenerSet is one ListenerSet whose parentRef names the Gateway.
type listenerSet struct {
	obj       *gwapiv1.ListenerSet
	allowed   bool
	listeners []*listener
}

func (s *listenerSet) key() string { return s.obj.Namespace + "/" + s.obj.Name }

// targetsGateway says whether the ListenerSet's parentRef names gw.
func targetsGateway(ls *gwapiv1.ListenerSet, gw *gwapiv1.Gateway) bool {
	p := ls.Spec.ParentRef
	return ParentKey(ls.Namespace, gwapiv1.ParentReference{Group: p.Group, Kind: p.Kind, Namespace: p.Namespace, Name: p.Name}) ==
		string(kindGateway)+"/"+gw.Namespace+"/"+gw.Name
}

// olderFirst orders objects by creation time, then namespace/name: Gateway API's tie-breaker.
func olderFirst(a, b metav1.Object) int {
	if c := a.GetCreationTimestamp().Compare(b.GetCreationTimestamp().Time); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
}

// listenerSets collects the Gateway's ListenerSets in precedence order and decides which the
// Gateway's allowedListeners admits.
func (r *resolver) listenerSets() []*listenerSet {
	var out []*listenerSet
	for _, ls := range r.in.ListenerSets {
		if targetsGateway(ls, r.gw) {
			out = append(out, &listenerSet{obj: ls})
		}
	}
	slices.SortFunc(out, func(a, b *listenerSet) int { return olderFirst(a.obj, b.obj) })
	for i, s := range out {
		s.allowed = r.listenerSetsAllowed(s.obj.Namespace)
		if !s.allowed {
			continue
		}
		for _, e := range s.obj.Spec.Listeners {
			spec := gwapiv1.Listener{Name: e.Name, Hostname: e.Hostname, Port: e.Port, Protocol: e.Protocol,
				TLS: e.TLS, AllowedRoutes: e.AllowedRoutes}
			s.listeners = append(s.listeners, r.newListener(kindListenerSet, s.obj.Namespace, s.obj.Name, s.obj.Generation, i+1, spec))
		}
	}
	return out
}

// status is the ListenerSet's status once its listeners are finished.
func (s *listenerSet) status() (ListenerSetStatus, bool) {
	c := conds{gen: s.obj.Generation}
	accepted, programmed := string(gwapiv1.ListenerSetConditionAccepted), string(gwapiv1.ListenerSetConditionProgrammed)
	st := ListenerSetStatus{Namespace: s.obj.Namespace, Name: s.obj.Name}
	if !s.allowed {
		msg := "The parent Gateway's allowedListeners does not admit this ListenerSet's namespace"
		c.set(accepted, false, string(gwapiv1.ListenerSetReasonNotAllowed), msg)
		c.set(programmed, false, string(gwapiv1.ListenerSetReasonNotAllowed), msg)
		st.Conditions = c.list
		return st, false
	}
	valid, ready := 0, 0
	for _, l := range s.listeners {
		ls := l.status()
		st.Listeners = append(st.Listeners, gwapiv1.ListenerEntryStatus{Name: ls.Name, SupportedKinds: ls.SupportedKinds,
			AttachedRoutes: ls.AttachedRoutes, Conditions: ls.Conditions})
		// A listener whose references do not resolve cannot serve either: it does not count as
		// valid (conformance ListenerSetReferenceGrant).
		if l.supported && l.conflict == "" && l.ready {
			valid++
		}
		if l.ready {
			ready++
		}
	}
	notValid := string(gwapiv1.ListenerSetReasonListenersNotValid)
	switch {
	case valid == 0:
		c.set(accepted, false, notValid, "No listener of the ListenerSet is valid")
	case valid < len(s.listeners):
		c.set(accepted, true, notValid, "Some listeners are not valid: see their conditions")
	default:
		c.set(accepted, true, string(gwapiv1.ListenerSetReasonAccepted), "ListenerSet accepted")
	}
	if ready == 0 {
		c.set(programmed, false, notValid, "No listener of the ListenerSet can be programmed")
	} else {
		c.set(programmed, true, string(gwapiv1.ListenerSetReasonProgrammed), "ListenerSet programmed")
	}
	st.Conditions = c.list
	return st, valid > 0
}

// listenerSetsAllowed says whether the Gateway's spec.allowedListeners admits ListenerSets from
// namespace ns (by default none).
func (r *resolver) listenerSetsAllowed(ns string) bool {
	var from *gwapiv1.FromNamespaces
	var sel *metav1.LabelSelector
	if al := r.gw.Spec.AllowedListeners; al != nil && al.Namespaces != nil {
		from, sel = al.Namespaces.From, al.Namespaces.Selector
	}
	return r.namespaceAllowed(from, sel, gwapiv1.NamespacesFromNone, r.gw.Namespace, ns)
}

// NamespacePolicy answers a Gateway's namespace admission questions without resolving it, as
// resolution answers them (flotillactl migrate asks before it prints routes and ListenerSets).
type NamespacePolicy struct{ r *resolver }

// NewNamespacePolicy is the policy of gw, with the labels of namespaces.
func NewNamespacePolicy(gw *gwapiv1.Gateway, namespaces []*corev1.Namespace) NamespacePolicy {
	r := newResolver(Input{Gateway: gw, Namespaces: namespaces})
	r.index()
	return NamespacePolicy{r}
}

// ListenerSetsAllowed says whether spec.allowedListeners admits ListenerSets from ns.
func (p NamespacePolicy) ListenerSetsAllowed(ns string) bool { return p.r.listenerSetsAllowed(ns) }

// CanaryDeniedBy names the Gateway's listener of the family (HTTPS when secure, else HTTP) that
// admits routes from routeNS but not from canaryNS, so that a canary Ingress of canaryNS is not
// served on the routes of its primary in routeNS there; "" when none does.
func (p NamespacePolicy) CanaryDeniedBy(secure bool, routeNS, canaryNS string) string {
	return string(p.r.canaryDeniedBy(secure, routeNS, canaryNS))
}
