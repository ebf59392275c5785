package gatewayapi

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// The patch path of ResolveFrom: when only a few HTTPRoutes changed (added, edited, deleted), and
// each of them, before and after, serves only exact hostnames of the Gateway's own listeners
// (where no other listener of the port is more specific), the result is the last one with the
// virtual hosts of those hostnames made again, the routes' statuses, the listeners' attached
// route counts, and the clusters the changed virtual hosts stop or start referring to: work
// proportional to the changed routes and the routes that share their hostnames, not to the
// fleet. Anything else (a wildcard hostname, a ListenerSet, a GRPCRoute or an Ingress in the
// fleet, a route whose conversion reads a RouteFilter, pool or BackendTLSPolicy, more than
// maxPatch routes changed) takes the memo path: the whole resolution, with unchanged routes'
// conversions reused.

// maxPatch is the most changed routes the patch path takes; beyond, the memo path costs about
// the same.
const maxPatch = 64

// patchState is what the patch path reads of the last resolution. It describes the latest
// resolution made from it: a patch updates it in place and hands it on (resolutions of one
// Gateway are serialised by their caller).
type patchState struct {
	// The resolver's indexes of the world (equal inputs give equal indexes).
	secrets    map[string]SecretInfo
	services   map[objKey]*corev1.Service
	slices     map[objKey]endpointSlices
	namespaces map[string]*corev1.Namespace
	grants     map[string][]*gwapiv1.ReferenceGrant
	sliceIDs   []objID

	res Result // the last result (its slices are never written by a patch: copied first)
	// routes are the input's HTTPRoutes by namespace/name: the version resolved, and where it
	// attached (nil when it names no listener of ours, or attached nowhere).
	routes map[objKey]*patchRoute
	order  []objID // the HTTPRoutes of the last input, in its order

	// listeners are the Gateway's listeners by source, with their route groups.
	listeners map[string]*patchListener
	// refs counts the references of the model's routes to each cluster.
	refs  map[string]int
	stamp int
	// extra are the endpoint sources of clusters patches added (epIndex has the others).
	extra map[string]endpointSource
}

type patchRoute struct {
	id   objID
	atts []patchAtt
}

// patchAtt is an attachment of a route: to which listener, with which domains.
type patchAtt struct {
	listener string
	domains  []string
}

type patchListener struct {
	l        *listener // of the resolution that made the state (hostname, port, kind)
	index    int       // in Result.Listeners (-1: not a Gateway listener)
	groups   map[string]*hostGroup
	wild     map[string]*hostGroup
	catchAll *hostGroup
	port     []*listener // the listeners of its port
	https    bool        // its virtual hosts are its filter chain's (else the port's HTTP listener's)
}

// patchable says whether a resolution of in can hand a patch state on.
func patchable(in *Input) bool {
	return len(in.GRPCRoutes) == 0 && len(in.Ingresses) == 0 && len(in.ListenerSets) == 0 && len(in.InferencePools) == 0 &&
		len(in.BackendTLSPolicies) == 0
}

// keepPatchState records, at the end of a full resolution, what the patch path needs.
func (r *resolver) keepPatchState(res *Result) {
	if !patchable(&r.in) || r.next == nil {
		return
	}
	ps := &patchState{secrets: r.secrets, services: r.services, slices: r.slices, namespaces: r.namespaces, grants: r.grants,
		sliceIDs: sliceIDs(r.in.EndpointSlices), res: *res, routes: make(map[objKey]*patchRoute, len(r.in.HTTPRoutes)),
		listeners: r.patchListeners, refs: map[string]int{}, stamp: r.stamp}
	if ps.listeners == nil {
		return
	}
	for _, o := range r.in.HTTPRoutes {
		id, ok := idOf(&o.ObjectMeta)
		if !ok {
			return
		}
		ps.routes[objKey{o.Namespace, o.Name}] = &patchRoute{id: id}
	}
	ps.order = routeOrder(r.in.HTTPRoutes, nil)
	for _, rt := range r.ours {
		if rt.kind != kindHTTPRoute {
			continue
		}
		pr := ps.routes[objKey{rt.meta.Namespace, rt.meta.Name}]
		if pr == nil {
			return
		}
		pr.atts = attsOf(rt)
	}
	for i := range res.Fleet.Listeners {
		ml := &res.Fleet.Listeners[i]
		countRefs(ps.refs, ml.VirtualHosts, 1, nil)
		countBackends(ps.refs, ml.Backends)
		for _, c := range ml.FilterChains {
			countRefs(ps.refs, c.VirtualHosts, 1, nil)
			countBackends(ps.refs, c.Backends)
		}
	}
	for _, c := range res.Fleet.Clusters {
		if ps.refs[c.Name] <= 0 {
			return // referred to otherwise (an Endpoint Picker): the patch path would drop it
		}
	}
	res.sharedClusters = true
	ps.res.sharedClusters = true
	r.next.patch = ps
}

