package gatewayapi

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// endpointSource is where a cluster's endpoints come from: a Service port's EndpointSlices.
type endpointSource struct {
	ns, svc string
	port    *corev1.ServicePort // of the input's Service (read-only)
}

// endpointSources keeps what SetEndpoints needs of the resolver: where each cluster's endpoints
// come from (by the resolver's cluster index) and that index. The per-Service index is built on
// first use: most resolutions never take an endpoint update.
func (res *Result) endpointSources(r *resolver) {
	if len(r.epSources) > 0 {
		res.epSources, res.epIndex = r.epSources, r.clusterIndex
	}
}

// sourceOf is where the endpoints of the cluster of a name come from; ok false when not from
// EndpointSlices.
func (res *Result) sourceOf(name string) (endpointSource, bool) {
	if j, ok := res.epIndex[name]; ok && j < len(res.epSources) && res.epSources[j].port != nil {
		return res.epSources[j], true
	}
	s, ok := res.epExtra[name]
	return s, ok && s.port != nil
}

// fed is a cluster of the fleet (its index) and the Service port whose slices feed it.
type fed struct {
	cluster int
	port    *corev1.ServicePort
}

// indexSources builds byService: the fleet's clusters fed by each Service's EndpointSlices.
func (res *Result) indexSources() {
	if res.byService != nil || (res.epSources == nil && res.epExtra == nil) {
		return
	}
	res.byService = map[string][]fed{}
	for i := range res.Fleet.Clusters {
		s, ok := res.sourceOf(res.Fleet.Clusters[i].Name)
		if !ok {
			continue
		}
		k := s.ns + "/" + s.svc
		res.byService[k] = append(res.byService[k], fed{i, s.port})
	}
}

// UsesEndpointsOf says whether the endpoints of some cluster of the fleet come from the
// EndpointSlices of Service ns/name.
func (res *Result) UsesEndpointsOf(ns, name string) bool {
	res.indexSources()
	_, ok := res.byService[ns+"/"+name]
	return ok
}

// SetEndpoints makes res what Resolve gives for an input that differs from res's only in the
// EndpointSlices of the Services of eps ("ns/name" → every EndpointSlice of the Service; a
// Service that is not a key keeps its endpoints): the endpoints of those Services' clusters are
// computed again, in place, and the clusters whose endpoints changed are returned (pointers into
// res.Fleet.Clusters). Nothing else of a resolution depends on endpoints: routes, statuses and
// the clusters' other fields stay as they are. res must be its caller's alone: copying the
// fleet's clusters would cost more than the change (a 10,000-route fleet has 20,000).
func (res *Result) SetEndpoints(eps map[string][]*discoveryv1.EndpointSlice) []*model.Cluster {
	res.indexSources()
	if res.sharedClusters { // the patch state's too (see ResolveFrom): this result gets its own
		res.Fleet.Clusters, res.sharedClusters = slices.Clone(res.Fleet.Clusters), false
	}
	var changed []*model.Cluster
	r := &resolver{slices: make(map[objKey]endpointSlices, len(eps))}
	for k, ss := range eps {
		clusters := res.byService[k]
		if len(clusters) == 0 {
			continue
		}
		ns, name, _ := strings.Cut(k, "/")
		key := objKey{ns, name}
		var set endpointSlices
		for _, es := range ss {
			if es.Namespace == ns && es.Labels[discoveryv1.LabelServiceName] == name {
				set = set.add(es)
			}
		}
		r.slices[key] = set
		for _, f := range clusters {
			c := &res.Fleet.Clusters[f.cluster]
			if e := r.endpoints(ns, name, f.port); !slices.Equal(e, c.Endpoints) {
				c.Endpoints = e
				changed = append(changed, c)
			}
		}
	}
	return changed
}
