package gatewayapi

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// BackendTLSPolicy attachment (Gateway API v1.6, GEP-1897).
//
// A policy targets Services of its own namespace, the whole Service or one port by name
// (sectionName). Per target (Service and sectionName) the oldest policy wins, then the first by
// namespace/name; the others are Conflicted. A port's own policy takes precedence over a
// whole-Service policy (both are accepted: they do not select the same target). The winning
// policy of a cluster's Service port makes the cluster originate TLS; when that policy is not
// valid the cluster fails closed (model.UpstreamTLS.Invalid) and the routes using it report
// ResolvedRefs=False.

// reasonInvalidBackendTLSPolicy is Flotilla's ResolvedRefs=False reason for a route whose backend
// is targeted by a BackendTLSPolicy that cannot be honoured (the spec requires ResolvedRefs=False
// but names no reason). The backend fails closed: its share of requests gets a 503.
const reasonInvalidBackendTLSPolicy gwapiv1.RouteConditionReason = "InvalidBackendTLSPolicy"

// trustBundlePrefix starts the name of a policy's trust bundle: "BackendTLSPolicy/<ns>/<name>".
const trustBundlePrefix = "BackendTLSPolicy/"

// tlsTarget is what a targetRef selects: a Service, and one of its ports by name ("" for all).
type tlsTarget struct {
	svc     objKey
	section gwapiv1.SectionName
}

// tlsOutcome is what became of one targetRef of a policy.
type tlsOutcome int

const (
	tlsWon     tlsOutcome = iota // the policy applies to the target
	tlsLost                      // an older policy applies to the same target
	tlsNoPort                    // the Service has no port of that name
	tlsUnknown                   // the Service is not in the input (no route of the Gateway can use it)
)

// tlsTargetState is one Service targetRef of a policy and its outcome.
type tlsTargetState struct {
	target  tlsTarget
	outcome tlsOutcome
	winner  *tlsPolicy // the older policy, when lost
}

// tlsPolicy is a BackendTLSPolicy during resolution. Its validation runs once, on first use.
type tlsPolicy struct {
	obj     *gwapiv1.BackendTLSPolicy
	targets []tlsTargetState

	evaluated bool
	// accepted is Accepted's status (as far as validation goes), with reason and message.
	accepted     bool
	acceptReason gwapiv1.PolicyConditionReason
	acceptMsg    string
	// refReason/refMsg are the ResolvedRefs=False reason and message ("" when every ref resolved).
	refReason gwapiv1.PolicyConditionReason
	refMsg    string
	// tls is what clusters the policy applies to get (Invalid set when it cannot be honoured);
	// bundle is its trust bundle (nil with the system trust store or when invalid).
	tls    model.UpstreamTLS
	bundle *model.TrustBundle
}

func (p *tlsPolicy) id() string { return p.obj.Namespace + "/" + p.obj.Name }

