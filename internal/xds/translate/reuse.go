package translate

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// vhostMemo is one virtual host's translation, kept for the fleet's next translation: it reuses
// the message (validated, and encoded once for the wire) when the model virtual host is the
// same and nothing else the translation read changed (see reusable).
type vhostMemo struct {
	// routes and n are the model virtual host's Routes: the same backing array is the same
	// routes, the model being read-only once resolved (gatewayapi.ResolveFrom hands an unchanged
	// virtual host on as it was).
	routes      *model.Route
	n           int
	misdirected bool
	domains     []string
	// port and scheme are what a redirect reads of where the routes are served.
	port   int32
	scheme string
	// reads are the clusters the routes looked at, with what they saw.
	reads []clusterFact

	vh            *routev3.VirtualHost
	needs         httpFilters // what the routes need of the HTTP connection manager
	warnings      []string
	routeWarnings []RouteWarning
	// wire is vh encoded as a RouteConfiguration's virtual_hosts field (nil until assembled).
	wire []byte
}

// clusterFact is what a route's translation reads of a cluster: whether it is in the fleet, its
// protocol (a WebSocket route gets no timeout), its pool and its Endpoint Picker.
type clusterFact struct {
	name   string
	exists bool
	proto  model.ClusterProtocol
	pool   string
	picker model.EndpointPicker
}

func factOf(name string, c *model.Cluster) clusterFact {
	f := clusterFact{name: name, exists: c != nil}
	if c != nil {
		f.proto, f.pool = c.Protocol, c.InferencePool
		if c.EndpointPicker != nil {
			f.picker = *c.EndpointPicker
		}
	}
	return f
}

// cluster is the model cluster of a name, for the translation of a route: recorded as read by
// the virtual host being translated.
func (b *builder) cluster(name string) *model.Cluster {
	c := b.clusters[name]
	if b.recording {
		b.reads = append(b.reads, factOf(name, c))
	}
	return c
}

// reusable says whether m, the last translation of a virtual host of the same name in the same
// route configuration, is what translating mv would give, its domains still free: the same
// model routes, domains (every one of them usable then) and place, and the clusters read
// unchanged.
func (b *builder) reusable(m *vhostMemo, ctx *routeCtx, mv *model.VirtualHost) bool {
	if m.n != len(mv.Routes) || (m.n > 0 && m.routes != &mv.Routes[0]) || m.misdirected != mv.Misdirected || m.port != ctx.listener.Port || m.scheme != ctx.scheme ||
		!slices.Equal(m.domains, mv.Domains) || len(m.vh.Domains) != len(mv.Domains) {
		return false
	}
	if b.factsKnown { // the clusters whose facts changed since the last translation are known
		if len(b.factsChanged) > 0 {
			for _, f := range m.reads {
				if b.factsChanged[f.name] {
					return false
				}
			}
		}
		return true
	}
	for _, f := range m.reads {
		if factOf(f.name, b.clusters[f.name]) != f {
			return false
		}
	}
	return true
}

// compareFacts finds the clusters whose facts differ between the last fleet and this one (both
// sorted by name, as resolutions give them; known stays false when they are not).
func (b *builder) compareFacts(prev *model.Fleet) {
	if prev == nil {
		return
	}
	byName := func(a, b model.Cluster) int { return cmp.Compare(a.Name, b.Name) }
	was, now := prev.Clusters, b.fleet.Clusters
	if !slices.IsSortedFunc(was, byName) || !slices.IsSortedFunc(now, byName) {
		return
	}
	changed := func(name string) {
		if b.factsChanged == nil {
			b.factsChanged = map[string]bool{}
		}
		b.factsChanged[name] = true
	}
	i, j := 0, 0
	for i < len(was) || j < len(now) {
		switch {
		case j == len(now) || i < len(was) && was[i].Name < now[j].Name:
			changed(was[i].Name)
			i++
		case i == len(was) || now[j].Name < was[i].Name:
			changed(now[j].Name)
			j++
		default:
			if factOf(was[i].Name, &was[i]) != factOf(now[j].Name, &now[j]) {
				changed(now[j].Name)
			}
			i, j = i+1, j+1
		}
	}
	b.factsKnown = true
}

