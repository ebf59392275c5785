package translate

import (
	"fmt"
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// routeCtx is where a route configuration is served.
type routeCtx struct {
	name     string // the route configuration's name
	listener *model.Listener
	scheme   string // "http" or "https": what a redirect keeps when it names no scheme
	httpFilters
}

// httpFilters is what the routes of a route configuration need of its HTTP connection manager.
type httpFilters struct {
	cors bool // some route has a CORS policy: the CORS filter
	// picker is the first (by name) Endpoint Picker some route asks: the ext_proc filter.
	picker string
	protectionNeeds
}

// routeConfig translates the virtual hosts of an HTTP listener or HTTPS chain into the route
// configuration called name. It also says which HTTP filters its routes need.
func (b *builder) routeConfig(name string, l *model.Listener, scheme string, vhs []model.VirtualHost) (*routev3.RouteConfiguration, httpFilters, error) {
	ctx := &routeCtx{name: name, listener: l, scheme: scheme}
	// Clusters come over CDS and may be missing (InvalidBackendCluster always is): no validation.
	// A backend's own header changes win over its route's, being the more specific.
	rc := &routev3.RouteConfiguration{Name: name, ValidateClusters: wrapperspb.Bool(false),
		MostSpecificHeaderMutationsWins: true, VirtualHosts: make([]*routev3.VirtualHost, 0, len(vhs))}
	st := &rcState{domains: make(map[string]bool, len(vhs)), kept: make([]*vhostMemo, 0, len(vhs)),
		prev: cursor[*vhostMemo]{items: b.prevVhosts[name], name: func(m **vhostMemo) string { return (*m).vh.Name }}}
	domains := st.domains
	for _, mv := range byName(vhs, func(v *model.VirtualHost) string { return v.Name }) {
		vh, err := b.virtualHost(ctx, mv, st)
		if err != nil {
			return nil, httpFilters{}, fmt.Errorf("virtual host %s: %w", mv.Name, err)
		}
		if vh != nil {
			rc.VirtualHosts = append(rc.VirtualHosts, vh)
		}
	}
	for _, vh := range b.errorPagesHosts(ctx.errorPages) {
		if key := strings.ToLower(vh.Domains[0]); domains[key] {
			b.warnf("route configuration %s: domain %s is a route's, so its error pages are not served", name, vh.Domains[0])
			continue
		}
		b.freshVhosts = append(b.freshVhosts, freshVhost{name, vh})
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
	}
	// The virtual hosts are validated one by one: a new one in finish, a reused one when it was new.
	if err := validateWithout(rc); err != nil {
		return nil, httpFilters{}, fmt.Errorf("route configuration %q is invalid: %w", name, err)
	}
	b.res.Routes = append(b.res.Routes, rc)
	if b.res.vhosts == nil {
		b.res.vhosts = map[string][]*vhostMemo{}
	}
	b.res.vhosts[name] = st.kept
	return rc, ctx.httpFilters, nil
}

// claim marks ds served in domains, unless one of them is already (then it marks none).
func claim(domains map[string]bool, ds []string) bool {
	for i, d := range ds {
		key := strings.ToLower(d)
		if domains[key] {
			for _, e := range ds[:i] {
				delete(domains, strings.ToLower(e))
			}
			return false
		}
		domains[key] = true
	}
	return true
}

// rcState is what the virtual hosts of one route configuration share while translated: the
// domains served so far, the name of the last virtual host kept (virtual hosts come sorted by
// name, so one used twice comes next), and the last translation's virtual hosts and this one's.
type rcState struct {
	domains  map[string]bool
	lastName string
	prev     cursor[*vhostMemo]
	kept     []*vhostMemo
	buf      []string // scratch space for domains
}

// validateWithout validates a route configuration but for its virtual hosts.
func validateWithout(rc *routev3.RouteConfiguration) error {
	vhs := rc.VirtualHosts
	rc.VirtualHosts = nil
	err := rc.ValidateAll()
	rc.VirtualHosts = vhs
	return err
}

// virtualHost translates one virtual host. Envoy refuses a domain that two virtual hosts of one
// route configuration share (compared without case), and invalid names: those are left out.
//
// Its routes are translated in a context of their own, whose needs are then added to the route
// configuration's: so the translation of a virtual host depends on nothing but the virtual host,
// where it is served (its route configuration, scheme and port) and the clusters it reads, and
// the next translation of the fleet reuses it when none of them changed (see vhostMemo).
func (b *builder) virtualHost(ctx *routeCtx, mv *model.VirtualHost, st *rcState) (*routev3.VirtualHost, error) {
	if mv.Name == "" || mv.Name == st.lastName {
		b.warnf("route configuration %s: virtual host name %q is empty or used twice; virtual host left out", ctx.name, mv.Name)
		return nil, nil
	}
	domains := st.domains
	// The last translation's, when it is of the same routes and its domains are still free.
	if i, ok := st.prev.find(mv.Name); ok {
		if m := st.prev.items[i]; b.reusable(m, ctx, mv) && claim(domains, m.vh.Domains) {
			st.lastName = mv.Name
			st.kept = append(st.kept, m)
			ctx.add(&m.needs)
			b.warnings = append(b.warnings, m.warnings...)
			b.routeWarnings = append(b.routeWarnings, m.routeWarnings...)
			return m.vh, nil
		}
	}
	usable := st.buf[:0]
	defer func() { st.buf = usable[:0] }()
	for _, d := range sorted(mv.Domains) {
		key := strings.ToLower(d)
		switch {
		case d == "" || !safe(d):
			b.warnf("route configuration %s virtual host %s: domain %q is invalid; left out", ctx.name, mv.Name, d)
		case domains[key]:
			b.warnf("route configuration %s virtual host %s: domain %q is already served by another virtual host; left out", ctx.name, mv.Name, d)
		default:
			domains[key] = true
			usable = append(usable, d)
		}
	}
	if len(usable) == 0 {
		b.warnf("route configuration %s: virtual host %s has no usable domain; left out", ctx.name, mv.Name)
		return nil, nil
	}
	st.lastName = mv.Name
	own := &routeCtx{name: ctx.name, listener: ctx.listener, scheme: ctx.scheme}
	w, rw := len(b.warnings), len(b.routeWarnings)
	b.reads = b.reads[:0]
	b.recording = true
	vh := b.a.vhost.new()
	vh.Name, vh.Domains = mv.Name, slices.Clone(usable)
	vh.Routes = make([]*routev3.Route, 0, len(mv.Routes))
	if mv.Misdirected {
		vh.Routes = append(vh.Routes, misdirected())
	}
	for i := range mv.Routes {
		r, err := b.route(own, &mv.Routes[i])
		if err != nil {
			b.recording = false
			return nil, fmt.Errorf("route %s: %w", mv.Routes[i].Name, err)
		}
		if r != nil {
			vh.Routes = append(vh.Routes, r)
		}
	}
	b.recording = false
	b.freshVhosts = append(b.freshVhosts, freshVhost{ctx.name, vh}) // validated with the rest (finish)
	ctx.add(&own.httpFilters)
	m := &vhostMemo{n: len(mv.Routes), misdirected: mv.Misdirected, domains: mv.Domains, port: ctx.listener.Port, scheme: ctx.scheme,
		reads: slices.Clone(b.reads), vh: vh, needs: own.httpFilters,
		warnings: slices.Clone(b.warnings[w:]), routeWarnings: slices.Clone(b.routeWarnings[rw:])}
	if len(mv.Routes) > 0 {
		m.routes = &mv.Routes[0]
	}
	st.kept = append(st.kept, m)
	return vh, nil
}

// MisdirectedRoute names the route of a misdirected virtual host (model.VirtualHost.Misdirected).
const MisdirectedRoute = "misdirected"

// misdirected is the one route of a misdirected virtual host: every request answers 421 (an
// HTTP/2 client then retries on a connection of its own for the host, RFC 9113 9.1.2).
func misdirected() *routev3.Route {
	return &routev3.Route{Name: MisdirectedRoute, Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 421}}}
}

