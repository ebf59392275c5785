package gatewayapi

import (
	"cmp"
	"slices"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// owner is the most specific listener among ls whose hostname admits domain d. The listeners of a
// large port share an index (see indexPort), so that a port of n listeners costs O(1) per domain,
// not O(n).
func owner(ls []*listener, d string) *listener {
	if len(ls) > 0 && ls[0].idx != nil && ls[0].idx.n == len(ls) {
		return ls[0].idx.owner(d)
	}
	var best *listener
	for _, l := range ls {
		if hostnameMatches(l.hostname, d) && (best == nil || specificity(l.hostname) > specificity(best.hostname)) {
			best = l
		}
	}
	return best
}

// portIndex finds the owner of a domain among the ready listeners of one port, whose hostnames
// are unique (conflicts settled that).
type portIndex struct {
	n      int                  // the listeners indexed
	byHost map[string]*listener // by hostname, "" for the listener without one
}

// indexPort gives the listeners of a port a shared index, when there are enough for it to pay.
func indexPort(ls []*listener) {
	if len(ls) < 16 {
		return
	}
	x := &portIndex{n: len(ls), byHost: make(map[string]*listener, len(ls))}
	for _, l := range ls {
		x.byHost[l.hostname] = l
		l.idx = x
	}
}

// owner is the listener whose hostname is d, else the one with the longest wildcard that admits d
// (its suffix after at least one character of d), else the one without hostname.
func (x *portIndex) owner(d string) *listener {
	if l := x.byHost[d]; l != nil && d != "" {
		return l
	}
	for i := 1; i < len(d); i++ {
		if d[i] == '.' {
			if l := x.byHost["*"+d[i:]]; l != nil {
				return l
			}
		}
	}
	return x.byHost[""]
}

func domain(h string) string {
	if h == "" {
		return "*"
	}
	return h
}

// hostGroup is the routes of one listener that serve one domain, with their entries in
// precedence order.
type hostGroup struct {
	domain  string
	last    *route // the route added last, to skip a route that names a hostname twice
	entries []ranked
}

// ranked is an entry of a route in a hostGroup.
type ranked struct {
	e  *entry
	rt *route
}

// precedence orders entries the way Gateway API orders matches: path, method, headers, query
// parameters, then the oldest route (then namespace/name), then rule and match order.
func precedence(a, b ranked) int {
	x, y := a.e, b.e
	if c := matchOrder(x, y); c != 0 {
		return c
	}
	if a.rt != b.rt {
		// An HTTPRoute or GRPCRoute wins over an Ingress with the same match, whatever their ages.
		if c := boolCmp(a.rt.kind == kindIngress, b.rt.kind == kindIngress); c != 0 {
			return c
		}
		if c := cmp.Compare(a.rt.age, b.rt.age); c != 0 {
			return c
		}
		if c := cmp.Compare(a.rt.kind, b.rt.kind); c != 0 {
			return c
		}
	}
	return cmp.Or(cmp.Compare(x.rule, y.rule), cmp.Compare(x.match, y.match))
}

// matchOrder orders two entries by their matches alone: path, method, headers, query parameters.
func matchOrder(x, y *entry) int {
	return cmp.Or(cmp.Compare(x.pathRank, y.pathRank), cmp.Compare(y.pathLen, x.pathLen), cmp.Compare(y.pathLen2, x.pathLen2),
		boolCmp(y.method, x.method), cmp.Compare(y.headers, x.headers), cmp.Compare(y.queries, x.queries))
}

// virtualHosts groups the HTTP and gRPC routes of ls by domain. A domain goes to the most
// specific listener of the port that admits it, so a request reaches the routes of the listener
// the spec says it matches.
//
// All the routes of that listener whose hostnames match a request are candidates for it, the
// routes with the longest matching exact hostname first, then those with the longest matching
// (wildcard) hostname, each group in match precedence order. So a virtual host ends with the
// routes of the less specific hostnames that cover its domain: "foo.example.com" with those of
// "*.example.com", then "*.com", then the routes without hostnames ("*"). Envoy serves a request
// with the first route that matches, which is then the one Gateway API chooses.
func (r *resolver) virtualHosts(ls, port []*listener) []model.VirtualHost {
	n := 0
	for _, l := range ls {
		n += len(l.routes)
	}
	out := make([]model.VirtualHost, 0, n)
	for _, l := range ls {
		groups := map[string]*hostGroup{}
		wild := map[string]*hostGroup{} // wildcard domains by suffix: ".example.com" for "*.example.com"
		var owned []*hostGroup
		for _, a := range l.routes {
			for _, h := range a.hostnames {
				d := domain(h)
				g := groups[d]
				if g == nil {
					g = &hostGroup{domain: d}
					groups[d] = g
					if strings.HasPrefix(d, "*.") {
						wild[d[1:]] = g
					}
					if owner(port, d) == l {
						owned = append(owned, g)
					}
				}
				if g.last == a.route {
					continue
				}
				g.last = a.route
				for i := range a.route.entries {
					g.entries = append(g.entries, ranked{&a.route.entries[i], a.route})
				}
			}
		}
		for _, g := range groups {
			slices.SortStableFunc(g.entries, precedence)
			if len(r.in.Ingresses) > 0 {
				noteOverrides(g)
			}
		}
		catchAll := groups["*"]
		var fallbacks []*hostGroup
		for _, g := range owned {
			fallbacks = append(fallbacks[:0], g)
			if len(wild) > 0 || catchAll != nil {
				fallbacks = lessSpecific(fallbacks, g.domain, wild, catchAll)
			}
			out = append(out, r.virtualHostFrom(l, g.domain, fallbacks))
		}
		out = isolate(out, l, port, groups)
		r.noteGroups(l, port, groups, wild, l.protocol == gwapiv1.HTTPSProtocolType)
	}
	slices.SortFunc(out, func(a, b model.VirtualHost) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// isolate appends to out the virtual hosts that keep the requests of other listeners of the port
// away from l's routes (GatewayHTTPListenerIsolation, GatewayHTTPSListenerDetectMisdirectedRequests).
//
// A listener with a hostname answers 404 for a domain it admits but no route of it serves, rather
// than letting a less specific listener's routes serve it: when another listener of the port could
// take its requests, it gets an empty virtual host for its own hostname (unless a route group has
// it). On an HTTPS port with several listeners, l's routes are served only on TLS connections made
// for l (by SNI, each listener has its chain): a request whose :authority belongs to another
// listener (its certificate) answers 421 Misdirected Request, so that a client that coalesced
// connections retries on a connection of its own: a virtual host per other listener's hostname
// that l admits, and "*" for everything l does not admit when l has a hostname. The domains of the other listeners come from their hostnames
// only, so route edits never change these virtual hosts.
func isolate(out []model.VirtualHost, l *listener, port []*listener, groups map[string]*hostGroup) []model.VirtualHost {
	if len(port) < 2 {
		return out
	}
	https := l.protocol == gwapiv1.HTTPSProtocolType
	if l.hostname != "" && groups[l.hostname] == nil && (https || lessSpecificListener(l, port)) {
		out = append(out, model.VirtualHost{Name: l.hostname, Domains: []string{l.hostname}})
	}
	if !https {
		return out
	}
	// The other listeners' hostnames that l admits (all of them for l without hostname; none for
	// an exact one); "*" answers for the others, so a port of n listeners has O(n) such virtual
	// hosts, not n².
	if l.hostname == "" || strings.HasPrefix(l.hostname, "*.") {
		for _, o := range port {
			if o != l && o.hostname != "" && hostnameMatches(l.hostname, o.hostname) {
				out = append(out, model.VirtualHost{Name: o.hostname, Domains: []string{o.hostname}, Misdirected: true})
			}
		}
	}
	if l.hostname != "" {
		out = append(out, model.VirtualHost{Name: "*", Domains: []string{"*"}, Misdirected: true})
	}
	return out
}

// lessSpecificListener says whether another listener of the port admits l's hostname.
func lessSpecificListener(l *listener, port []*listener) bool {
	x := l.idx
	if x == nil || x.n != len(port) {
		return slices.ContainsFunc(port, func(o *listener) bool { return o != l && hostnameMatches(o.hostname, l.hostname) })
	}
	if o := x.byHost[""]; o != nil && o != l {
		return true
	}
	start := 1 // "foo.example.com" is admitted by "*.example.com"
	if strings.HasPrefix(l.hostname, "*.") {
		start = 2 // "*.foo.example.com" by "*.example.com", not by itself
	}
	for i := start; i < len(l.hostname); i++ {
		if l.hostname[i] == '.' {
			if o := x.byHost["*"+l.hostname[i:]]; o != nil && o != l {
				return true
			}
		}
	}
	return false
}

// lessSpecific appends to gs the groups whose domains cover domain d, most specific first:
// wildcards from the longest, then the catch-all.
func lessSpecific(gs []*hostGroup, d string, wild map[string]*hostGroup, catchAll *hostGroup) []*hostGroup {
	if d == "*" {
		return gs
	}
	start := 1 // "foo.example.com" falls back to "*.example.com"
	if strings.HasPrefix(d, "*.") {
		start = 2 // "*.example.com" to "*.com", not to itself
	}
	for i := start; i < len(d); i++ {
		if d[i] == '.' {
			if g := wild[d[i:]]; g != nil {
				gs = append(gs, g)
			}
		}
	}
	if catchAll != nil {
		gs = append(gs, catchAll)
	}
	return gs
}

// virtualHost is the virtual host of domain d with the routes of groups, in order. A route that
// an earlier group already holds is left out of the later ones: it would never match there, and
// route names stay unique in the virtual host. So are the later groups once a route matches every
// request (a bare PathPrefix "/", say): the model stays small when every hostname has one.
func (r *resolver) virtualHost(d string, groups []*hostGroup) model.VirtualHost {
	seq := r.vhostEntries(groups)
	vh := model.VirtualHost{Name: d, Domains: []string{d}, Routes: make([]model.Route, len(seq))}
	for i, e := range seq {
		vh.Routes[i] = e.route
	}
	return vh
}

// vhostEntries are the entries of the virtual host of groups, in order (in scratch space, valid
// until the next call).
func (r *resolver) vhostEntries(groups []*hostGroup) []*entry {
	seq := r.seq[:0]
	defer func() { r.seq = seq[:0] }()
	if len(groups) == 1 {
		for _, x := range groups[0].entries {
			seq = append(seq, x.e)
		}
		return seq
	}
	r.stamp++ // marks the routes this virtual host holds
	all := false
	for i, g := range groups {
		if all {
			break
		}
		for _, x := range g.entries {
			if x.rt.stamp == r.stamp {
				continue
			}
			seq = append(seq, x.e)
			all = all || matchesAll(&x.e.route.Match)
			if all && i > 0 {
				break
			}
		}
		for _, x := range g.entries {
			x.rt.stamp = r.stamp
		}
	}
	return seq
}

// matchesAll says whether a match matches every request.
func matchesAll(m *model.Match) bool {
	if m.Method != "" || len(m.Headers) > 0 || len(m.QueryParams) > 0 {
		return false
	}
	return m.Path == nil || m.Path.Type == model.MatchPathPrefix && strings.TrimRight(m.Path.Value, "/") == ""
}