// indexPolicies settles precedence between the BackendTLSPolicies once per Resolve: every target
// gets its winner, every policy the outcome of each of its Service targetRefs (other kinds are
// ignored). Oldest first, so the first policy to claim a target wins it.
func (r *resolver) indexPolicies() {
	if len(r.in.BackendTLSPolicies) == 0 {
		return
	}
	// Sorted on keys copied out of the objects, for locality (as ordered does for routes).
	type keyed struct {
		sec      int64
		nsec     int
		ns, name string
		p        *tlsPolicy
	}
	all := make([]tlsPolicy, len(r.in.BackendTLSPolicies))
	ks := make([]keyed, len(all))
	for i, o := range r.in.BackendTLSPolicies {
		all[i].obj = o
		t := o.CreationTimestamp.Time
		ks[i] = keyed{t.Unix(), t.Nanosecond(), o.Namespace, o.Name, &all[i]}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(a.sec, b.sec), cmp.Compare(a.nsec, b.nsec), cmp.Compare(a.ns, b.ns), cmp.Compare(a.name, b.name))
	})
	r.tlsPolicies = make([]*tlsPolicy, len(ks))
	for i, k := range ks {
		r.tlsPolicies[i] = k.p
	}
	r.tlsWinners = make(map[tlsTarget]*tlsPolicy, len(r.tlsPolicies))
	for _, p := range r.tlsPolicies {
		for _, ref := range p.obj.Spec.TargetRefs {
			if ref.Group != "" || ref.Kind != kindService {
				continue
			}
			t := tlsTarget{svc: objKey{p.obj.Namespace, string(ref.Name)}, section: ptrOrZero(ref.SectionName)}
			if slices.ContainsFunc(p.targets, func(s tlsTargetState) bool { return s.target == t }) {
				continue // a duplicate targetRef (the API server refuses them)
			}
			st := tlsTargetState{target: t}
			svc := r.services[t.svc]
			switch {
			case svc == nil:
				st.outcome = tlsUnknown
			case t.section != "" && !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == string(t.section) }):
				st.outcome = tlsNoPort
			case r.tlsWinners[t] != nil:
				st.outcome, st.winner = tlsLost, r.tlsWinners[t]
			default:
				st.outcome = tlsWon
				r.tlsWinners[t] = p
			}
			p.targets = append(p.targets, st)
		}
	}
}

// policyFor is the policy that applies to a Service port: the port's own, else the whole
// Service's; nil for none.
func (r *resolver) policyFor(svc objKey, port string) *tlsPolicy {
	if len(r.tlsWinners) == 0 {
		return nil
	}
	if port != "" {
		if p := r.tlsWinners[tlsTarget{svc, gwapiv1.SectionName(port)}]; p != nil {
			return p
		}
	}
	return r.tlsWinners[tlsTarget{svc: svc}]
}

// upstreamTLS is the TLS of a new cluster of protocol proto that policy p applies to (nil: none).
func (r *resolver) upstreamTLS(p *tlsPolicy, proto model.ClusterProtocol) *model.UpstreamTLS {
	if p == nil {
		return nil
	}
	r.evaluate(p)
	t := p.tls // a copy: clusters never share one
	switch {
	case t.Invalid != "":
	case proto == model.ClusterUDP:
		t = model.UpstreamTLS{Invalid: fmt.Sprintf("BackendTLSPolicy %s: TLS cannot be originated over UDP", p.id())}
	default:
		t.ClientCertificate = r.clientCert
	}
	return &t
}

// checkClusterTLS records on rt that cluster i fails closed because of its policy.
func (r *resolver) checkClusterTLS(rt *route, i int) {
	c := &r.clusters[i]
	if c.TLS == nil || c.TLS.Invalid == "" {
		return
	}
	msg := fmt.Sprintf("Service %s port %d: %s; its share of requests fails, never sent in plaintext", c.Service, c.Port, c.TLS.Invalid)
	if !slices.Contains(rt.refMsg, msg) {
		rt.refFailed(reasonInvalidBackendTLSPolicy, msg)
	}
}

