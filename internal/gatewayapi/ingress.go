package gatewayapi

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/model"
)

// kindIngress is the route kind of an Ingress's converted hosts. For allowedRoutes it counts as
// an HTTPRoute: an Ingress attaches where the listener admits HTTPRoutes from its namespace.
const kindIngress gwapiv1.Kind = "Ingress"

// IngressRoute is one Ingress as the Ingress front end (internal/ingress) converted it: what
// Flotilla serves for it, in Gateway API terms plus what Gateway API cannot say. Resolve attaches
// its hosts to the Gateway's HTTP and HTTPS listeners like an HTTPRoute without sectionName.
type IngressRoute struct {
	// Meta is the Ingress's metadata (namespace, name, creation time order the merge).
	Meta *metav1.ObjectMeta
	// Hosts in rule order; Host "" serves any host. A canary Ingress has none: its Service is
	// served through the paths of its primaries (IngressBackend.Of).
	Hosts []IngressHost
	// Filter is what the Ingress's access, limit and auth annotations (and the class's default
	// body size) ask of every path it serves, as a RouteFilter would; nil for nothing. Its
	// cross-namespace references were allowed by the IngressClassConfig.
	Filter *flotillav1alpha1.RouteFilterSpec
	// Mirror is the Service (of the Ingress's namespace) every request of the Ingress is copied
	// to (mirror-target); nil for none.
	Mirror *IngressBackend
}

// IngressHost is what one Ingress serves on one host.
type IngressHost struct {
	Host string
	// Rule is the index of the Ingress rule (len(rules) for the defaultBackend's host "").
	Rule int
	// Plain are the paths served on HTTP listeners, Secure those on HTTPS listeners, in path
	// order (precedence is Resolve's: exact first, then regular expressions and prefixes by
	// length, then the oldest Ingress).
	Plain, Secure []IngressPath
	// TLSSecret is the name of the Secret (in the Ingress's namespace) whose certificate the
	// HTTPS listeners present for Host; empty: the listener's own certificate.
	TLSSecret string
	// Aliases are more host names the paths serve (server-alias of the host's oldest Ingress).
	Aliases []string
	// Passthrough, when set, takes the host's TLS connections unterminated to this backend
	// (ssl-passthrough): the HTTPS listeners on its port get an SNI chain that proxies TCP.
	Passthrough *IngressBackend
}

// IngressPath is one path of a host with its action.
type IngressPath struct {
	// Index numbers the path among the host's paths: model routes are named
	// "Ingress/<ns>/<name>/rule/<Rule>/match/<Index>".
	Index int
	// Name, when set, is appended to the route's name ("…/match/<Index>/<Name>"): the routes a
	// canary Ingress adds before the path of its primary (canary-by-header, canary-by-cookie).
	Name  string
	Match model.Match
	// RankAs, when set, is the match the path ranks with among the routes of its virtual host
	// instead of Match: a canary's routes rank as the primary's path they precede (their header
	// match does not make them more specific than an HTTPRoute with the path's own match), and
	// come before it, in slice order.
	RankAs   *model.Match
	Filters  []model.Filter
	Redirect *model.Redirect
	// Backend is the path's Service; Backends, when set instead, split requests between several
	// by their Weight (the primary's and its canary's, canary-weight).
	Backend  *IngressBackend
	Backends []IngressBackend
	Timeouts *model.Timeouts
	// HashPolicies choose the endpoint when the Backend balances by ring hash (affinity,
	// upstream-hash-by).
	HashPolicies []model.HashPolicy
}

// IngressBackend is the Service an Ingress path sends requests to.
type IngressBackend struct {
	Service string
	// Port is the Service port's number, or 0 with PortName set.
	Port     int32
	PortName string
	// Protocol is what Envoy speaks to the endpoints: HTTP, GRPC (backend-protocol).
	Protocol model.ClusterProtocol
	// TLS originates TLS to the endpoints without verifying them (backend-protocol HTTPS or
	// GRPCS), unless a BackendTLSPolicy targets the Service port: the policy then applies.
	TLS bool
	// Weight is the backend's share among IngressPath.Backends.
	Weight uint32
	// Of is the Ingress whose Service this is when it is not the path's own Ingress: a canary's.
	// Its namespace holds the Service, and resolution problems are reported on it.
	Of *metav1.ObjectMeta
	// ServiceUpstream sends to the Service's cluster IP instead of its endpoints
	// (service-upstream): one endpoint, kube-proxy balances.
	ServiceUpstream bool
	// UpstreamTLS, with TLS, is how the TLS is originated (proxy-ssl-*); nil: unverified.
	UpstreamTLS *IngressUpstreamTLS
	// ConnectTimeout is proxy-connect-timeout ("5s"): a cluster variant of its own (suffix
	// "-connect5s"); empty: the clusters' 10s.
	ConnectTimeout string
	// LoadBalancer is the upstream's load balancing (load-balance, upstream-hash-by, affinity);
	// nil is round robin. Any other policy gets a cluster of its own (the cluster's name with the
	// policy as a suffix), so that HTTPRoutes to the same Service port keep theirs.
	LoadBalancer *model.LoadBalancer
}

