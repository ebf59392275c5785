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
	// hashed is what the last Publish hashed, by type URL: the next one hashes again only the
	// resources that are not the same objects (see hashType).
	hashed map[string]*hashed
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
	entries []hashedResource // sorted by name
	// in are the resources as given, and pos[i] the index in entries of in[i].
	in  []types.Resource
	pos []int
	// base, when set, is the hashed these entries were updated from: the same names, and only
	// the resources of changed (names) are other objects. Its index is updated, not rebuilt.
	base    *hashed
	changed []string
}

type hashedResource struct {
	name string
	sum  [sha256.Size]byte
	res  types.Resource
	in   int // its index in the resources given
}

var marshalBuffers = sync.Pool{New: func() any { return new([]byte) }}

// Publish sets a fleet's resources, keyed by type URL (the five Envoy types and any other type
// go-control-plane knows). Each type's version is a hash of its resources, so an unchanged type
// keeps its version and only the types that changed are sent to Envoy. It returns whether
// anything changed; when nothing did, it costs one marshal and hash of the resources and sets no
// snapshot.
//
// Resources are not to be changed once published (Envoys are being sent them): a resource that is
// the same object as in the previous Publish of the fleet is not marshalled and hashed again, and a
// type whose resources are all the same objects keeps its version at no cost.
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
	f := s.fleetEntry(fleet)
	f.mu.Lock()
	prev := f.hashed
	f.mu.Unlock()
	var wg sync.WaitGroup
	for i, typ := range typeURLs {
		wg.Go(func() { hashes[i], errs[i] = hashType(typ, res[typ], prev[typ]) })
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
	// A hashed type's base is for this publish alone: kept, each publish would hold the last
	// one's resources (and that one the one before...).
	defer func() {
		for _, h := range in {
			if h != nil {
				h.base = nil
			}
		}
	}()
	for typ := range f.content {
		if _, ok := in[typ]; !ok { // published before, absent now: empty
			in[typ], _ = hashType(typ, nil, nil)
		}
	}
	next := maps.Clone(f.content)
	var changed []string
	// The snapshot is checked for consistency unless only the referenced types (endpoints,
	// route configurations, secrets) changed, keeping their names: the clusters and listeners
	// that refer to them are those of the last snapshot, which was consistent.
	check := f.hashed == nil
	for typ, h := range in {
		if cur := f.content[typ]; cur == nil || cur.version != h.version {
			if b := h.base; b != nil && cur != nil && f.hashed[typ] == b && cur.version == b.version {
				next[typ] = h.update(cur)
			} else {
				next[typ] = h.index()
				check = true
			}
			if typ == resource.ClusterType || typ == resource.ListenerType {
				check = true
			}
			changed = append(changed, typeLabel(typ))
		}
	}
	if len(changed) == 0 {
		f.hashed = in
		return false, nil
	}
	slices.Sort(changed)
	main, secrets := snapshots(next)
	if check {
		if err := main.Consistent(); err != nil {
			return false, fmt.Errorf("publishing fleet %s: inconsistent snapshot: %w", fleet, err)
		}
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
	f.content, f.hashed = next, in
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
// hashed, and the version is the hash of the (name, resource hash) pairs sorted by name. With
// prev (the same type's last Publish), resources that are the same objects at the same places
// keep their hashes: when all are, prev is the answer; when some are not but keep their names,
// only those are marshalled and hashed.
func hashType(typ string, rs []types.Resource, prev *hashed) (*hashed, error) {
	if cache.GetResponseType(typ) == types.UnknownType {
		return nil, fmt.Errorf("unknown resource type %q", typ)
	}
	buf := marshalBuffers.Get().(*[]byte)
	defer marshalBuffers.Put(buf)
	if h, ok, err := hashChanged(typ, rs, prev, buf); ok || err != nil {
		return h, err
	}
	h := &hashed{entries: make([]hashedResource, 0, len(rs)), in: rs, pos: make([]int, len(rs))}
	for i, r := range rs {
		name, sum, err := hashOne(typ, i, r, buf)
		if err != nil {
			return nil, err
		}
		h.entries = append(h.entries, hashedResource{name: name, sum: sum, res: r, in: i})
	}
	slices.SortFunc(h.entries, func(a, b hashedResource) int { return cmp.Compare(a.name, b.name) })
	for at := range h.entries {
		h.pos[h.entries[at].in] = at // where each input went
	}
	for i := 1; i < len(h.entries); i++ {
		if h.entries[i-1].name == h.entries[i].name {
			return nil, fmt.Errorf("two %s resources are named %q", typeLabel(typ), h.entries[i].name)
		}
	}
	h.version = versionOf(h.entries)
	return h, nil
}

// hashChanged is hashType's shortcut: ok when rs are prev's resources but for some at the same
// places with the same names.
func hashChanged(typ string, rs []types.Resource, prev *hashed, buf *[]byte) (*hashed, bool, error) {
	if prev == nil || len(rs) != len(prev.in) {
		return nil, false, nil
	}
	var diff []int
	for i, r := range rs {
		if r != prev.in[i] {
			diff = append(diff, i)
			if len(diff) > 1 && len(diff) > len(rs)/4 {
				return nil, false, nil // much has changed: hash it all
			}
		}
	}
	if len(diff) == 0 {
		if len(rs) == 0 {
			return prev, true, nil
		}
		return &hashed{version: prev.version, entries: prev.entries, in: rs, pos: prev.pos}, true, nil
	}
	h := &hashed{entries: slices.Clone(prev.entries), in: rs, pos: prev.pos, base: prev}
	for _, i := range diff {
		name, sum, err := hashOne(typ, i, rs[i], buf)
		if err != nil {
			return nil, false, err
		}
		e := &h.entries[prev.pos[i]]
		if e.name != name {
			return nil, false, nil // renamed: hash it all
		}
		if e.sum != sum {
			h.changed = append(h.changed, name)
		}
		e.sum, e.res = sum, rs[i]
	}
	if len(h.changed) == 0 {
		h.version = prev.version
	} else {
		h.version = versionOf(h.entries)
	}
	return h, true, nil
}

// hashOne checks one resource and hashes its deterministic marshal.
func hashOne(typ string, i int, r types.Resource, buf *[]byte) (string, [sha256.Size]byte, error) {
	if r == nil {
		return "", [sha256.Size]byte{}, fmt.Errorf("%s resource %d is nil", typeLabel(typ), i)
	}
	if got := resource.APITypePrefix + string(proto.MessageName(r)); got != typ {
		return "", [sha256.Size]byte{}, fmt.Errorf("%s resource %d is a %s", typeLabel(typ), i, got)
	}
	name := cache.GetResourceName(r)
	if name == "" {
		return "", [sha256.Size]byte{}, fmt.Errorf("%s resource %d has no name", typeLabel(typ), i)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend((*buf)[:0], r)
	if err != nil {
		return "", [sha256.Size]byte{}, fmt.Errorf("marshalling %s %q: %w", typeLabel(typ), name, err)
	}
	*buf = b
	return name, sha256.Sum256(b), nil
}

// versionOf is a type's version: the hash of its (name, resource hash) pairs, sorted by name.
func versionOf(entries []hashedResource) string {
	n := 0
	for i := range entries {
		n += len(entries[i].name) + 1 + sha256.Size
	}
	buf := make([]byte, 0, n)
	for i := range entries {
		buf = append(append(append(buf, entries[i].name...), 0), entries[i].sum[:]...)
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:16])
}

// update is the cache's view of a hashed type made from cur, the view of h.base: the changed
// resources' entries replaced (the maps are copied: the cache may be serving cur).
func (h *hashed) update(cur *typeContent) *typeContent {
	c := &typeContent{version: h.version, items: maps.Clone(cur.items), hashes: maps.Clone(cur.hashes)}
	for i, r := range h.in {
		if r != h.base.in[i] {
			e := &h.entries[h.pos[i]]
			c.items[e.name] = types.ResourceWithTTL{Resource: e.res}
			c.hashes[e.name] = hex.EncodeToString(e.sum[:])
		}
	}
	return c
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
