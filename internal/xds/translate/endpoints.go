package translate

import (
	"cmp"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// UpdateEndpoints is Translate for a fleet that differs from the one prev was translated from
// only in the endpoints of the clusters changed (gatewayapi's Result.SetEndpoints gives them):
// a Resources that shares every listener, route configuration, cluster, secret and unchanged
// ClusterLoadAssignment with prev (the same pointers, so a publisher that remembers them hashes
// nothing again) and has the changed clusters' ClusterLoadAssignments built again exactly as
// Translate builds them. Clusters do not depend on their endpoints (EDS), so nothing else moves.
//
// ok is false when the shortcut would not be exactly Translate's result: prev has warnings (which
// endpoints may have made), a changed cluster is not in prev, or a new endpoint is one Translate
// would leave out with a warning. Translate the fleet in full then.
func UpdateEndpoints(prev *Resources, changed []*model.Cluster) (res *Resources, ok bool) {
	if prev == nil || len(prev.Warnings) > 0 {
		return nil, false
	}
	out := *prev
	if len(changed) == 0 {
		return &out, true
	}
	out.Endpoints = slices.Clone(prev.Endpoints)
	b := &builder{}
	for _, mc := range changed {
		j, i, found := prev.clusterAt(mc.Name)
		if !found {
			return nil, false
		}
		if mc.TLS != nil && prev.Clusters[j].GetTransportSocket() == nil {
			continue // the cluster fails closed (its backend TLS cannot be set up): no endpoints, whatever they are
		}
		cla := b.loadAssignment(mc)
		if len(b.warnings) > 0 || cla.ValidateAll() != nil {
			return nil, false
		}
		out.Endpoints[i] = cla
	}
	return &out, true
}

// TranslateFrom is Translate, reusing what it can of prev, the translation of prevFleet (the
// fleet's last one): a cluster whose model is the same as before (and that depends on nothing
// else: no backend TLS, no Endpoint Picker or pool) keeps its Cluster message, and, with the same
// endpoints, its ClusterLoadAssignment, so that a route edit rebuilds no cluster and Publish
// hashes none of them again. The result is exactly Translate's (the differential test checks it);
// without prev, or when prev has warnings (which reused messages would not repeat), it is
// Translate.
func TranslateFrom(f *model.Fleet, secrets map[string]TLSSecret, prev *Resources, prevFleet *model.Fleet) (*Resources, error) {
	if prev == nil || prevFleet == nil || len(prev.Warnings) > 0 || !sameTelemetry(f.Telemetry, prevFleet.Telemetry) {
		// Telemetry is in every connection manager and route: nothing of prev is kept.
		return Translate(f, secrets)
	}
	// The fleet's clusters come sorted by name, as prevFleet's and prev's do: the reuse walks
	// them together (cursor finds each by binary search when they are not in that order).
	before := cursor[model.Cluster]{items: prevFleet.Clusters, name: func(c *model.Cluster) string { return c.Name }}
	clusters := cursor[*clusterv3.Cluster]{items: prev.Clusters, name: func(c **clusterv3.Cluster) string { return (*c).GetName() }}
	clas := cursor[*endpointv3.ClusterLoadAssignment]{items: prev.Endpoints,
		name: func(c **endpointv3.ClusterLoadAssignment) string { return (*c).GetClusterName() }}
	return translate(f, secrets, func(b *builder, mc *model.Cluster) (*clusterv3.Cluster, *endpointv3.ClusterLoadAssignment, bool, bool) {
		k, ok := before.find(mc.Name)
		if !ok {
			return nil, nil, false, false
		}
		old := &prevFleet.Clusters[k]
		if dependent(*mc) || b.pickers[mc.Name] || !sameCluster(old, mc) {
			return nil, nil, false, false
		}
		i, ifound := clusters.find(mc.Name)
		j, jfound := clas.find(mc.Name)
		if !ifound || !jfound {
			return nil, nil, false, false
		}
		if !slices.Equal(old.Endpoints, mc.Endpoints) {
			return prev.Clusters[i], b.loadAssignment(mc), false, true
		}
		return prev.Clusters[i], prev.Endpoints[j], true, true
	}, prev, prevFleet)
}

// cursor finds items by name in a slice sorted by name: in amortised constant time when asked in
// increasing order, by binary search otherwise.
type cursor[T any] struct {
	items []T
	name  func(*T) string
	at    int
}

func (c *cursor[T]) find(n string) (int, bool) {
	for c.at < len(c.items) && c.name(&c.items[c.at]) < n {
		c.at++
	}
	if c.at < len(c.items) && c.name(&c.items[c.at]) == n {
		return c.at, true
	}
	return slices.BinarySearchFunc(c.items, n, func(x T, n string) int { return cmp.Compare(c.name(&x), n) })
}

// sameCluster says whether two model clusters give the same Cluster message.
func sameCluster(a, b *model.Cluster) bool {
	return a.Name == b.Name && a.Protocol == b.Protocol && a.Service == b.Service && a.Port == b.Port &&
		a.ConnectTimeout == b.ConnectTimeout && (a.LoadBalancer == nil) == (b.LoadBalancer == nil) &&
		(a.LoadBalancer == nil || *a.LoadBalancer == *b.LoadBalancer)
}

// clusterAt finds the cluster and the ClusterLoadAssignment of a name in r (both sorted by name,
// as Translate leaves them); found is false unless both are there.
func (r *Resources) clusterAt(name string) (cluster, cla int, found bool) {
	cluster, cfound := slices.BinarySearchFunc(r.Clusters, name, func(c *clusterv3.Cluster, name string) int { return cmp.Compare(c.GetName(), name) })
	cla, efound := slices.BinarySearchFunc(r.Endpoints, name, func(e *endpointv3.ClusterLoadAssignment, name string) int {
		return cmp.Compare(e.GetClusterName(), name)
	})
	return cluster, cla, cfound && efound
}