// attsOf is where rt attached.
func attsOf(rt *route) []patchAtt {
	var out []patchAtt
	for _, p := range rt.parents {
		for _, a := range p.atts {
			ds := make([]string, len(a.hostnames))
			for i, h := range a.hostnames {
				ds[i] = domain(h)
			}
			out = append(out, patchAtt{a.l.source, ds})
		}
	}
	return out
}

// countBackends counts the references of a TCP, TLS or UDP listener's (or chain's) backends.
func countBackends(refs map[string]int, b *model.Backends) {
	if b == nil {
		return
	}
	for _, c := range b.Clusters {
		refs[c.Cluster]++
	}
}

// countRefs adds n times the references of the routes of vs to clusters, noting the clusters in
// touched (when not nil).
func countRefs(refs map[string]int, vs []model.VirtualHost, n int, touched map[string]bool) {
	add := func(name string) {
		refs[name] += n
		if touched != nil {
			touched[name] = true
		}
	}
	for _, v := range vs {
		for i := range v.Routes {
			backendClusters(v.Routes[i].Backends, add)
			routeClusters(&v.Routes[i], add)
		}
	}
}

// routeOrder is the identities of rs in order, written over last when it has the room.
func routeOrder(rs []*gwapiv1.HTTPRoute, last []objID) []objID {
	out := last[:0]
	if cap(out) < len(rs) {
		out = make([]objID, 0, len(rs))
	}
	for _, o := range rs {
		id, _ := idOf(&o.ObjectMeta)
		out = append(out, id)
	}
	return out
}

// sameSliceIDs says whether ss are the versions ids names, in order.
func sameSliceIDs(ids []objID, ss []*discoveryv1.EndpointSlice) bool {
	if len(ids) != len(ss) {
		return false
	}
	for i, es := range ss {
		if id, _ := idOf(&es.ObjectMeta); id != ids[i] {
			return false
		}
	}
	return true
}

func sliceIDs(ss []*discoveryv1.EndpointSlice) []objID {
	out := make([]objID, len(ss))
	for i, es := range ss {
		out[i], _ = idOf(&es.ObjectMeta)
	}
	return out
}

// noteGroups records, while a full resolution builds virtual hosts, a listener's route groups.
func (r *resolver) noteGroups(l *listener, port []*listener, groups, wild map[string]*hostGroup, https bool) {
	if r.next == nil || !patchable(&r.in) {
		return
	}
	if r.patchListeners == nil {
		r.patchListeners = map[string]*patchListener{}
	}
	pl := &patchListener{l: l, index: -1, groups: groups, wild: wild, catchAll: groups["*"], port: port, https: https}
	for i, gl := range r.listeners[:len(r.gw.Spec.Listeners)] {
		if gl == l {
			pl.index = i
		}
	}
	r.patchListeners[l.source] = pl
}