// IngressUpstreamTLS is an Ingress's proxy-ssl-* settings.
type IngressUpstreamTLS struct {
	// Secret is "<ns>/<name>" of the Secret whose tls.crt/tls.key Envoy presents and whose ca.crt
	// it verifies with ("" for none).
	Secret string
	// Verify checks the backend's certificate against the Secret's ca.crt and Name.
	Verify bool
	// Name is what the certificate must name (and the SNI); empty: "<service>.<namespace>.svc".
	Name string
	// SNI sends Name as the server name (proxy-ssl-server-name on, or Verify).
	SNI bool
}

// IngressStatus is what resolution found for one Ingress on this Gateway.
type IngressStatus struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Attached says at least one of its hosts attached to a listener of the Gateway.
	Attached bool `json:"attached"`
	// Problems are Warning Event messages: a host no listener admits, a missing Service, a TLS
	// Secret that cannot be used, a path an HTTPRoute overrides. Sorted.
	Problems []string `json:"problems,omitempty"`
}

// ingressRoutes converts and attaches the Ingresses: one route per host and listener family.
func (r *resolver) ingressRoutes() []*route {
	var out []*route
	for i := range r.in.Ingresses {
		ir := &r.in.Ingresses[i]
		for h := range ir.Hosts {
			host := &ir.Hosts[h]
			for _, secure := range []bool{false, true} {
				paths := host.Plain
				if secure {
					paths = host.Secure
				}
				if len(paths) == 0 && !(secure && host.Passthrough != nil) {
					continue
				}
				rt := r.ingressRoute(ir, host, paths, secure)
				out = append(out, rt)
			}
		}
	}
	return out
}

// ingressRoute builds the route of one host's paths for the HTTP (secure false) or HTTPS listeners.
func (r *resolver) ingressRoute(ir *IngressRoute, host *IngressHost, paths []IngressPath, secure bool) *route {
	rt := &route{kind: kindIngress, meta: ir.Meta, ingress: ir, ingressHost: host, secure: secure}
	if host.Host != "" {
		rt.hostnames = []gwapiv1.Hostname{gwapiv1.Hostname(host.Host)}
		for _, a := range host.Aliases {
			rt.hostnames = append(rt.hostnames, gwapiv1.Hostname(a))
		}
	}
	if secure && host.Passthrough != nil && host.Host != "" {
		if c, ok := r.ingressBackend(rt, host.Passthrough); ok {
			rt.backends = &model.Backends{Clusters: []model.WeightedCluster{{Cluster: c, Weight: 1}}}
		}
	}
	prefix := fmt.Sprintf("%s/%s/%s/rule/", kindIngress, ir.Meta.Namespace, ir.Meta.Name)
	rt.entries = make([]entry, 0, len(paths))
	for _, p := range paths {
		if p.Name != "" && p.Backend != nil && !r.canaryAdmitted(rt, p.Backend) {
			continue // the canary's route is not served: the primary's path serves its requests
		}
		if p.Backends != nil {
			n := len(p.Backends)
			p.Backends = slices.DeleteFunc(slices.Clone(p.Backends), func(b IngressBackend) bool { return !r.canaryAdmitted(rt, &b) })
			if len(p.Backends) == 1 && len(p.Backends) < n {
				p.Backends[0].Weight = 1 // the path's own backend alone, whatever its share was
			}
		}
		rank := &p.Match
		if p.RankAs != nil {
			rank = p.RankAs
		}
		e := newEntry(prefix, host.Rule, p.Index, *rank)
		e.route.Match = p.Match
		if p.Name != "" {
			e.route.Name += "/" + p.Name
		}
		e.route.Filters, e.route.Redirect, e.route.Timeouts = p.Filters, p.Redirect, p.Timeouts
		if ir.Mirror != nil && p.Redirect == nil {
			if c, ok := r.ingressCluster(rt, ir.Mirror); ok {
				e.route.Filters = append(slices.Clone(p.Filters), model.Filter{Type: model.FilterMirror,
					Mirror: &model.Mirror{Cluster: c, Numerator: 100, Denominator: 100, KeepHost: true}})
			}
		}
		e.route.Protections = r.ingressProtections(rt, ir)
		switch {
		case p.Backends != nil:
			bs := &model.Backends{}
			for i := range p.Backends {
				b := &p.Backends[i]
				if c, ok := r.ingressPathBackend(rt, b); ok {
					bs.Clusters = append(bs.Clusters, model.WeightedCluster{Cluster: c, Weight: b.Weight})
				} else {
					bs.InvalidWeight += b.Weight
				}
			}
			e.route.Backends = bs
		case p.Backend != nil:
			if c, ok := r.ingressPathBackend(rt, p.Backend); ok {
				e.route.Backends = &model.Backends{Clusters: []model.WeightedCluster{{Cluster: c, Weight: 1}}}
				e.route.HashPolicies = p.HashPolicies
			} else {
				e.route.Backends = &model.Backends{InvalidWeight: 1}
			}
		}
		rt.entries = append(rt.entries, e)
	}
	return rt
}