// evaluate validates a policy once: validation options, CA certificates, names to verify.
func (r *resolver) evaluate(p *tlsPolicy) {
	if p.evaluated {
		return
	}
	p.evaluated = true
	v := &p.obj.Spec.Validation
	bundle := r.caBundle(p)
	reject := func(reason gwapiv1.PolicyConditionReason, msg string) {
		p.accepted, p.acceptReason, p.acceptMsg = false, reason, msg
	}
	wellKnown := ptrOrZero(v.WellKnownCACertificates)
	switch {
	case len(p.obj.Spec.Options) > 0:
		keys := make([]string, 0, len(p.obj.Spec.Options))
		for k := range p.obj.Spec.Options {
			keys = append(keys, string(k))
		}
		slices.Sort(keys)
		reject(gwapiv1.PolicyReasonInvalid, fmt.Sprintf("spec.options are not supported by Flotilla: %s", strings.Join(keys, ", ")))
	case len(v.CACertificateRefs) > 0 && wellKnown != "":
		reject(gwapiv1.PolicyReasonInvalid, "spec.validation sets both caCertificateRefs and wellKnownCACertificates")
	case len(v.CACertificateRefs) == 0 && wellKnown == "":
		reject(gwapiv1.PolicyReasonInvalid, "spec.validation sets neither caCertificateRefs nor wellKnownCACertificates")
	case v.Hostname == "":
		reject(gwapiv1.PolicyReasonInvalid, "spec.validation.hostname is empty")
	case wellKnown != "" && wellKnown != gwapiv1.WellKnownCACertificatesSystem:
		reject(gwapiv1.PolicyReasonInvalid, fmt.Sprintf("wellKnownCACertificates %q is not supported (only System is)", wellKnown))
	case wellKnown == "" && bundle == "":
		reject(gwapiv1.BackendTLSPolicyReasonNoValidCACertificate, "No caCertificateRef holds a valid CA certificate: "+p.refMsg)
	default:
		p.accepted, p.acceptReason, p.acceptMsg = true, gwapiv1.PolicyReasonAccepted, "Policy accepted"
	}
	for _, san := range v.SubjectAltNames {
		switch san.Type {
		case gwapiv1.HostnameSubjectAltNameType:
			p.tls.SubjectAltNames = append(p.tls.SubjectAltNames, model.SubjectAltName{Type: string(san.Type), Value: string(san.Hostname)})
		case gwapiv1.URISubjectAltNameType:
			p.tls.SubjectAltNames = append(p.tls.SubjectAltNames, model.SubjectAltName{Type: string(san.Type), Value: string(san.URI)})
		default:
			if p.accepted {
				reject(gwapiv1.PolicyReasonInvalid, fmt.Sprintf("subjectAltName type %q is not supported", san.Type))
			}
		}
	}
	if !p.accepted {
		// The policy's own status says why in detail.
		p.tls = model.UpstreamTLS{Invalid: fmt.Sprintf("BackendTLSPolicy %s is not accepted (%s)", p.id(), p.acceptReason)}
		return
	}
	p.tls.SNI = string(v.Hostname)
	if wellKnown != "" {
		p.tls.SystemTrust = true
		return
	}
	p.bundle = &model.TrustBundle{Name: trustBundlePrefix + p.id(), PEM: bundle}
	p.tls.TrustBundle = p.bundle.Name
}

// caBundle resolves the policy's caCertificateRefs, setting its ResolvedRefs reason and message,
// and returns the certificates of the valid ones concatenated in ref order ("" for none).
func (r *resolver) caBundle(p *tlsPolicy) string {
	var pems, msgs []string
	for _, ref := range p.obj.Spec.Validation.CACertificateRefs {
		if ref.Group != "" || ref.Kind != kindConfigMap && ref.Kind != kindSecret {
			if p.refReason == "" {
				p.refReason = gwapiv1.BackendTLSPolicyReasonInvalidKind
			}
			msgs = append(msgs, fmt.Sprintf("caCertificateRef %s: kind %s/%s is not supported (only core ConfigMap and Secret are)",
				ref.Name, cmp.Or(string(ref.Group), "core"), ref.Kind))
			continue
		}
		pem, problem := r.caCertificate(string(ref.Kind), p.obj.Namespace, string(ref.Name))
		if problem != "" {
			if p.refReason == "" {
				p.refReason = gwapiv1.BackendTLSPolicyReasonInvalidCACertificateRef
			}
			msgs = append(msgs, problem)
			continue
		}
		pems = append(pems, pem)
	}
	p.refMsg = strings.Join(msgs, "; ")
	return strings.Join(pems, "") // one ref: its (shared) string, not a copy
}