// add adds what the routes of one virtual host need to what the route configuration's need, as
// if they had been translated in its context: flags and sets join, the first (by name) picker
// and the first authorization services stay.
func (h *httpFilters) add(o *httpFilters) {
	h.cors = h.cors || o.cors
	if o.picker != "" && (h.picker == "" || o.picker < h.picker) {
		h.picker = o.picker
	}
	p, q := &h.protectionNeeds, &o.protectionNeeds
	p.customResponse, p.rbac, p.rateLimit = p.customResponse || q.customResponse, p.rbac || q.rbac, p.rateLimit || q.rateLimit
	p.realms = union(p.realms, q.realms)
	p.errorPages = union(p.errorPages, q.errorPages)
	p.bodyLimits = union(p.bodyLimits, q.bodyLimits)
	if p.extAuthz == nil && p.extAuthzGRPC == nil {
		p.extAuthz, p.extAuthzGRPC = q.extAuthz, q.extAuthzGRPC
	}
	if p.extAuthzOpen == nil && p.extAuthzOpenGRPC == nil {
		p.extAuthzOpen, p.extAuthzOpenGRPC = q.extAuthzOpen, q.extAuthzOpenGRPC
	}
}

// union adds from's entries to to (a map of its own: from is never shared), later ones winning.
func union[K comparable, V any](to, from map[K]V) map[K]V {
	if len(from) == 0 {
		return to
	}
	if to == nil {
		to = make(map[K]V, len(from))
	}
	maps.Copy(to, from)
	return to
}

// Wire is ByType with each route configuration as it goes on the wire: its virtual hosts
// encoded once each and reused while they do not change, the rest of it encoded around them, in
// the order a deterministic encoding of the whole message has (so its bytes, and the version
// Publish derives from them, are exactly those of the route configuration in Routes). It is what
// the controller publishes; Routes stays the message to read.
func (r *Resources) Wire() map[resource.Type][]types.Resource {
	by := r.ByType()
	if len(r.wire) == len(r.Routes) {
		by[resource.RouteType] = asResources(r.wire)
	}
	return by
}

// assemble builds the wire form of every route configuration (see Wire); one whose bytes are
// those of the last translation's keeps its message, so that Publish need not hash it again.
func (b *builder) assemble(prev *Resources) error {
	r := b.res
	var before map[string]*routev3.RouteConfiguration
	if prev != nil && len(prev.wire) > 0 {
		before = make(map[string]*routev3.RouteConfiguration, len(prev.wire))
		for _, w := range prev.wire {
			before[w.GetName()] = w
		}
	}
	r.wire = make([]*routev3.RouteConfiguration, len(r.Routes))
	opts := proto.MarshalOptions{Deterministic: true}
	for i, rc := range r.Routes {
		vhs := rc.VirtualHosts
		name := rc.Name
		rc.VirtualHosts, rc.Name = nil, ""
		rest, err := opts.Marshal(rc)
		rc.VirtualHosts, rc.Name = vhs, name
		if err != nil {
			return fmt.Errorf("encoding route configuration %q: %w", name, err)
		}
		ms := r.vhosts[name]
		size := len(rest)
		encoded := make([][]byte, len(vhs))
		for j, vh := range vhs {
			var m *vhostMemo
			if j < len(ms) && ms[j].vh == vh {
				m = ms[j]
			} else if k := slices.IndexFunc(ms, func(m *vhostMemo) bool { return m.vh == vh }); k >= 0 {
				m = ms[k]
			}
			if m != nil && m.wire != nil {
				encoded[j] = m.wire
			} else {
				raw, err := opts.Marshal(vh)
				if err != nil {
					return fmt.Errorf("encoding route configuration %q virtual host %q: %w", name, vh.Name, err)
				}
				enc := protowire.AppendTag(make([]byte, 0, len(raw)+protowire.SizeVarint(uint64(len(raw)))+1), 2, protowire.BytesType)
				encoded[j] = protowire.AppendBytes(enc, raw)
				if m != nil {
					m.wire = encoded[j]
				}
			}
			size += len(encoded[j])
		}
		old := before[name]
		if old != nil && len(old.ProtoReflect().GetUnknown()) == size && sameParts(old.ProtoReflect().GetUnknown(), encoded, rest) {
			r.wire[i] = old
			continue
		}
		buf := make([]byte, 0, size)
		for _, e := range encoded {
			buf = append(buf, e...)
		}
		buf = append(buf, rest...)
		w := &routev3.RouteConfiguration{Name: name}
		w.ProtoReflect().SetUnknown(protoreflect.RawFields(buf))
		r.wire[i] = w
	}
	return nil
}

// sameParts says whether b is the concatenation of parts and then rest.
func sameParts(b []byte, parts [][]byte, rest []byte) bool {
	for _, p := range parts {
		if len(b) < len(p) || !bytes.Equal(b[:len(p)], p) {
			return false
		}
		b = b[len(p):]
	}
	return bytes.Equal(b, rest)
}

// memos are r's virtual host translations (none for a nil r).
func (r *Resources) memos() map[string][]*vhostMemo {
	if r == nil {
		return nil
	}
	return r.vhosts
}