// ingressProtections are the protections of an Ingress's paths (one per Ingress: every path of
// its routes shares them).
func (r *resolver) ingressProtections(rt *route, ir *IngressRoute) *model.Protections {
	if ir.Filter == nil {
		return nil
	}
	k := filterKey{ns: ir.Meta.Namespace, name: ir.Meta.Name, ingress: true}
	if p, ok := r.ingressProts[k]; ok {
		if p.Invalid != "" {
			rt.refFailed(ReasonInvalidRouteFilter, p.Invalid)
		}
		return p
	}
	p := &model.Protections{Sources: []string{string(kindIngress) + "/" + ir.Meta.Namespace + "/" + ir.Meta.Name}}
	spec := ir.Filter
	if ep := spec.ErrorPages; ep != nil && ep.BackendRef.Port == nil {
		// default-backend names a Service: ingress-nginx serves its first port.
		if svc := r.services[objKey{ir.Meta.Namespace, string(ep.BackendRef.Name)}]; svc != nil && len(svc.Spec.Ports) > 0 {
			spec = spec.DeepCopy()
			port := gwapiv1.PortNumber(svc.Spec.Ports[0].Port)
			spec.ErrorPages.BackendRef.Port = &port
		}
	}
	c := r.filter(k, ir.Meta, spec)
	if !c.OK() {
		p.Invalid = c.Problem()
		rt.refFailed(ReasonInvalidRouteFilter, p.Invalid)
	} else {
		q := c.Protections
		p.Access, p.BasicAuth, p.ExtAuth, p.RateLimit, p.MaxRequestBytes = q.Access, q.BasicAuth, q.ExtAuth, q.RateLimit, q.MaxRequestBytes
		if q.ErrorPages != nil {
			ep := *q.ErrorPages
			ep.Namespace, ep.Ingress = ir.Meta.Namespace, ir.Meta.Name
			p.ErrorPages = &ep
		}
	}
	if r.ingressProts == nil {
		r.ingressProts = map[filterKey]*model.Protections{}
	}
	r.ingressProts[k] = p
	return p
}

// ingressPathBackend resolves a path's backend: the route's Ingress's Service, or that of the
// canary Ingress b.Of (its problems are recorded for that Ingress, in rt.canaries).
func (r *resolver) ingressPathBackend(rt *route, b *IngressBackend) (string, bool) {
	if b.Of == nil {
		return r.ingressBackend(rt, b)
	}
	probe := &route{kind: kindIngress, meta: b.Of}
	c, ok := r.ingressBackend(probe, b)
	u := rt.canary(b.Of)
	u.served = true
	u.problems = append(u.problems, probe.refMsg...)
	return c, ok
}

// canaryUse is what a route's paths did with a canary Ingress's Service.
type canaryUse struct {
	served   bool
	problems []string
}