// policyStatuses are the ancestor entries for this Gateway of every policy that targets a Service
// one of its routes uses, sorted by namespace and name.
func (r *resolver) policyStatuses() []PolicyStatus {
	var out []PolicyStatus
	group, kind, ns := gwapiv1.Group(gwapiv1.GroupName), kindGateway, gwapiv1.Namespace(r.gw.Namespace)
	for _, p := range r.tlsPolicies {
		var won, lost, noPort []tlsTargetState
		for _, t := range p.targets {
			if !r.usedServices[t.target.svc] {
				continue
			}
			switch t.outcome {
			case tlsWon:
				won = append(won, t)
			case tlsLost:
				lost = append(lost, t)
			case tlsNoPort:
				noPort = append(noPort, t)
			}
		}
		if len(won)+len(lost)+len(noPort) == 0 {
			continue // no route of this Gateway uses its Services
		}
		r.evaluate(p)
		c := conds{gen: p.obj.Generation, list: make([]metav1.Condition, 0, 2)}
		switch {
		case len(won) > 0:
			c.set(string(gwapiv1.PolicyConditionAccepted), p.accepted, string(p.acceptReason), p.acceptMsg)
		case len(lost) > 0:
			msgs := make([]string, 0, len(lost))
			for _, t := range lost {
				msgs = append(msgs, fmt.Sprintf("BackendTLSPolicy %s takes precedence on %s (older, or first by namespace/name)", t.winner.id(), t.target))
			}
			c.set(string(gwapiv1.PolicyConditionAccepted), false, string(gwapiv1.PolicyReasonConflicted), strings.Join(msgs, "; "))
		default:
			msgs := make([]string, 0, len(noPort))
			for _, t := range noPort {
				msgs = append(msgs, fmt.Sprintf("Service %s/%s has no port named %s", t.target.svc.ns, t.target.svc.name, t.target.section))
			}
			c.set(string(gwapiv1.PolicyConditionAccepted), false, string(gwapiv1.PolicyReasonTargetNotFound), strings.Join(msgs, "; "))
		}
		if p.refReason == "" {
			c.set(string(gwapiv1.BackendTLSPolicyConditionResolvedRefs), true, string(gwapiv1.BackendTLSPolicyReasonResolvedRefs), "References resolved")
		} else {
			c.set(string(gwapiv1.BackendTLSPolicyConditionResolvedRefs), false, string(p.refReason), p.refMsg)
		}
		out = append(out, PolicyStatus{Namespace: p.obj.Namespace, Name: p.obj.Name, Ancestors: []gwapiv1.PolicyAncestorStatus{{
			AncestorRef:    gwapiv1.ParentReference{Group: &group, Kind: &kind, Namespace: &ns, Name: gwapiv1.ObjectName(r.gw.Name)},
			ControllerName: r.in.ControllerName,
			Conditions:     c.list,
		}}})
	}
	slices.SortFunc(out, func(a, b PolicyStatus) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// String names a target in messages: "Service <ns>/<name>" and its port.
func (t tlsTarget) String() string {
	s := "Service " + t.svc.ns + "/" + t.svc.name
	if t.section != "" {
		s += " port " + string(t.section)
	}
	return s
}

// upstreamTLSResources are the trust bundles the fleet's clusters use, sorted by name, and the
// client certificate Secret added to secrets when a cluster presents it.
func (r *resolver) upstreamTLSResources(clusters []model.Cluster, secrets map[string]bool) []model.TrustBundle {
	var out []model.TrustBundle
	seen := map[string]bool{}
	for i := range clusters {
		t := clusters[i].TLS
		if t == nil || t.Invalid != "" {
			continue
		}
		if t.ClientCertificate != "" {
			secrets[t.ClientCertificate] = true
		}
		if t.TrustBundle == "" || seen[t.TrustBundle] {
			continue
		}
		seen[t.TrustBundle] = true
		if p := r.bundles()[t.TrustBundle]; p != nil {
			out = append(out, *p)
		}
	}
	slices.SortFunc(out, func(a, b model.TrustBundle) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// bundles indexes the trust bundles of the evaluated policies by name.
func (r *resolver) bundles() map[string]*model.TrustBundle {
	if r.bundleIndex == nil {
		r.bundleIndex = map[string]*model.TrustBundle{}
		for _, p := range r.tlsPolicies {
			if p.bundle != nil {
				r.bundleIndex[p.bundle.Name] = p.bundle
			}
		}
	}
	return r.bundleIndex
}