// patch resolves in from the patch state of the last resolution; ok false when the patch path
// does not apply (nothing is then changed: the caller resolves in full).
func (r *resolver) patch(ps *patchState) (Result, bool) {
	in := &r.in
	if !patchable(in) {
		return Result{}, false
	}
	// Which routes changed: new versions, and the old ones they replace or that are gone.
	var fresh []*gwapiv1.HTTPRoute
	seen := 0
	for i, o := range in.HTTPRoutes {
		id, ok := idOf(&o.ObjectMeta)
		if !ok {
			return Result{}, false
		}
		if i < len(ps.order) && ps.order[i] == id { // where it was last time (the usual case)
			seen++
			continue
		}
		if pr := ps.routes[objKey{o.Namespace, o.Name}]; pr != nil && pr.id == id {
			seen++
			continue
		}
		if fresh = append(fresh, o); len(fresh) > maxPatch {
			return Result{}, false
		}
	}
	stale := map[objKey]*patchRoute{}
	for _, o := range fresh {
		if pr := ps.routes[objKey{o.Namespace, o.Name}]; pr != nil {
			stale[objKey{o.Namespace, o.Name}] = pr
		}
	}
	if seen+len(stale) != len(ps.routes) { // some routes are gone
		now := make(map[objKey]bool, len(in.HTTPRoutes))
		for _, o := range in.HTTPRoutes {
			now[objKey{o.Namespace, o.Name}] = true
		}
		for k, pr := range ps.routes {
			if !now[k] {
				if stale[k] = pr; len(stale) > maxPatch {
					return Result{}, false
				}
			}
		}
	}
	slicesSame := sameSliceIDs(ps.sliceIDs, in.EndpointSlices)
	if len(fresh) == 0 && len(stale) == 0 && slicesSame {
		res := ps.res
		res.memo = r.next
		r.next.patch = ps
		return res, true
	}
	// The world's indexes are the last resolution's, but for EndpointSlices that changed.
	r.secrets, r.services, r.namespaces, r.grants = ps.secrets, ps.services, ps.namespaces, ps.grants
	ids := ps.sliceIDs
	var changedServices map[objKey]bool
	if slicesSame {
		r.slices = ps.slices
	} else {
		ids = sliceIDs(in.EndpointSlices)
		r.indexSlices()
		changedServices = map[objKey]bool{}
		for k, s := range r.slices {
			if !sameSlices(ps.slices[k], s) {
				changedServices[k] = true
			}
		}
		for k := range ps.slices {
			if _, ok := r.slices[k]; !ok {
				changedServices[k] = true
			}
		}
	}
	r.setupListeners()
	// Convert and attach the new versions; every attachment, old and new, must be to an exact
	// domain the listener owns.
	type change struct {
		key      objKey
		old      *patchRoute
		rt       *route // nil: deleted, or names no listener of ours
		atts     []patchAtt
		newRoute *patchRoute
	}
	changes := make([]change, 0, len(fresh)+len(stale))
	for _, o := range fresh {
		k := objKey{o.Namespace, o.Name}
		id, _ := idOf(&o.ObjectMeta)
		if !slices.ContainsFunc(o.Spec.ParentRefs, func(p gwapiv1.ParentReference) bool { _, _, ours := r.parentTarget(o.Namespace, p); return ours }) {
			changes = append(changes, change{key: k, old: stale[k], newRoute: &patchRoute{id: id}})
			continue
		}
		r.impure = false
		rt := r.convertHTTPRoute(o)
		if r.impure || !r.attach(rt) {
			return Result{}, false // a conversion the memo does not keep; or not attached (our parents say why)
		}
		atts := attsOf(rt)
		changes = append(changes, change{key: k, old: stale[k], rt: rt, atts: atts, newRoute: &patchRoute{id: id, atts: atts}})
	}
	for k, pr := range stale {
		if !slices.ContainsFunc(fresh, func(o *gwapiv1.HTTPRoute) bool { return o.Namespace == k.ns && o.Name == k.name }) {
			changes = append(changes, change{key: k, old: pr})
		}
	}
	slices.SortFunc(changes, func(a, b change) int {
		return cmp.Or(cmp.Compare(a.key.ns, b.key.ns), cmp.Compare(a.key.name, b.key.name))
	})
	affected := map[vhostKey]bool{}
	exactOwned := func(atts []patchAtt) bool {
		for _, a := range atts {
			pl := ps.listeners[a.listener]
			if pl == nil || pl.index < 0 {
				return false
			}
			for _, d := range a.domains {
				if d == "*" || strings.HasPrefix(d, "*.") || owner(pl.port, d) != pl.l {
					return false
				}
				if d == pl.l.hostname && len(pl.port) > 1 {
					return false // its virtual host without routes is isolate's
				}
				affected[vhostKey{a.listener, d}] = true
			}
		}
		return true
	}
	for _, c := range changes {
		if c.old != nil && !exactOwned(c.old.atts) || !exactOwned(c.atts) {
			return Result{}, false
		}
	}

	// Nothing can fail from here on: the state is updated in place.
	res := ps.res
	res.memo, res.byService = r.next, nil
	res.Fleet.Listeners = slices.Clone(res.Fleet.Listeners)
	res.Listeners = slices.Clone(res.Listeners)
	r.stamp = ps.stamp
	touched := map[string]bool{}
	keys := slices.SortedFunc(maps.Keys(affected), func(a, b vhostKey) int {
		return cmp.Or(cmp.Compare(a.listener, b.listener), cmp.Compare(a.domain, b.domain))
	})
	changedRT := map[objKey]bool{}
	for _, c := range changes {
		changedRT[c.key] = true
	}
	for _, k := range keys {
		pl := ps.listeners[k.listener]
		var entries []ranked
		if g := pl.groups[k.domain]; g != nil {
			for _, x := range g.entries {
				if !changedRT[objKey{x.rt.meta.Namespace, x.rt.meta.Name}] {
					entries = append(entries, x)
				}
			}
		}
		for _, c := range changes {
			if c.rt == nil || !slices.ContainsFunc(c.atts, func(a patchAtt) bool { return a.listener == k.listener && slices.Contains(a.domains, k.domain) }) {
				continue
			}
			for i := range c.rt.entries {
				entries = append(entries, ranked{&c.rt.entries[i], c.rt})
			}
		}
		slices.SortStableFunc(entries, precedenceByMeta)
		var vh *model.VirtualHost
		if len(entries) == 0 {
			delete(pl.groups, k.domain)
			delete(r.next.vhosts, vhostKey{pl.l.source, k.domain})
		} else {
			g := &hostGroup{domain: k.domain, entries: entries}
			pl.groups[k.domain] = g
			fallbacks := []*hostGroup{g}
			if len(pl.wild) > 0 || pl.catchAll != nil {
				fallbacks = lessSpecific(fallbacks, k.domain, pl.wild, pl.catchAll)
			}
			v := r.virtualHostFrom(pl.l, k.domain, fallbacks)
			vh = &v
		}
		r.replaceVirtualHost(&res.Fleet, pl, k.domain, vh, ps.refs, touched)
	}
	ps.stamp = r.stamp
	// Statuses: the changed routes', and the listeners' attached route counts.
	res.Routes = slices.Clone(res.Routes)
	for _, c := range changes {
		at, found := slices.BinarySearchFunc(res.Routes, c.key, func(s RouteStatus, k objKey) int {
			return cmp.Or(cmp.Compare(s.Kind, string(kindHTTPRoute)), cmp.Compare(s.Namespace, k.ns), cmp.Compare(s.Name, k.name))
		})
		switch {
		case c.rt != nil && found:
			res.Routes[at] = r.status(c.rt)
		case c.rt != nil:
			res.Routes = slices.Insert(res.Routes, at, r.status(c.rt))
		case found:
			res.Routes = slices.Delete(res.Routes, at, at+1)
		}
		if c.old != nil {
			for _, a := range c.old.atts {
				res.Listeners[ps.listeners[a.listener].index].AttachedRoutes--
			}
		}
		for _, a := range c.atts {
			res.Listeners[ps.listeners[a.listener].index].AttachedRoutes++
		}
		if c.old != nil {
			delete(r.next.routes, c.old.id)
		}
		if c.newRoute != nil {
			ps.routes[c.key] = c.newRoute
		} else {
			delete(ps.routes, c.key)
		}
	}
	// Clusters: those the changed virtual hosts stopped referring to go, new ones come from the
	// conversions; endpoints of Services whose slices changed are computed again.
	r.patchClusters(&res, ps, changedServices, touched)
	ps.res, ps.sliceIDs, ps.slices = res, ids, r.slices
	ps.order = routeOrder(in.HTTPRoutes, ps.order)
	ps.res.memo = nil
	r.next.patch = ps
	return res, true
}