func (rt *route) canary(m *metav1.ObjectMeta) *canaryUse {
	if rt.canaries == nil {
		rt.canaries = map[*metav1.ObjectMeta]*canaryUse{}
	}
	u := rt.canaries[m]
	if u == nil {
		u = &canaryUse{}
		rt.canaries[m] = u
	}
	return u
}

// canaryAdmitted says whether backend b of a path of rt may be served: its own Ingress's, or a
// canary's whose namespace every listener of rt's family that admits rt's namespace admits too
// (a canary takes requests of its primary's host: it may not reach a listener its namespace may
// not attach to). A canary that may not is recorded as a problem of the canary.
func (r *resolver) canaryAdmitted(rt *route, b *IngressBackend) bool {
	if b.Of == nil || b.Of.Namespace == rt.meta.Namespace {
		return true
	}
	if l := r.canaryDeniedBy(rt.secure, rt.meta.Namespace, b.Of.Namespace); l != "" {
		u := rt.canary(b.Of)
		u.problems = append(u.problems, fmt.Sprintf("listener %s does not admit routes from namespace %s, so this canary of Ingress %s/%s is not served (%s)",
			l, b.Of.Namespace, rt.meta.Namespace, rt.meta.Name, family(rt.secure)))
		return false
	}
	return true
}

// canaryDeniedBy names the first of the Gateway's own listeners of the family (HTTPS when secure,
// else HTTP) whose allowedRoutes admit routes from routeNS but not from canaryNS; "" for none.
func (r *resolver) canaryDeniedBy(secure bool, routeNS, canaryNS string) gwapiv1.SectionName {
	for _, l := range r.gw.Spec.Listeners {
		if (l.Protocol == gwapiv1.HTTPSProtocolType) != secure || l.Protocol != gwapiv1.HTTPProtocolType && l.Protocol != gwapiv1.HTTPSProtocolType {
			continue
		}
		var from *gwapiv1.FromNamespaces
		var sel *metav1.LabelSelector
		if l.AllowedRoutes != nil && l.AllowedRoutes.Namespaces != nil {
			from, sel = l.AllowedRoutes.Namespaces.From, l.AllowedRoutes.Namespaces.Selector
		}
		if r.namespaceAllowed(from, sel, gwapiv1.NamespacesFromSame, r.gw.Namespace, routeNS) &&
			!r.namespaceAllowed(from, sel, gwapiv1.NamespacesFromSame, r.gw.Namespace, canaryNS) {
			return l.Name
		}
	}
	return ""
}

// attachIngress attaches an Ingress host to the Gateway's listeners of its family (HTTP, or
// HTTPS) whose hostname admits the host and whose allowedRoutes admit HTTPRoutes from the
// Ingress's namespace.
func (r *resolver) attachIngress(rt *route) bool {
	ps := &parentState{ref: gwapiv1.ParentReference{Name: gwapiv1.ObjectName(r.gw.Name), Namespace: ptrTo(gwapiv1.Namespace(r.gw.Namespace))}}
	var family []*listener
	for _, l := range r.listeners[:len(r.gw.Spec.Listeners)] {
		if (l.protocol == gwapiv1.HTTPSProtocolType) == rt.secure && (l.protocol == gwapiv1.HTTPProtocolType || l.protocol == gwapiv1.HTTPSProtocolType) {
			family = append(family, l)
		}
	}
	if len(family) == 0 {
		return false // no HTTP (or HTTPS) listener: nothing to attach to, and nothing to say
	}
	ps.reason, ps.msg = r.attachParent(rt, ps.ref, family, nil, ps)
	rt.parents = append(rt.parents, ps)
	return len(ps.atts) > 0
}

func ptrTo[T any](v T) *T { return &v }

// ingressBackend resolves an Ingress path's Service into a cluster, recording problems on rt:
// the cluster an HTTPRoute would use (or its unverified TLS variant), in a variant of its own
// when the Ingress balances otherwise than round robin.
func (r *resolver) ingressBackend(rt *route, b *IngressBackend) (string, bool) {
	name, ok := r.ingressCluster(rt, b)
	if !ok {
		return name, ok
	}
	if b.ConnectTimeout != "" {
		name = r.clusterVariant(name, "-connect"+b.ConnectTimeout, func(c *model.Cluster) { c.ConnectTimeout = b.ConnectTimeout })
	}
	if b.LoadBalancer != nil && b.LoadBalancer.Policy != model.LoadBalancerRoundRobin {
		name = r.clusterVariant(name, "-"+strings.ToLower(string(b.LoadBalancer.Policy)), func(c *model.Cluster) { c.LoadBalancer = b.LoadBalancer })
	}
	return name, true
}

