package gatewayapi

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	infv1 "sigs.k8s.io/gateway-api-inference-extension/api/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// The Inference Extension's group and the kinds a route or a pool names.
const (
	groupInference    gwapiv1.Group = "inference.networking.k8s.io"
	kindInferencePool gwapiv1.Kind  = "InferencePool"
)

// EndpointPickerHealthService is the gRPC service Envoy health-checks an Endpoint Picker's
// endpoints with: the ext_proc service every EPP serves.
const EndpointPickerHealthService = "envoy.service.ext_proc.v3.ExternalProcessor"

// InferencePoolStatus is this Gateway's entry in one InferencePool's status.parents.
type InferencePoolStatus struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Conditions are Accepted and ResolvedRefs, with the pool's generation.
	Conditions []metav1.Condition `json:"conditions"`
}

// poolUse is a pool that the converted routes name, with what resolving it found.
type poolUse struct {
	pool *infv1.InferencePool
	// routes name the pool in a backendRef, in conversion order.
	routes []*route
	// cluster is the index of the pool's cluster in resolver.clusters (-1: none, the backendRef
	// failed); eppOK says the endpointPickerRef resolved (or is absent), eppMsg why not.
	cluster int
	eppOK   bool
	eppMsg  string
}

// poolBackend resolves a backendRef to an InferencePool into the pool's cluster. The backendRef's
// port is ignored, as the Inference Extension says: the pool has its own targetPorts.
func (r *resolver) poolBackend(rt *route, ns, name string) (string, bool) {
	r.impure = true // pools record their uses (see convertHTTPRoute)
	id := ns + "/" + name
	if rt.kind != kindHTTPRoute {
		rt.refFailed(gwapiv1.RouteReasonInvalidKind, fmt.Sprintf("backendRef %s: an InferencePool backs HTTPRoutes only", id))
		return "", false
	}
	if ns != rt.meta.Namespace && !r.granted(gwapiv1.GroupName, rt.kind, rt.meta.Namespace, groupInference, kindInferencePool, ns, name) {
		rt.refFailed(gwapiv1.RouteReasonRefNotPermitted, fmt.Sprintf("backendRef %s: no ReferenceGrant allows the reference to the InferencePool", id))
		return "", false
	}
	key := objKey{ns, name}
	use := r.poolUses[key]
	if use == nil {
		pool := r.findPool(key)
		if pool == nil {
			rt.refFailed(gwapiv1.RouteReasonBackendNotFound, fmt.Sprintf("InferencePool %s does not exist", id))
			return "", false
		}
		use = r.resolvePool(pool)
		if r.poolUses == nil {
			r.poolUses = map[objKey]*poolUse{}
		}
		r.poolUses[key] = use
		r.poolOrder = append(r.poolOrder, key)
	}
	use.routes = append(use.routes, rt)
	if !use.eppOK {
		rt.refFailed(gwapiv1.RouteReasonBackendNotFound, fmt.Sprintf("InferencePool %s: %s", id, use.eppMsg))
		return "", false
	}
	c := &r.clusters[use.cluster]
	if c.EndpointPicker != nil {
		r.checkClusterTLS(rt, r.clusterIndex[c.EndpointPicker.Cluster])
	}
	return c.Name, true
}

// findPool is the InferencePool ns/name of the input, or nil.
func (r *resolver) findPool(key objKey) *infv1.InferencePool {
	if r.pools == nil {
		r.pools = make(map[objKey]*infv1.InferencePool, len(r.in.InferencePools))
		for _, p := range r.in.InferencePools {
			r.pools[objKey{p.Namespace, p.Name}] = p
		}
	}
	return r.pools[key]
}