// precedenceByMeta is precedence with the routes' ages compared by what ranks them: creation
// time, then namespace/name (the patch path's routes are all HTTPRoutes, which rank alike).
func precedenceByMeta(a, b ranked) int {
	x, y := a.e, b.e
	if c := matchOrder(x, y); c != 0 {
		return c
	}
	if a.rt != b.rt {
		if c := olderFirstMeta(a.rt.meta, b.rt.meta); c != 0 {
			return c
		}
	}
	return cmp.Or(cmp.Compare(x.rule, y.rule), cmp.Compare(x.match, y.match))
}

// replaceVirtualHost puts vh (nil: none) as the virtual host of domain d of pl in f, and counts
// the cluster references again (touched: the clusters whose count changed).
func (r *resolver) replaceVirtualHost(f *model.Fleet, pl *patchListener, d string, vh *model.VirtualHost, refs map[string]int, touched map[string]bool) {
	var list *[]model.VirtualHost
	for i := range f.Listeners {
		ml := &f.Listeners[i]
		if ml.Port != pl.l.port {
			continue
		}
		if !pl.https {
			list = &ml.VirtualHosts
			break
		}
		ml.FilterChains = slices.Clone(ml.FilterChains)
		for j := range ml.FilterChains {
			if ml.FilterChains[j].Name == pl.l.source {
				list = &ml.FilterChains[j].VirtualHosts
			}
		}
	}
	if list == nil {
		return
	}
	*list = slices.Clone(*list)
	at, found := slices.BinarySearchFunc(*list, d, func(v model.VirtualHost, d string) int { return cmp.Compare(v.Name, d) })
	if found {
		countRefs(refs, (*list)[at:at+1], -1, touched)
	}
	switch {
	case vh != nil && found:
		(*list)[at] = *vh
	case vh != nil:
		*list = slices.Insert(*list, at, *vh)
	case found:
		*list = slices.Delete(*list, at, at+1)
	}
	if vh != nil {
		countRefs(refs, []model.VirtualHost{*vh}, 1, touched)
	}
}

