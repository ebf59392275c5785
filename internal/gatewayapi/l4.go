package gatewayapi

import (
	"slices"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// l4Route converts a TLS, TCP or UDP route: the backends of all its rules, merged in order (these
// routes have no matches, so rules cannot tell connections apart).
func (r *resolver) l4Route(kind gwapiv1.Kind, rt *route, rules [][]gwapiv1.BackendRef) *route {
	rt.kind = kind
	rt.backends = &model.Backends{}
	for _, refs := range rules {
		b := r.weighted(rt, len(refs), func(i int) *gwapiv1.BackendRef { return &refs[i] }, nil)
		rt.backends.Clusters = append(rt.backends.Clusters, b.Clusters...)
		rt.backends.InvalidWeight += b.InvalidWeight
	}
	return rt
}

// tlsRoute converts a TLSRoute. On Terminate listeners the Gateway proxies the decrypted stream,
// as a TCPRoute's (TCP clusters, which a BackendTLSPolicy encrypts). On Passthrough listeners the
// connection carries the client's own TLS, which the Gateway never sees inside: those backends are
// clusters of their own (kindPassthroughTLSRoute, named ".../tlspassthrough") that no
// BackendTLSPolicy applies to, so a policy on the Service port never encrypts that TLS twice. The
// references are the same: problems are recorded once.
func (r *resolver) tlsRoute(tr *gwapiv1.TLSRoute) *route {
	rules := make([][]gwapiv1.BackendRef, 0, len(tr.Spec.Rules))
	for _, rule := range tr.Spec.Rules {
		rules = append(rules, rule.BackendRefs)
	}
	rt := r.l4Route(kindTLSRoute, &route{meta: &tr.ObjectMeta, parentRefs: tr.Spec.ParentRefs, hostnames: tr.Spec.Hostnames}, rules)
	terminated, reason, msgs := rt.backends, rt.refReason, slices.Clone(rt.refMsg)
	rt.protoKind = kindPassthroughTLSRoute
	r.l4Route(kindTLSRoute, rt, rules)
	rt.passthrough, rt.backends, rt.protoKind = rt.backends, terminated, ""
	rt.refReason, rt.refMsg = reason, msgs
	return rt
}

func (r *resolver) tcpRoute(tr *gwapiv1.TCPRoute) *route {
	rules := make([][]gwapiv1.BackendRef, 0, len(tr.Spec.Rules))
	for _, rule := range tr.Spec.Rules {
		rules = append(rules, rule.BackendRefs)
	}
	return r.l4Route(kindTCPRoute, &route{meta: &tr.ObjectMeta, parentRefs: tr.Spec.ParentRefs}, rules)
}

func (r *resolver) udpRoute(ur *gwapiv1.UDPRoute) *route {
	rules := make([][]gwapiv1.BackendRef, 0, len(ur.Spec.Rules))
	for _, rule := range ur.Spec.Rules {
		rules = append(rules, rule.BackendRefs)
	}
	return r.l4Route(kindUDPRoute, &route{meta: &ur.ObjectMeta, parentRefs: ur.Spec.ParentRefs}, rules)
}