// clusterVariant is the cluster name+suffix: a copy of the cluster name changed by set, added
// once. A name the resolver has no cluster of stays as it is.
func (r *resolver) clusterVariant(name, suffix string, set func(*model.Cluster)) string {
	base, found := r.clusterIndex[name]
	if !found {
		return name
	}
	variant := name + suffix
	if _, done := r.clusterIndex[variant]; !done {
		c := r.clusters[base]
		c.Name = variant
		set(&c)
		r.addCluster(c)
		if base < len(r.epSources) && r.epSources[base].port != nil {
			src := r.epSources[base]
			r.endpointsFrom(variant, src.ns, src.svc, src.port)
		}
	}
	return variant
}

// ingressCluster is the round-robin cluster of an Ingress path's Service port.
func (r *resolver) ingressCluster(rt *route, b *IngressBackend) (string, bool) {
	ns := rt.meta.Namespace
	id := ns + "/" + b.Service
	svc := r.services[objKey{ns, b.Service}]
	if svc == nil {
		rt.refFailed(gwapiv1.RouteReasonBackendNotFound, fmt.Sprintf("Service %s does not exist", id))
		return "", false
	}
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
		return b.Port != 0 && p.Port == b.Port || b.Port == 0 && p.Name == b.PortName
	})
	if i < 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		rt.refFailed(gwapiv1.RouteReasonBackendNotFound, fmt.Sprintf("Service %s has no port %s", id, cmp.Or(b.PortName, fmt.Sprint(b.Port))))
		return "", false
	}
	sp := &svc.Spec.Ports[i]
	if r.tlsPolicies != nil {
		r.usedServices[objKey{ns, b.Service}] = true
	}
	if b.ServiceUpstream || b.Protocol == model.ClusterTCP || b.UpstreamTLS != nil {
		return r.ingressSpecialCluster(rt, b, svc, sp)
	}
	if policy := r.policyFor(objKey{ns, b.Service}, sp.Name); policy != nil || !b.TLS {
		// As an HTTPRoute's backendRef (a BackendTLSPolicy verifies the backend).
		port := sp.Port
		kind := kindHTTPRoute
		if b.Protocol == model.ClusterGRPC {
			kind = kindGRPCRoute
		}
		probe := &route{kind: kind, meta: rt.meta}
		name, ok := r.backend(probe, gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(b.Service), Port: &port})
		if !ok {
			rt.refFailed(probe.refReason, strings.Join(probe.refMsg, "; "))
		}
		return name, ok
	}
	// backend-protocol HTTPS or GRPCS without a policy: encrypted, not verified (ingress-nginx's
	// proxy-ssl-verify off), in a cluster of its own.
	return r.ingressSpecialCluster(rt, b, svc, sp)
}