// patchClusters makes the fleet's clusters those with references: of the clusters whose count
// changed (touched), those at zero go, new ones come from this resolution's conversions; and the
// endpoints of Services whose slices changed are computed again.
func (r *resolver) patchClusters(res *Result, ps *patchState, changedServices map[objKey]bool, touched map[string]bool) {
	old := res.Fleet.Clusters
	byName := func(c model.Cluster, n string) int { return cmp.Compare(c.Name, n) }
	var removed, added []string
	for name := range touched {
		_, had := slices.BinarySearchFunc(old, name, byName)
		switch n := ps.refs[name]; {
		case n <= 0:
			delete(ps.refs, name)
			if had {
				removed = append(removed, name)
			}
		case !had:
			added = append(added, name)
		}
	}
	out := old
	if len(removed) > 0 || len(added) > 0 || len(changedServices) > 0 {
		slices.Sort(removed)
		slices.Sort(added)
		out = make([]model.Cluster, 0, len(old)-len(removed)+len(added))
		extra, cloned := ps.extra, false
		i := 0
		for _, c := range old {
			if len(removed) > 0 && removed[0] == c.Name {
				removed = removed[1:]
				continue
			}
			for i < len(added) && added[i] < c.Name {
				out = r.appendNew(out, added[i], &extra, &cloned, ps)
				i++
			}
			out = append(out, c)
		}
		for ; i < len(added); i++ {
			out = r.appendNew(out, added[i], &extra, &cloned, ps)
		}
		res.epExtra, ps.extra = extra, extra
		for i := range out {
			c := &out[i]
			if s, ok := res.sourceOf(c.Name); ok && changedServices[objKey{s.ns, s.svc}] {
				c.Endpoints = r.endpoints(s.ns, s.svc, s.port)
			}
		}
	}
	res.Fleet.Clusters = out
	res.sharedClusters = true // the state keeps them too (see SetEndpoints)
}

// appendNew appends the cluster of a name this resolution's conversions made, recording where
// its endpoints come from in extra (a copy of the state's, made once).
func (r *resolver) appendNew(out []model.Cluster, name string, extra *map[string]endpointSource, cloned *bool, ps *patchState) []model.Cluster {
	i, ok := r.clusterIndex[name]
	if !ok {
		return out // not expected: only conversions add references
	}
	if i < len(r.epSources) && r.epSources[i].port != nil {
		if !*cloned {
			*extra, *cloned = maps.Clone(ps.extra), true
			if *extra == nil {
				*extra = map[string]endpointSource{}
			}
		}
		(*extra)[name] = r.epSources[i]
	}
	return append(out, r.clusters[i])
}
