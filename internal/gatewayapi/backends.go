package gatewayapi

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// appProtocol values (Kubernetes' standard ones) and what Envoy speaks to them.
const (
	appProtocolH2C = "kubernetes.io/h2c"
	appProtocolWS  = "kubernetes.io/ws"
	appProtocolWSS = "kubernetes.io/wss"
)

// backendKey is a backendRef of a route kind, for the cache of resolved cluster names.
type backendKey struct {
	ns, name string
	port     int32
	kind     gwapiv1.Kind
}

// backend resolves one backendRef of rt into a cluster name. When the reference is unusable it
// records why on rt (ResolvedRefs) and returns ok false.
func (r *resolver) backend(rt *route, ref gwapiv1.BackendObjectReference) (string, bool) {
	ns := refNamespace(rt.meta.Namespace, ref.Namespace)
	group, kind := gwapiv1.Group(""), kindService
	if ref.Group != nil {
		group = *ref.Group
	}
	if ref.Kind != nil {
		kind = *ref.Kind
	}
	id := func() string { return ns + "/" + string(ref.Name) }
	if group == groupInference && kind == kindInferencePool {
		return r.poolBackend(rt, ns, string(ref.Name))
	}
	if group != "" || kind != kindService {
		rt.refFailed(gwapiv1.RouteReasonInvalidKind, fmt.Sprintf("backendRef %s: kind %s/%s is not supported", id(), group, kind))
		return "", false
	}
	fromGroup, protoKind := gwapiv1.Group(gwapiv1.GroupName), rt.kind
	if rt.backendKind != "" {
		fromGroup, protoKind = groupFlotilla, rt.backendKind
	}
	if rt.protoKind != "" {
		protoKind = rt.protoKind
	}
	if ns != rt.meta.Namespace && !rt.trustedRefs && !r.granted(fromGroup, rt.kind, rt.meta.Namespace, "", kindService, ns, string(ref.Name)) {
		rt.refFailed(gwapiv1.RouteReasonRefNotPermitted, fmt.Sprintf("backendRef %s: no ReferenceGrant allows the reference", id()))
		return "", false
	}
	var key backendKey
	if ref.Port != nil {
		key = backendKey{ns: ns, name: string(ref.Name), port: *ref.Port, kind: protoKind}
		if i, ok := r.backends[key]; ok {
			r.checkClusterTLS(rt, i)
			r.noteCluster(i)
			return r.clusters[i].Name, true
		}
	}
	svcKey := objKey{ns, string(ref.Name)}
	svc := r.services[svcKey]
	if svc == nil {
		rt.refFailed(gwapiv1.RouteReasonBackendNotFound, fmt.Sprintf("Service %s does not exist", id()))
		return "", false
	}
	if r.tlsPolicies != nil { // only policies' status needs it
		r.usedServices[svcKey] = true
		if r.recording {
			r.recServices = append(r.recServices, svcKey)
		}
	}
	if ref.Port == nil {
		rt.refFailed(gwapiv1.RouteReasonBackendNotFound, fmt.Sprintf("backendRef %s: port is required for a Service", id()))
		return "", false
	}
	i := 0
	for i < len(svc.Spec.Ports) && svc.Spec.Ports[i].Port != *ref.Port {
		i++
	}
	if i == len(svc.Spec.Ports) || svc.Spec.Type == corev1.ServiceTypeExternalName {
		rt.refFailed(gwapiv1.RouteReasonBackendNotFound, fmt.Sprintf("Service %s has no port %d", id(), *ref.Port))
		return "", false
	}
	sp := &svc.Spec.Ports[i]
	var policy *tlsPolicy
	if protoKind != kindPassthroughTLSRoute {
		policy = r.policyFor(svcKey, sp.Name)
	}
	proto, ok := clusterProtocol(protoKind, sp, policy != nil)
	if !ok {
		msg := fmt.Sprintf("Service %s port %d: protocol %s (appProtocol %q) cannot carry a %s",
			id(), sp.Port, cmp.Or(sp.Protocol, corev1.ProtocolTCP), ptrOr(sp.AppProtocol), rt.kind)
		if tlsAppProtocol(sp) {
			msg = fmt.Sprintf("Service %s port %d: appProtocol %q needs TLS, and no BackendTLSPolicy targets the port", id(), sp.Port, ptrOr(sp.AppProtocol))
		}
		rt.refFailed(gwapiv1.RouteReasonUnsupportedProtocol, msg)
		return "", false
	}
	name, service := clusterName(ns, string(ref.Name), sp.Port, proto)
	c, done := r.clusterIndex[name]
	if !done {
		c = r.addCluster(model.Cluster{Name: name, Protocol: proto, Service: service, Port: sp.Port, Endpoints: r.endpoints(ns, svc.Name, sp),
			TLS: r.upstreamTLS(policy, proto)})
		r.endpointsFrom(name, ns, svc.Name, sp)
	}
	r.backends[key] = c
	r.checkClusterTLS(rt, c)
	r.noteCluster(c)
	return name, true
}