// resolvePool builds a pool's cluster (and its Endpoint Picker's) the first time a route names
// it. A pool whose endpointPickerRef cannot be resolved gets no cluster: routes to it fail
// (BackendNotFound) rather than bypass the picker.
func (r *resolver) resolvePool(pool *infv1.InferencePool) *poolUse {
	use := &poolUse{pool: pool, cluster: -1}
	var picker *model.EndpointPicker
	if ref := pool.Spec.EndpointPickerRef; ref != nil {
		epp, msg := r.endpointPicker(pool.Namespace, ref)
		if epp == "" {
			use.eppMsg = msg
			return use
		}
		picker = &model.EndpointPicker{Cluster: epp, FailOpen: ref.FailureMode == infv1.EndpointPickerFailOpen}
	}
	use.eppOK = true
	proto, suffix := model.ClusterHTTP, "/inferencepool/http"
	if pool.Spec.AppProtocol == infv1.AppProtocolH2C {
		proto, suffix = model.ClusterH2C, "/inferencepool/h2c"
	}
	name := strings.ToLower(pool.Namespace + "/" + pool.Name + suffix)
	if i, ok := r.clusterIndex[name]; ok { // two pools cannot share a name: only a model bug gets here
		use.cluster = i
		return use
	}
	use.cluster = r.addCluster(model.Cluster{Name: name, Protocol: proto, InferencePool: pool.Namespace + "/" + pool.Name,
		Endpoints: r.poolEndpoints(pool), EndpointPicker: picker})
	return use
}

// endpointPicker resolves an endpointPickerRef into the cluster of the picker's Service port, or
// says why it cannot be used. The picker speaks gRPC over TLS: verified when a BackendTLSPolicy
// targets the Service (port), else encrypted without verification, as Endpoint Pickers serve a
// self-signed certificate by default.
func (r *resolver) endpointPicker(ns string, ref *infv1.EndpointPickerRef) (cluster, msg string) {
	group, kind := "", cmp.Or(string(ref.Kind), string(kindService))
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	id := ns + "/" + string(ref.Name)
	if group != "" || kind != string(kindService) {
		return "", fmt.Sprintf("endpointPickerRef %s: kind %s/%s is not supported (only a Service)", id, group, kind)
	}
	svcKey := objKey{ns, string(ref.Name)}
	svc := r.services[svcKey]
	if svc == nil {
		return "", fmt.Sprintf("the Endpoint Picker Service %s does not exist", id)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return "", fmt.Sprintf("the Endpoint Picker Service %s is of type ExternalName, which is not supported", id)
	}
	if ref.Port == nil {
		return "", fmt.Sprintf("endpointPickerRef %s: port is required for a Service", id)
	}
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == int32(ref.Port.Number) })
	if i < 0 || cmp.Or(svc.Spec.Ports[i].Protocol, corev1.ProtocolTCP) != corev1.ProtocolTCP {
		return "", fmt.Sprintf("the Endpoint Picker Service %s has no TCP port %d", id, ref.Port.Number)
	}
	sp := &svc.Spec.Ports[i]
	if r.tlsPolicies != nil {
		r.usedServices[svcKey] = true
	}
	name := strings.ToLower(ns + "/" + string(ref.Name) + "/" + strconv.Itoa(int(sp.Port)) + "/epp")
	if _, ok := r.clusterIndex[name]; !ok {
		tls := r.upstreamTLS(r.policyFor(svcKey, sp.Name), model.ClusterGRPC)
		if tls == nil {
			tls = &model.UpstreamTLS{Unverified: true}
		}
		r.addCluster(model.Cluster{Name: name, Protocol: model.ClusterGRPC, Service: id, Port: sp.Port,
			Endpoints: r.endpoints(ns, svc.Name, sp), TLS: tls, GRPCHealthCheck: EndpointPickerHealthService})
		r.endpointsFrom(name, ns, svc.Name, sp)
	}
	return name, ""
}

// poolEndpoints are podIP × targetPort of the ready Pods the pool selects, sorted.
func (r *resolver) poolEndpoints(pool *infv1.InferencePool) []model.Endpoint {
	var out []model.Endpoint
	for _, p := range r.podCandidates(pool) {
		if !PoolSelects(pool, p) || !PodReady(p) {
			continue
		}
		for _, tp := range pool.Spec.TargetPorts {
			out = append(out, model.Endpoint{Address: p.Status.PodIP, Port: int32(tp.Number), Ready: true, Serving: true})
		}
	}
	slices.SortFunc(out, func(a, b model.Endpoint) int {
		return cmp.Or(cmp.Compare(a.Address, b.Address), cmp.Compare(a.Port, b.Port))
	})
	return slices.CompactFunc(out, func(a, b model.Endpoint) bool { return a.Address == b.Address && a.Port == b.Port })
}

