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
		i, found := slices.BinarySearchFunc(out.Endpoints, mc.Name, func(cla *endpointv3.ClusterLoadAssignment, name string) int {
			return cmp.Compare(cla.GetClusterName(), name)
		})
		j, cfound := slices.BinarySearchFunc(prev.Clusters, mc.Name, func(c *clusterv3.Cluster, name string) int {
			return cmp.Compare(c.GetName(), name)
		})
		if !found || !cfound {
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