// ingressStatuses reports each Ingress: attached or not, and its problems.
func (r *resolver) ingressStatuses(rts []*route) []IngressStatus {
	byIngress := map[string]*IngressStatus{} // by namespace/name
	var out []*IngressStatus
	statusOf := func(m *metav1.ObjectMeta) *IngressStatus {
		k := m.Namespace + "/" + m.Name
		st := byIngress[k]
		if st == nil {
			st = &IngressStatus{Namespace: m.Namespace, Name: m.Name}
			byIngress[k] = st
			out = append(out, st)
		}
		return st
	}
	for _, rt := range rts {
		st := statusOf(rt.meta)
		where := "host " + cmp.Or(rt.ingressHost.Host, "*")
		attached := false
		for _, ps := range rt.parents {
			if len(ps.atts) > 0 {
				st.Attached, attached = true, true
			} else if ps.reason != gwapiv1.RouteReasonAccepted {
				st.Problems = append(st.Problems, fmt.Sprintf("%s (%s): %s", where, family(rt.secure), ps.msg))
			}
		}
		if rt.refReason != "" {
			for _, m := range rt.refMsg {
				st.Problems = append(st.Problems, where+": "+m)
			}
		}
		st.Problems = append(st.Problems, rt.notes...)
		// A canary is served where its primary's path is: attached with it, and its own
		// Service's problems.
		for m, u := range rt.canaries {
			cst := statusOf(m)
			cst.Attached = cst.Attached || attached && u.served
			for _, p := range u.problems {
				cst.Problems = append(cst.Problems, where+": "+p)
			}
		}
	}
	for i := range r.in.Ingresses {
		statusOf(r.in.Ingresses[i].Meta)
	}
	res := make([]IngressStatus, 0, len(out))
	for _, st := range out {
		if !st.Attached && len(st.Problems) == 0 {
			st.Problems = append(st.Problems, "the Gateway has no HTTP or HTTPS listener that serves the Ingress's hosts")
		}
		slices.Sort(st.Problems)
		st.Problems = slices.Compact(st.Problems)
		res = append(res, *st)
	}
	slices.SortFunc(res, func(a, b IngressStatus) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return res
}

func family(secure bool) string {
	if secure {
		return "HTTPS"
	}
	return "HTTP"
}

// noteOverrides records, on the Ingress routes of a host group, the paths an HTTPRoute or
// GRPCRoute with the same match serves instead (they come first: see precedence).
func noteOverrides(g *hostGroup) {
	var seen map[string]*route
	for _, x := range g.entries {
		k := matchKey(&x.e.route.Match)
		if x.rt.kind != kindIngress {
			if seen == nil {
				seen = map[string]*route{}
			}
			if seen[k] == nil {
				seen[k] = x.rt
			}
			continue
		}
		if by := seen[k]; by != nil {
			x.rt.notes = append(x.rt.notes, fmt.Sprintf("host %s: path %s is served by %s %s/%s, which overrides this Ingress's path",
				g.domain, x.e.route.Match.Path.Value, by.kind, by.meta.Namespace, by.meta.Name))
		}
	}
}

// matchKey identifies a match for override detection.
func matchKey(m *model.Match) string {
	var b strings.Builder
	if m.Path != nil {
		b.WriteString(string(m.Path.Type) + " " + m.Path.Value)
	}
	b.WriteString("|" + m.Method)
	for _, h := range m.Headers {
		b.WriteString("|h " + h.Name + " " + string(h.Type) + " " + h.Value)
	}
	for _, q := range m.QueryParams {
		b.WriteString("|q " + q.Name + " " + string(q.Type) + " " + q.Value)
	}
	return b.String()
}

// ingressCertificates are the extra SNI chains of an HTTPS listener: the TLS hosts of the
// Ingresses that this listener serves for the host (the most specific listener of the port that
// admits it), each with the Ingress's certificate and the listener's virtual hosts. A host the
// listener's own hostname names exactly keeps the listener's certificate.
func (r *resolver) ingressCertificates(l *listener, port []*listener, vhosts []model.VirtualHost, secrets map[string]bool) []model.FilterChain {
	var out []model.FilterChain
	for _, rt := range ownedIngressHosts(l, port, func(rt *route) bool { return rt.ingressHost.TLSSecret != "" }) {
		h := rt.ingressHost.Host
		name := rt.meta.Namespace + "/" + rt.ingressHost.TLSSecret
		s, ok := r.secrets[name]
		if !ok || !s.ValidTLS {
			rt.notes = append(rt.notes, fmt.Sprintf("host %s: TLS Secret %s is missing or holds no valid certificate and key; the Gateway's certificate is served", h, name))
			continue
		}
		secrets[name] = true
		out = append(out, model.FilterChain{Name: l.source + "/ingress/" + h, ServerNames: []string{h},
			TLS: &model.TLSTermination{CertificateSecrets: []string{name}}, VirtualHosts: vhosts})
	}
	return out
}

// ingressSpecialCluster is the cluster of an Ingress backend that HTTPRoutes never share: to the
// Service's cluster IP (service-upstream, suffix "-svc"), plain TCP for ssl-passthrough, or TLS
// as backend-protocol and proxy-ssl-* ask (unverified: suffix "-tls").
func (r *resolver) ingressSpecialCluster(rt *route, b *IngressBackend, svc *corev1.Service, sp *corev1.ServicePort) (string, bool) {
	ns := rt.meta.Namespace
	name, service := clusterName(ns, b.Service, sp.Port, b.Protocol)
	eps := r.endpoints(ns, svc.Name, sp)
	if b.ServiceUpstream {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone {
			rt.refFailed(gwapiv1.RouteReasonBackendNotFound, fmt.Sprintf("Service %s/%s has no cluster IP for service-upstream", ns, b.Service))
			return "", false
		}
		name += "-svc"
		eps = []model.Endpoint{{Address: ip, Port: sp.Port, Ready: true, Serving: true}}
	}
	var tls *model.UpstreamTLS
	if b.TLS {
		if u := b.UpstreamTLS; u != nil {
			name, tls = r.ingressUpstreamTLS(rt, b, name, u)
		} else {
			name += "-tls"
			tls = &model.UpstreamTLS{Unverified: true, IngressBackendProtocol: true}
		}
	}
	if _, done := r.clusterIndex[name]; !done {
		r.addCluster(model.Cluster{Name: name, Protocol: b.Protocol, Service: service, Port: sp.Port, Endpoints: eps, TLS: tls})
		if !b.ServiceUpstream { // service-upstream's one endpoint is the cluster IP
			r.endpointsFrom(name, ns, svc.Name, sp)
		}
	}
	return name, true
}

// ingressPassthrough are the SNI chains of an HTTPS listener that take the TLS connections of an
// ssl-passthrough host, unterminated, to its backend (for the hosts this listener serves).
func ingressPassthrough(l *listener, port []*listener) []model.FilterChain {
	var out []model.FilterChain
	for _, rt := range ownedIngressHosts(l, port, func(rt *route) bool { return rt.ingressHost.Passthrough != nil && rt.backends != nil }) {
		h := rt.ingressHost.Host
		out = append(out, model.FilterChain{Name: l.source + "/passthrough/" + h, ServerNames: []string{h}, Backends: rt.backends})
	}
	return out
}

// ownedIngressHosts are the HTTPS routes of Ingress hosts attached to l that keep accepts, the
// first for each host that l serves (the most specific listener of the port that admits it) other
// than l's own hostname: the hosts an Ingress gives an SNI chain of its own on l.
func ownedIngressHosts(l *listener, port []*listener, keep func(*route) bool) []*route {
	var out []*route
	seen := map[string]bool{}
	for _, a := range l.routes {
		rt := a.route
		if rt.kind != kindIngress || !rt.secure || !keep(rt) {
			continue
		}
		h := rt.ingressHost.Host
		if h == "" || h == l.hostname || seen[h] || owner(port, h) != l {
			continue
		}
		seen[h] = true
		out = append(out, rt)
	}
	return out
}

// ingressUpstreamTLS is the TLS of a cluster with proxy-ssl-* settings, in a cluster of its own
// per Secret and verification. A Secret that cannot be used makes the cluster fail closed (no
// endpoints: 503), never plaintext or unverified.
func (r *resolver) ingressUpstreamTLS(rt *route, b *IngressBackend, name string, u *IngressUpstreamTLS) (string, *model.UpstreamTLS) {
	verifyName := cmp.Or(u.Name, b.Service+"."+rt.meta.Namespace+".svc")
	t := &model.UpstreamTLS{}
	if u.Secret != "" {
		name += "/" + u.Secret
		if s, ok := r.secrets[u.Secret]; ok && s.ValidTLS {
			t.ClientCertificate = u.Secret
		} else {
			t.Invalid = "proxy-ssl-secret " + u.Secret + " is missing or holds no valid tls.crt and tls.key"
			rt.notes = append(rt.notes, fmt.Sprintf("%s: requests to Service %s fail (503)", t.Invalid, b.Service))
		}
	}
	if !u.Verify {
		t.Unverified, t.IngressBackendProtocol = true, true
		if u.SNI {
			t.SNI = verifyName
		}
		return name + "-tls", t // unverified clusters end in "-tls"
	}
	name += "/verify/" + verifyName // the "-tls" suffix stays only on unverified clusters
	t.SNI = verifyName
	t.SubjectAltNames = []model.SubjectAltName{{Type: "Hostname", Value: verifyName}}
	ns, sec, _ := strings.Cut(u.Secret, "/")
	pem, problem := r.caCertificate(string(kindSecret), ns, sec)
	if t.Invalid != "" {
		return name, t
	}
	if problem != "" {
		t.Invalid = "proxy-ssl-verify: " + problem
		rt.notes = append(rt.notes, fmt.Sprintf("proxy-ssl-verify: %s: requests to Service %s fail (503)", problem, b.Service))
		return name, t
	}
	bundle := "Ingress/" + u.Secret
	t.TrustBundle = bundle
	if r.bundles()[bundle] == nil {
		r.bundleIndex[bundle] = &model.TrustBundle{Name: bundle, PEM: pem}
	}
	return name, t
}
