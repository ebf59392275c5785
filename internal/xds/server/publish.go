package server

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
)

// envoyTypes always have a version, even when a fleet has none of their resources: Envoy waits
// for a first CDS and LDS response before it is initialised, and an empty one is an answer.
var envoyTypes = []string{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType, resource.SecretType}

// fleetHash keys snapshots by node.cluster. The callbacks have checked it against the stream's
// client certificate before any request reaches the cache.
type fleetHash struct{}

func (fleetHash) ID(node *corev3.Node) string { return node.GetCluster() }

// fleetEntry is a published fleet. Its lock serialises Publish and Forget for the fleet.
type fleetEntry struct {
	mu      sync.Mutex
	gone    bool                    // forgotten: a Publish holding this entry starts over
	content map[string]*typeContent // by type URL
}

// typeContent is one type's published resources with their version and per-resource versions
// (the latter serve delta xDS, and use go-control-plane's own formula so delta clients'
// initial_resource_versions from another replica match).
type typeContent struct {
	version string
	items   map[string]types.ResourceWithTTL
	hashes  map[string]string
}

// hashed is one type's resources as Publish received them, hashed but not yet indexed.
type hashed struct {
	version string
	entries []hashedResource
}

type hashedResource struct {
	name string
	sum  [sha256.Size]byte
	res  types.Resource
}

var marshalBuffers = sync.Pool{New: func() any { return new([]byte) }}