// endpointsFrom records that the endpoints of cluster name are those of the Service's port, from
// its EndpointSlices (see Result.SetEndpoints).
func (r *resolver) endpointsFrom(name, ns, svc string, sp *corev1.ServicePort) {
	i := r.clusterIndex[name]
	if len(r.epSources) <= i {
		r.epSources = append(r.epSources, make([]endpointSource, i+1-len(r.epSources))...)
	}
	r.epSources[i] = endpointSource{ns: ns, svc: svc, port: sp}
}

// addCluster adds a cluster (of a name not yet used) and returns its index.
func (r *resolver) addCluster(c model.Cluster) int {
	if r.clusterIndex == nil {
		r.clusterIndex = map[string]int{}
	}
	r.clusterIndex[c.Name] = len(r.clusters)
	r.clusters = append(r.clusters, c)
	return len(r.clusters) - 1
}

// clusterName is "<ns>/<service>/<port>/<protocol>" in lower case.
// clusterName is "<ns>/<service>/<port>/<protocol>" in lower case; service is "<ns>/<name>"
// (which shares the name's memory when it is in lower case already, as Kubernetes names are).
func clusterName(ns, svc string, port int32, proto model.ClusterProtocol) (name, service string) {
	var buf [128]byte
	b := append(buf[:0], ns...)
	b = append(b, '/')
	b = append(b, svc...)
	n := len(b)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(port), 10)
	b = append(b, '/')
	b = append(b, proto...)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	if !isASCII(b) {
		return strings.ToLower(string(b)), ns + "/" + svc
	}
	name = string(b)
	if service = name[:n]; service != ns+"/"+svc {
		service = ns + "/" + svc
	}
	return name, service
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func ptrOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// kindPassthroughTLSRoute is the protocol kind of a TLSRoute's backends on a Passthrough listener
// (never a route's own kind): the client's TLS goes through as it is, so no BackendTLSPolicy
// applies (Gateway API's policy is for HTTPRoute, GRPCRoute and TLSRoute with termination).
const kindPassthroughTLSRoute gwapiv1.Kind = "TLSRoute(Passthrough)"

// clusterProtocol is what Envoy speaks to a Service port for a route kind; ok is false when the
// port cannot carry that kind: the wrong transport, or an appProtocol that asks for TLS (https,
// tls, kubernetes.io/wss) on a port no BackendTLSPolicy targets (tls false). With a policy, those
// are HTTP/1.1 (WebSocket for wss) over the TLS the policy configures.
func clusterProtocol(kind gwapiv1.Kind, sp *corev1.ServicePort, tls bool) (model.ClusterProtocol, bool) {
	transport := cmp.Or(sp.Protocol, corev1.ProtocolTCP)
	if kind == kindUDPRoute {
		return model.ClusterUDP, transport == corev1.ProtocolUDP
	}
	if transport != corev1.ProtocolTCP {
		return "", false
	}
	switch kind {
	case kindTCPRoute, kindTLSRoute:
		return model.ClusterTCP, true
	case kindPassthroughTLSRoute:
		return model.ClusterTLSPassthrough, true
	}
	if !tls && tlsAppProtocol(sp) {
		return "", false
	}
	app := ptrOr(sp.AppProtocol)
	switch {
	case kind == kindGRPCRoute:
		return model.ClusterGRPC, true
	case app == appProtocolH2C:
		return model.ClusterH2C, true
	case app == appProtocolWS || strings.EqualFold(app, appProtocolWSS):
		return model.ClusterWebSocket, true
	}
	return model.ClusterHTTP, true
}

