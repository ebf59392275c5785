package gatewayapi

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// entry is one model route with what orders it among the routes of a virtual host.
type entry struct {
	route model.Route
	// pathRank: 0 Exact, 1 RegularExpression, 2 PathPrefix (the spec orders Exact before
	// PathPrefix and leaves regular expressions to implementations: Flotilla puts them between,
	// so that a catch-all prefix never hides them).
	pathRank          int
	pathLen, pathLen2 int // longer first
	method            bool
	headers, queries  int
	rule, match       int
}

// newEntry makes the entry of a rule's match; prefix is the route's namePrefix.
func newEntry(prefix string, rule, match int, m model.Match) entry {
	e := entry{pathRank: 2, method: m.Method != "", headers: len(m.Headers), queries: len(m.QueryParams), rule: rule, match: match}
	if m.Path != nil {
		e.pathLen = len(m.Path.Value)
		switch m.Path.Type {
		case model.MatchExact:
			e.pathRank = 0
		case model.MatchRegex:
			e.pathRank = 1
		}
	}
	e.route = model.Route{Name: prefix + strconv.Itoa(rule) + "/match/" + strconv.Itoa(match), Match: m}
	return e
}

// namePrefix is what the names of the route's model routes start with: "<kind>/<ns>/<name>/rule/".
func (rt *route) namePrefix() string {
	return string(rt.kind) + "/" + rt.meta.Namespace + "/" + rt.meta.Name + "/rule/"
}

// httpRoute converts an HTTPRoute: one entry per rule and match.
func (r *resolver) httpRoute(hr *gwapiv1.HTTPRoute) *route {
	rt := &route{kind: kindHTTPRoute, meta: &hr.ObjectMeta, parentRefs: hr.Spec.ParentRefs, hostnames: hr.Spec.Hostnames}
	prefix := rt.namePrefix()
	n := 0
	for i := range hr.Spec.Rules {
		n += max(len(hr.Spec.Rules[i].Matches), 1)
	}
	// The matches first (an entry each): a route refused for one (an invalid or too large regular
	// expression, say) costs checking them, not resolving its backends and filters too.
	rt.entries = make([]entry, 0, n)
	for i := range hr.Spec.Rules {
		matches := hr.Spec.Rules[i].Matches
		if len(matches) == 0 {
			matches = []gwapiv1.HTTPRouteMatch{{}}
		}
		for j := range matches {
			mm, bad := httpMatch(&matches[j])
			if bad != "" {
				rt.invalid, rt.entries = fmt.Sprintf("rule %d match %d: %s", i, j, bad), nil
				return rt
			}
			rt.entries = append(rt.entries, newEntry(prefix, i, j, mm))
		}
	}
	next := 0 // the first entry of the rule
	for i := range hr.Spec.Rules {
		rule := &hr.Spec.Rules[i]
		filters, redirect, bad := r.httpFilters(rt, rule.Filters)
		if bad != "" {
			rt.invalid = fmt.Sprintf("rule %d: %s", i, bad)
			return rt
		}
		protections, set := r.ruleProtections(rt, i, rule.Filters)
		if set.Redirect != nil {
			if redirect != nil {
				rt.invalid = fmt.Sprintf("rule %d: a RouteFilter's redirect and a RequestRedirect filter cannot both answer the rule", i)
				return rt
			}
			redirect = set.Redirect
		}
		if set.Rewrite != nil {
			if filters, bad = withRegexRewrite(filters, set.Rewrite); bad != "" {
				rt.invalid = fmt.Sprintf("rule %d: %s", i, bad)
				return rt
			}
		}
		var backends *model.Backends
		if redirect == nil {
			var perBackend [][]model.Filter // nil when no backendRef has filters
			for j := range rule.BackendRefs {
				br := &rule.BackendRefs[j]
				if len(br.Filters) == 0 {
					continue
				}
				f, bad := r.backendFilters(rt, br.Filters)
				if bad != "" {
					rt.invalid = fmt.Sprintf("rule %d backendRef %d: %s", i, j, bad)
					return rt
				}
				if perBackend == nil {
					perBackend = make([][]model.Filter, len(rule.BackendRefs))
				}
				perBackend[j] = f
			}
			backends = r.weighted(rt, len(rule.BackendRefs), func(j int) *gwapiv1.BackendRef { return &rule.BackendRefs[j].BackendRef },
				func(j int) []model.Filter {
					if perBackend == nil {
						return nil
					}
					return perBackend[j]
				})
		}
		var timeouts *model.Timeouts
		if t := rule.Timeouts; t != nil {
			timeouts = &model.Timeouts{Request: string(ptrOrZero(t.Request)), BackendRequest: string(ptrOrZero(t.BackendRequest))}
		}
		if set.Idle != "" {
			timeouts = &model.Timeouts{Idle: set.Idle}
			if t := rule.Timeouts; t != nil {
				timeouts.Request, timeouts.BackendRequest = string(ptrOrZero(t.Request)), string(ptrOrZero(t.BackendRequest))
			}
		}
		var retry *model.Retry
		if rr := rule.Retry; rr != nil {
			retry = &model.Retry{Attempts: ptrOrZero(rr.Attempts), Backoff: string(ptrOrZero(rr.Backoff))}
			for _, c := range rr.Codes {
				retry.Codes = append(retry.Codes, int(c))
			}
		}
		for k := range max(len(rule.Matches), 1) {
			e := &rt.entries[next+k]
			e.route.Filters, e.route.Redirect, e.route.Backends = filters, redirect, backends
			// The model's routes are read-only: the matches of a rule share its timeouts and retry.
			e.route.Timeouts, e.route.Retry, e.route.Protections = timeouts, retry, protections
		}
		next += max(len(rule.Matches), 1)
	}
	return rt
}