// Publish sets a fleet's resources, keyed by type URL (the five Envoy types and any other type
// go-control-plane knows). Each type's version is a hash of its resources, so an unchanged type
// keeps its version and only the types that changed are sent to Envoy. It returns whether
// anything changed; when nothing did, it costs one marshal and hash of the resources and sets no
// snapshot.
//
// It refuses (and keeps the previous snapshot) resources of the wrong type, without a name or
// with duplicate names, and snapshots whose endpoints and route configurations are not exactly
// those the clusters and listeners reference. Concurrent calls for one fleet are serialised; the
// last to run wins, so a caller publishing one fleet from several goroutines orders them itself
// (a controller-runtime workqueue does: one reconcile per key at a time).
func (s *Server) Publish(fleet string, res map[resource.Type][]types.Resource) (bool, error) {
	if fleet == "" {
		return false, errors.New("publishing: empty fleet key")
	}
	in := make(map[string]*hashed, len(envoyTypes)+len(res))
	for _, typ := range envoyTypes {
		in[typ] = nil
	}
	for typ := range res {
		in[typ] = nil
	}
	// Types hash in parallel: for a large fleet, clusters, endpoints and route configurations
	// each take a similar share of the work.
	typeURLs := slices.Collect(maps.Keys(in))
	hashes := make([]*hashed, len(typeURLs))
	errs := make([]error, len(typeURLs))
	var wg sync.WaitGroup
	for i, typ := range typeURLs {
		wg.Go(func() { hashes[i], errs[i] = hashType(typ, res[typ]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return false, fmt.Errorf("publishing fleet %s: %w", fleet, err)
	}
	for i, typ := range typeURLs {
		in[typ] = hashes[i]
	}
	for {
		f := s.fleetEntry(fleet)
		f.mu.Lock()
		if f.gone {
			f.mu.Unlock()
			continue
		}
		changed, err := s.publishLocked(fleet, f, in)
		f.mu.Unlock()
		return changed, err
	}
}

func (s *Server) fleetEntry(fleet string) *fleetEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fleets[fleet]
	if f == nil {
		f = &fleetEntry{content: map[string]*typeContent{}}
		s.fleets[fleet] = f
	}
	return f
}

func (s *Server) publishLocked(fleet string, f *fleetEntry, in map[string]*hashed) (bool, error) {
	for typ := range f.content {
		if _, ok := in[typ]; !ok { // published before, absent now: empty
			in[typ], _ = hashType(typ, nil)
		}
	}
	next := maps.Clone(f.content)
	var changed []string
	for typ, h := range in {
		if cur := f.content[typ]; cur == nil || cur.version != h.version {
			next[typ] = h.index()
			changed = append(changed, typeLabel(typ))
		}
	}
	if len(changed) == 0 {
		return false, nil
	}
	slices.Sort(changed)
	main, secrets := snapshots(next)
	if err := main.Consistent(); err != nil {
		return false, fmt.Errorf("publishing fleet %s: inconsistent snapshot: %w", fleet, err)
	}
	versions := make(map[string]string, len(next))
	for typ, c := range next {
		versions[typ] = c.version
	}
	// Versions first: an ACK of the new versions may come back before SetSnapshot returns.
	s.mu.Lock()
	previous := s.versions[fleet]
	s.versions[fleet] = versions
	s.updateSummaryLocked(fleet) // Publish's caller knows: no notification
	s.mu.Unlock()

	ctx := context.Background()
	// Secrets first: a cluster or listener that names a new secret finds it already there.
	err := s.secrets.SetSnapshot(ctx, fleet, secrets)
	if err == nil {
		err = s.main.SetSnapshot(ctx, fleet, main)
	}
	if err != nil { // not expected: the context never ends and the version maps are built
		s.mu.Lock()
		s.versions[fleet] = previous
		s.mu.Unlock()
		return false, fmt.Errorf("publishing fleet %s: setting snapshot: %w", fleet, err)
	}
	f.content = next
	s.mu.Lock()
	s.metrics.publishes.WithLabelValues(fleet).Inc()
	// A published fleet has a connected_clients series, at 0 until an Envoy connects: a fleet
	// whose Envoys never connect shows as zero, not as absent.
	s.metrics.setConnected(fleet, s.connected[fleet], true)
	for typ := range next {
		// Zero-valued until the first NACK, so that increase() over an alert's window sees the
		// first one too (a counter series that starts at 1 shows no increase).
		s.metrics.nacks.WithLabelValues(fleet, typeLabel(typ)).Add(0)
	}
	s.mu.Unlock()
	s.log.V(3).Info("Published fleet snapshot", "fleet", fleet, "changedTypes", changed)
	return true, nil
}

// snapshots splits a fleet's content into the main cache's snapshot and the secrets cache's.
func snapshots(content map[string]*typeContent) (main, secrets *cache.Snapshot) {
	main = &cache.Snapshot{VersionMap: map[string]map[string]string{}}
	secrets = &cache.Snapshot{VersionMap: map[string]map[string]string{}}
	for typ, c := range content {
		snap := main
		if cacheFor(typ) == "secrets" {
			snap = secrets
		}
		snap.Resources[cache.GetResponseType(typ)] = cache.Resources{Version: c.version, Items: c.items}
		snap.VersionMap[typ] = c.hashes
	}
	return main, secrets
}

// hashType checks and hashes one type's resources: each resource's deterministic marshal is
// hashed, and the version is the hash of the (name, resource hash) pairs sorted by name.
func hashType(typ string, rs []types.Resource) (*hashed, error) {
	if cache.GetResponseType(typ) == types.UnknownType {
		return nil, fmt.Errorf("unknown resource type %q", typ)
	}
	buf := marshalBuffers.Get().(*[]byte)
	defer marshalBuffers.Put(buf)
	h := &hashed{entries: make([]hashedResource, 0, len(rs))}
	for i, r := range rs {
		if r == nil {
			return nil, fmt.Errorf("%s resource %d is nil", typeLabel(typ), i)
		}
		if got := resource.APITypePrefix + string(proto.MessageName(r)); got != typ {
			return nil, fmt.Errorf("%s resource %d is a %s", typeLabel(typ), i, got)
		}
		name := cache.GetResourceName(r)
		if name == "" {
			return nil, fmt.Errorf("%s resource %d has no name", typeLabel(typ), i)
		}
		b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend((*buf)[:0], r)
		if err != nil {
			return nil, fmt.Errorf("marshalling %s %q: %w", typeLabel(typ), name, err)
		}
		*buf = b
		h.entries = append(h.entries, hashedResource{name: name, sum: sha256.Sum256(b), res: r})
	}
	slices.SortFunc(h.entries, func(a, b hashedResource) int { return cmp.Compare(a.name, b.name) })
	sum := sha256.New()
	for i, e := range h.entries {
		if i > 0 && h.entries[i-1].name == e.name {
			return nil, fmt.Errorf("two %s resources are named %q", typeLabel(typ), e.name)
		}
		sum.Write([]byte(e.name))
		sum.Write([]byte{0})
		sum.Write(e.sum[:])
	}
	h.version = hex.EncodeToString(sum.Sum(nil)[:16])
	return h, nil
}

// index builds the cache's view of a hashed type.
func (h *hashed) index() *typeContent {
	c := &typeContent{
		version: h.version,
		items:   make(map[string]types.ResourceWithTTL, len(h.entries)),
		hashes:  make(map[string]string, len(h.entries)),
	}
	for _, e := range h.entries {
		c.items[e.name] = types.ResourceWithTTL{Resource: e.res}
		c.hashes[e.name] = hex.EncodeToString(e.sum[:])
	}
	return c
}

// Forget drops a fleet (its Gateway is gone): its snapshot, versions, status and metric series.
// Streams of the fleet still open are ended; their Envoys keep their configuration, and if they
// reconnect they wait for a Publish.
func (s *Server) Forget(fleet string) {
	// Hold the fleet's entry (made if need be) for the whole of Forget: a Publish running now
	// finishes first, one arriving now waits and then publishes anew.
	f := s.fleetEntry(fleet)
	f.mu.Lock()
	defer f.mu.Unlock()
	s.main.ClearSnapshot(fleet)
	s.secrets.ClearSnapshot(fleet)

	s.mu.Lock()
	f.gone = true
	delete(s.fleets, fleet)
	delete(s.versions, fleet)
	delete(s.summaries, fleet)
	s.metrics.forget(fleet)
	s.metrics.setConnected(fleet, s.connected[fleet], false)
	var cancels []func(error)
	for st := range s.byFleet[fleet] {
		if st.cancel != nil {
			cancels = append(cancels, st.cancel)
		}
	}
	s.mu.Unlock()
	for _, cancel := range cancels {
		cancel(errForgotten)
	}
}

// Versions returns the version of each type published for the fleet, by type URL (nil when the
// fleet is not published).
func (s *Server) Versions(fleet string) map[resource.Type]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.versions[fleet])
}