// tlsAppProtocol says the port's appProtocol asks for TLS.
func tlsAppProtocol(sp *corev1.ServicePort) bool {
	switch strings.ToLower(ptrOr(sp.AppProtocol)) {
	case appProtocolWSS, "https", "tls":
		return true
	}
	return false
}

// endpoints are the Service port's endpoints from its EndpointSlices: ready ones, and serving ones
// that are terminating (Envoy uses those only when nothing is ready). Sorted, without duplicates.
func (r *resolver) endpoints(ns, svc string, sp *corev1.ServicePort) []model.Endpoint {
	proto := cmp.Or(sp.Protocol, corev1.ProtocolTCP)
	found := r.slices[objKey{ns, svc}]
	ess := found.all()
	n := 0
	for _, es := range ess {
		n += len(es.Endpoints) // one address each, in practice
	}
	out := make([]model.Endpoint, 0, n)
	for _, es := range ess {
		if es.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		var port int32 = -1
		for _, p := range es.Ports {
			if ptrOr(p.Name) == sp.Name && (p.Protocol == nil || *p.Protocol == proto) && p.Port != nil {
				port = *p.Port
			}
		}
		if port < 0 {
			continue
		}
		for i := range es.Endpoints {
			ep := &es.Endpoints[i]
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			serving := ready
			if ep.Conditions.Serving != nil {
				serving = *ep.Conditions.Serving
			}
			terminating := ep.Conditions.Terminating != nil && *ep.Conditions.Terminating
			if !ready && !(serving && terminating) {
				continue
			}
			for _, a := range ep.Addresses {
				out = append(out, model.Endpoint{Address: a, Port: port, Ready: ready, Serving: serving,
					Terminating: terminating, Zone: ptrOr(ep.Zone)})
			}
		}
	}
	slices.SortFunc(out, func(a, b model.Endpoint) int {
		return cmp.Or(cmp.Compare(a.Address, b.Address), cmp.Compare(a.Port, b.Port), boolCmp(b.Ready, a.Ready))
	})
	if len(out) == 0 {
		return nil
	}
	return slices.CompactFunc(out, func(a, b model.Endpoint) bool { return a.Address == b.Address && a.Port == b.Port })
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// weighted resolves a rule's n backendRefs into Backends: valid refs become weighted clusters,
// invalid ones add their weight to InvalidWeight (answered with a 500). Zero weights are dropped.
// filters, when not nil, gives the filters of the i-th backendRef.
func (r *resolver) weighted(rt *route, n int, refAt func(i int) *gwapiv1.BackendRef, filters func(i int) []model.Filter) *model.Backends {
	b := &model.Backends{}
	for i := range n {
		ref := refAt(i)
		w := uint32(1)
		if ref.Weight != nil {
			w = uint32(max(*ref.Weight, 0))
		}
		name, ok := r.backend(rt, ref.BackendObjectReference)
		switch {
		case !ok:
			b.InvalidWeight += w
		case w > 0:
			if b.Clusters == nil {
				b.Clusters = make([]model.WeightedCluster, 0, n-i)
			}
			wc := model.WeightedCluster{Cluster: name, Weight: w}
			if filters != nil {
				wc.Filters = filters(i)
			}
			b.Clusters = append(b.Clusters, wc)
		}
	}
	return b
}