// route translates one route. It returns nil for a route whose match can never be met (and so
// can be left out without changing what any request gets).
func (b *builder) route(ctx *routeCtx, mr *model.Route) (*routev3.Route, error) {
	m, never, err := b.match(&mr.Match)
	if err != nil {
		return nil, err
	}
	if never != "" {
		b.routeWarnf(mr.Name, "%s, so the route can never match; left out", never)
		return nil, nil
	}
	rt := b.a.route.new()
	rt.Name, rt.Match, rt.Tracing = mr.Name, m, b.routeTracing(mr.Name)
	fs, fail, err := b.routeFilters(ctx, mr)
	if err != nil {
		return nil, err
	}
	if fail == "" && mr.Protections != nil {
		if fail, err = b.protect(ctx, rt, mr.Protections); err != nil {
			return nil, err
		}
	}
	if fail == "" {
		switch {
		case mr.Redirect != nil:
			var rd *routev3.RedirectAction
			rd, fail = b.redirect(ctx, mr)
			rt.Action = &routev3.Route_Redirect{Redirect: rd}
		default:
			fail, err = b.routeAction(rt, mr, &fs)
			if err != nil {
				return nil, err
			}
		}
	}
	if fail != "" {
		b.routeWarnf(mr.Name, "%s; the route answers %d instead", fail, errorStatus(mr))
		return &routev3.Route{Name: mr.Name, Match: m, Action: directResponse(mr), Tracing: b.routeTracing(mr.Name)}, nil
	}
	if rr, forwards := rt.Action.(*routev3.Route_Route); forwards {
		rt.RequestHeadersToAdd = fs.request.add
		rt.RequestHeadersToRemove = append(fs.request.remove, rt.RequestHeadersToRemove...)
		if err := b.endpointPickers(ctx, rt, rr.Route); err != nil {
			return nil, err
		}
	}
	rt.ResponseHeadersToAdd, rt.ResponseHeadersToRemove = fs.response.add, fs.response.remove
	if fs.cors != nil {
		rt.TypedPerFilterConfig = withFilterConfig(rt.TypedPerFilterConfig, nameCORS, fs.cors)
		ctx.cors = true
	}
	return rt, nil
}