// podLabel is one label of the Pods of a namespace: the key of resolver.podIndex.
type podLabel struct{ ns, key string }

// podCandidates are the Pods of the pool's namespace that carry one of its selector's labels (the
// smallest key by name): with many pools in a namespace, each looks at its own Pods only. The
// index of a label key is built the first time a pool selects on it.
func (r *resolver) podCandidates(pool *infv1.InferencePool) []*corev1.Pod {
	sel := pool.Spec.Selector.MatchLabels
	if len(sel) == 0 {
		return nil
	}
	key := slices.Min(slices.Collect(maps.Keys(sel)))
	idx, ok := r.podIndex[podLabel{pool.Namespace, string(key)}]
	if !ok {
		idx = map[string][]*corev1.Pod{}
		for _, p := range r.in.Pods {
			if v, has := p.Labels[string(key)]; has && p.Namespace == pool.Namespace {
				idx[v] = append(idx[v], p)
			}
		}
		if r.podIndex == nil {
			r.podIndex = map[podLabel]map[string][]*corev1.Pod{}
		}
		r.podIndex[podLabel{pool.Namespace, string(key)}] = idx
	}
	return idx[string(sel[key])]
}

// PoolSelects says the pool's selector matches the Pod's labels (a Pod of the pool's namespace).
// An empty selector selects nothing (the API requires one), never every Pod of the namespace.
func PoolSelects(pool *infv1.InferencePool, p *corev1.Pod) bool {
	sel := pool.Spec.Selector.MatchLabels
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if got, ok := p.Labels[string(k)]; !ok || got != string(v) {
			return false
		}
	}
	return true
}

// PodReady says a Pod takes traffic: it has an IP, is Ready and is not being deleted.
func PodReady(p *corev1.Pod) bool {
	if p.Status.PodIP == "" || p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// poolStatuses are this Gateway's entries for the pools the converted routes name, sorted.
// Accepted says whether a route that names the pool is accepted by the Gateway; ResolvedRefs
// whether the endpointPickerRef resolved.
func (r *resolver) poolStatuses() []InferencePoolStatus {
	out := make([]InferencePoolStatus, 0, len(r.poolOrder))
	for _, key := range r.poolOrder {
		use := r.poolUses[key]
		c := conds{gen: use.pool.Generation}
		var accepted []string
		for _, rt := range use.routes {
			if rt.acceptedByAParent() && !slices.Contains(accepted, rt.id()) {
				accepted = append(accepted, rt.id())
			}
		}
		if len(accepted) > 0 {
			c.set(string(infv1.InferencePoolConditionAccepted), true, string(infv1.InferencePoolReasonAccepted),
				"Used by HTTPRoute "+strings.Join(accepted, ", ")+", accepted by the Gateway")
		} else {
			c.set(string(infv1.InferencePoolConditionAccepted), false, string(infv1.InferencePoolReasonHTTPRouteNotAccepted),
				"No HTTPRoute that uses the pool is accepted by the Gateway")
		}
		switch {
		case !use.eppOK:
			c.set(string(infv1.InferencePoolConditionResolvedRefs), false, string(infv1.InferencePoolReasonInvalidExtensionRef), use.eppMsg)
		case use.pool.Spec.EndpointPickerRef == nil:
			c.set(string(infv1.InferencePoolConditionResolvedRefs), true, string(infv1.InferencePoolReasonResolvedRefs),
				"No endpointPickerRef: requests are balanced round robin across the pool's ready endpoints")
		default:
			c.set(string(infv1.InferencePoolConditionResolvedRefs), true, string(infv1.InferencePoolReasonResolvedRefs), "The Endpoint Picker resolved")
		}
		out = append(out, InferencePoolStatus{Namespace: key.ns, Name: key.name, Conditions: c.list})
	}
	slices.SortFunc(out, func(a, b InferencePoolStatus) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// acceptedByAParent says one of the route's parentRefs to this Gateway accepted it (see status).
func (rt *route) acceptedByAParent() bool {
	for _, ps := range rt.parents {
		if ps.reason == gwapiv1.RouteReasonAccepted && slices.ContainsFunc(ps.atts, func(a *attachment) bool { return !a.rejected }) {
			return true
		}
	}
	return false
}
