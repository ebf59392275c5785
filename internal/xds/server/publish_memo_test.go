package server

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

func memoCLA(name string, ip int) *endpointv3.ClusterLoadAssignment {
	addr := &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: fmt.Sprintf("10.0.%d.%d", ip/250%250, ip%250), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 80}}}}
	lb := &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: addr}}}
	return &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{lb}}}}
}

func memoCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{Name: name, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}}}
}

// Publish's reuse of the hashes of resources it saw before (the same objects) gives exactly what
// hashing everything gives: after random edits that keep objects, replace them with equal or
// different ones, rename, add, remove and reorder them, the versions and the served resources
// and per-resource hashes equal those of a server that sees the resources for the first time.
func TestPublishReusesHashesExactly(t *testing.T) {
	for seed := range uint64(5) {
		rng := rand.New(rand.NewPCG(seed, 2))
		var clusters, clas []types.Resource
		for i := range 40 {
			n := fmt.Sprintf("c-%d", i)
			clusters, clas = append(clusters, memoCluster(n)), append(clas, memoCLA(n, i))
		}
		inc := New(Options{})
		next := 1000
		for step := range 80 {
			clusters, clas = slices.Clone(clusters), slices.Clone(clas)
			i := rng.IntN(len(clas))
			name := clas[i].(*endpointv3.ClusterLoadAssignment).ClusterName
			switch rng.IntN(7) {
			case 0, 1: // a new endpoint (the common case)
				next++
				clas[i] = memoCLA(name, next)
			case 2: // a new object equal to one published before
				clas[i] = memoCLA(name, i)
			case 3: // renamed
				n := fmt.Sprintf("r-%d", step)
				clusters[i], clas[i] = memoCluster(n), memoCLA(n, i)
			case 4: // added
				n := fmt.Sprintf("a-%d", step)
				clusters, clas = append(clusters, memoCluster(n)), append(clas, memoCLA(n, step))
			case 5: // removed
				if len(clas) > 2 {
					clusters, clas = slices.Delete(clusters, i, i+1), slices.Delete(clas, i, i+1)
				}
			case 6: // reordered
				rng.Shuffle(len(clas), func(a, b int) {
					clas[a], clas[b] = clas[b], clas[a]
					clusters[a], clusters[b] = clusters[b], clusters[a]
				})
			}
			res := map[resource.Type][]types.Resource{resource.ClusterType: clusters, resource.EndpointType: clas}
			if _, err := inc.Publish("f", res); err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			fresh := New(Options{})
			if _, err := fresh.Publish("f", res); err != nil {
				t.Fatal(err)
			}
			if a, b := inc.Versions("f"), fresh.Versions("f"); !maps.Equal(a, b) {
				t.Fatalf("seed %d step %d: versions %v, hashing everything gives %v", seed, step, a, b)
			}
			for typ, want := range fresh.fleets["f"].content {
				got := inc.fleets["f"].content[typ]
				if !maps.Equal(got.hashes, want.hashes) || len(got.items) != len(want.items) {
					t.Fatalf("seed %d step %d: %s served hashes differ", seed, step, typ)
				}
				for n := range want.items {
					if _, ok := got.items[n]; !ok {
						t.Fatalf("seed %d step %d: %s %s is not served", seed, step, typ, n)
					}
				}
			}
		}
	}
}

// A listener that keeps its name but now names a route configuration the snapshot lacks is
// refused, though every other resource is the same object as before.
func TestPublishChecksChangedReferences(t *testing.T) {
	s := New(Options{})
	first := specA().resources()
	if _, err := s.Publish("f", first); err != nil {
		t.Fatal(err)
	}
	second := maps.Clone(first)
	l := specB().resources()[resource.ListenerType][0].(*listenerv3.Listener)
	l.Name = first[resource.ListenerType][0].(*listenerv3.Listener).Name // names route configuration b-routes
	second[resource.ListenerType] = []types.Resource{l}
	if _, err := s.Publish("f", second); err == nil || !strings.Contains(err.Error(), "inconsistent") {
		t.Fatalf("published a listener naming a missing route configuration: %v", err)
	}
}

// TestPublishKeepsNoChainOfPublishes: the shortcut's link to the last publish is gone once a
// publish is done, or every publish would keep the one before it alive (and its resources).
func TestPublishKeepsNoChainOfPublishes(t *testing.T) {
	s := New(Options{})
	var clusters, clas []types.Resource
	for i := range 40 {
		n := fmt.Sprintf("c-%d", i)
		clusters, clas = append(clusters, memoCluster(n)), append(clas, memoCLA(n, i))
	}
	for step := range 5 {
		clas = slices.Clone(clas)
		clas[step] = memoCLA(fmt.Sprintf("c-%d", step), 100+step) // one endpoint: the shortcut
		if _, err := s.Publish("f", map[string][]types.Resource{resource.ClusterType: clusters, resource.EndpointType: clas}); err != nil {
			t.Fatal(err)
		}
		f := s.fleetEntry("f")
		f.mu.Lock()
		for typ, h := range f.hashed {
			if h != nil && h.base != nil {
				t.Errorf("step %d: the %s kept the publish before it", step, typ)
			}
		}
		f.mu.Unlock()
	}
}