// withRegexRewrite adds a RouteFilter's regular-expression path rewrite to a rule's filters:
// into its URLRewrite of the hostname, if any; a URLRewrite of the path too is a conflict.
func withRegexRewrite(fs []model.Filter, rw *model.RegexRewrite) ([]model.Filter, string) {
	out := slices.Clone(fs)
	for i, f := range out {
		if f.Type != model.FilterURLRewrite {
			continue
		}
		if f.URLRewrite.Path != nil {
			return nil, "a RouteFilter's pathRewrite and a URLRewrite filter of the path cannot both rewrite the path"
		}
		u := *f.URLRewrite
		u.Path = &model.PathModifier{Regex: rw}
		out[i].URLRewrite = &u
		return out, ""
	}
	return append(out, model.Filter{Type: model.FilterURLRewrite, URLRewrite: &model.URLRewrite{Path: &model.PathModifier{Regex: rw}}}), ""
}

func ptrOrZero[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

// httpMatch converts a match, applying the spec's defaults (PathPrefix "/", Exact headers and
// query parameters; the first of duplicate names wins). bad says why it cannot be implemented.
func httpMatch(m *gwapiv1.HTTPRouteMatch) (model.Match, string) {
	out := model.Match{Path: &model.StringMatch{Type: model.MatchPathPrefix, Value: "/"}}
	if p := m.Path; p != nil {
		if p.Type != nil {
			out.Path.Type = model.MatchType(*p.Type)
		}
		if p.Value != nil {
			out.Path.Value = *p.Value
		}
		switch out.Path.Type {
		case model.MatchExact, model.MatchPathPrefix:
			if !strings.HasPrefix(out.Path.Value, "/") {
				return out, fmt.Sprintf("path %q must start with /", out.Path.Value)
			}
		case model.MatchRegex:
			n, exact, err := regexSize(out.Path.Value)
			if err != nil {
				return out, fmt.Sprintf("invalid path regular expression %q", out.Path.Value)
			}
			if bad := tooLarge("path", n, exact); bad != "" {
				return out, bad
			}
		default:
			return out, fmt.Sprintf("unsupported path match type %q", out.Path.Type)
		}
	}
	if m.Method != nil {
		out.Method = string(*m.Method)
	}
	for i, h := range m.Headers {
		if slices.ContainsFunc(m.Headers[:i], func(o gwapiv1.HTTPHeaderMatch) bool { return strings.EqualFold(string(o.Name), string(h.Name)) }) {
			continue
		}
		sm, bad := stringMatch("header", string(h.Name), (*string)(h.Type), h.Value)
		if bad != "" {
			return out, bad
		}
		out.Headers = append(out.Headers, sm)
	}
	for i, q := range m.QueryParams {
		if slices.ContainsFunc(m.QueryParams[:i], func(o gwapiv1.HTTPQueryParamMatch) bool { return o.Name == q.Name }) {
			continue
		}
		sm, bad := stringMatch("query parameter", string(q.Name), (*string)(q.Type), q.Value)
		if bad != "" {
			return out, bad
		}
		out.QueryParams = append(out.QueryParams, sm)
	}
	return out, ""
}

// stringMatch converts a header or query parameter match; what is "header" or "query parameter".
func stringMatch(what, name string, typ *string, value string) (model.StringMatch, string) {
	sm := model.StringMatch{Name: name, Type: model.MatchExact, Value: value}
	if typ != nil {
		sm.Type = model.MatchType(*typ)
	}
	switch sm.Type {
	case model.MatchExact:
	case model.MatchRegex:
		n, exact, err := regexSize(value)
		if err != nil {
			return sm, fmt.Sprintf("invalid regular expression %q for %s", value, name)
		}
		if bad := tooLarge(what+" "+name, n, exact); bad != "" {
			return sm, bad
		}
	default:
		return sm, fmt.Sprintf("unsupported match type %q for %s", sm.Type, name)
	}
	return sm, ""
}