// errorStatus is what a route answers when it has nowhere to send a request: 500, as Gateway API
// requires, or 503 for gRPC (which gRPC clients see as UNAVAILABLE).
func errorStatus(mr *model.Route) uint32 {
	if mr.Match.GRPC {
		return 503
	}
	return 500
}

func directResponse(mr *model.Route) *routev3.Route_DirectResponse {
	return &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: errorStatus(mr)}}
}

// match translates a request match. never says why a match can never be met; err is a model
// that breaks its own rules (an invalid regular expression, an unknown match type).
func (b *builder) match(mm *model.Match) (m *routev3.RouteMatch, never string, err error) {
	m = b.a.match.new()
	p := mm.Path
	switch {
	case p == nil:
		m.PathSpecifier = b.prefix("/")
	case p.Type == model.MatchExact:
		ps := b.a.path.new()
		ps.Path = p.Value
		m.PathSpecifier = ps
	case p.Type == model.MatchPathPrefix:
		// Gateway API ignores a trailing "/"; path_separated_prefix refuses one.
		v := strings.TrimRight(p.Value, "/")
		switch {
		case v == "":
			m.PathSpecifier = b.prefix("/")
		case strings.ContainsAny(v, "?#") || !safe(v):
			return nil, fmt.Sprintf("path prefix %q holds a character no request path has", p.Value), nil
		default:
			ps := b.a.sepPrefix.new()
			ps.PathSeparatedPrefix = v
			m.PathSpecifier = ps
		}
	case p.Type == model.MatchPrefix:
		switch {
		case !strings.HasPrefix(p.Value, "/") || strings.ContainsAny(p.Value, "?#") || !safe(p.Value):
			return nil, fmt.Sprintf("path prefix %q holds a character no request path has", p.Value), nil
		default:
			m.PathSpecifier = b.prefix(p.Value)
		}
	case p.Type == model.MatchRegex:
		if p.Value == "" {
			return nil, "the path regular expression is empty", nil
		}
		if err := b.checkRegex(p.Value); err != nil {
			return nil, "", err
		}
		m.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: p.Value}}
	default:
		return nil, "", fmt.Errorf("path match type %q is unknown", p.Type)
	}
	n := len(mm.Headers)
	if mm.Method != "" {
		n++
	}
	if n > 0 {
		m.Headers = make([]*routev3.HeaderMatcher, 0, n)
	}
	if mm.Method != "" {
		m.Headers = append(m.Headers, &routev3.HeaderMatcher{Name: ":method",
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exact(mm.Method)}})
	}
	for i := range mm.Headers {
		h := &mm.Headers[i]
		if h.Name == "" || !safe(h.Name) {
			return nil, fmt.Sprintf("header name %q is invalid", h.Name), nil
		}
		sm, err := b.stringMatch(h)
		if err != nil {
			return nil, "", err
		}
		m.Headers = append(m.Headers, &routev3.HeaderMatcher{Name: h.Name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: sm}})
	}
	for i := range mm.QueryParams {
		q := &mm.QueryParams[i]
		if q.Name == "" || len(q.Name) > maxQueryNameBytes {
			return nil, fmt.Sprintf("query parameter name %q is empty or too long", q.Name), nil
		}
		sm, err := b.stringMatch(q)
		if err != nil {
			return nil, "", err
		}
		m.QueryParameters = append(m.QueryParameters, &routev3.QueryParameterMatcher{Name: q.Name,
			QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: sm}})
	}
	return m, "", nil
}

// stringMatch translates a header or query parameter value match. An empty regular expression
// (which Envoy refuses) matches only the empty value, as an exact match on "" does.
func (b *builder) stringMatch(sm *model.StringMatch) (*matcherv3.StringMatcher, error) {
	switch sm.Type {
	case model.MatchExact:
		return exact(sm.Value), nil
	case model.MatchRegex:
		if sm.Value == "" {
			return exact(""), nil
		}
		if err := b.checkRegex(sm.Value); err != nil {
			return nil, err
		}
		return safeRegex(sm.Value), nil
	}
	return nil, fmt.Errorf("match type %q for %s is unknown", sm.Type, sm.Name)
}

func (b *builder) prefix(p string) *routev3.RouteMatch_Prefix {
	ps := b.a.prefix.new()
	ps.Prefix = p
	return ps
}
