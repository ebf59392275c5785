package gatewayapi

import (
	"fmt"
	"regexp"
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

func newEntry(rt *route, rule, match int, m model.Match) entry {
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
	e.route = model.Route{Name: fmt.Sprintf("%s/%s/rule/%d/match/%d", rt.kind, rt.id(), rule, match), Match: m}
	return e
}

// httpRoute converts an HTTPRoute: one entry per rule and match.
func (r *resolver) httpRoute(hr *gwapiv1.HTTPRoute) *route {
	rt := &route{kind: kindHTTPRoute, meta: &hr.ObjectMeta, parentRefs: hr.Spec.ParentRefs, hostnames: hr.Spec.Hostnames}
	for i, rule := range hr.Spec.Rules {
		filters, redirect, bad := r.httpFilters(rt, rule.Filters)
		if bad != "" {
			rt.invalid = fmt.Sprintf("rule %d: %s", i, bad)
			return rt
		}
		var backends *model.Backends
		if redirect == nil {
			refs := make([]gwapiv1.BackendRef, len(rule.BackendRefs))
			perBackend := make([][]model.Filter, len(rule.BackendRefs))
			for j, br := range rule.BackendRefs {
				refs[j] = br.BackendRef
				f, _, bad := r.httpFilters(rt, br.Filters)
				if bad != "" {
					rt.invalid = fmt.Sprintf("rule %d backendRef %d: %s", i, j, bad)
					return rt
				}
				perBackend[j] = f
			}
			backends = r.weighted(rt, refs, func(j int) []model.Filter { return perBackend[j] })
		}
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []gwapiv1.HTTPRouteMatch{{}}
		}
		for j, m := range matches {
			mm, bad := httpMatch(m)
			if bad != "" {
				rt.invalid = fmt.Sprintf("rule %d match %d: %s", i, j, bad)
				return rt
			}
			e := newEntry(rt, i, j, mm)
			e.route.Filters, e.route.Redirect, e.route.Backends = filters, redirect, backends
			if t := rule.Timeouts; t != nil {
				e.route.Timeouts = &model.Timeouts{Request: string(ptrOrZero(t.Request)), BackendRequest: string(ptrOrZero(t.BackendRequest))}
			}
			if rr := rule.Retry; rr != nil {
				e.route.Retry = &model.Retry{Attempts: ptrOrZero(rr.Attempts), Backoff: string(ptrOrZero(rr.Backoff))}
				for _, c := range rr.Codes {
					e.route.Retry.Codes = append(e.route.Retry.Codes, int(c))
				}
			}
			rt.entries = append(rt.entries, e)
		}
	}
	return rt
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
func httpMatch(m gwapiv1.HTTPRouteMatch) (model.Match, string) {
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
			if _, err := regexp.Compile(out.Path.Value); err != nil {
				return out, fmt.Sprintf("invalid path regular expression %q", out.Path.Value)
			}
		default:
			return out, fmt.Sprintf("unsupported path match type %q", out.Path.Type)
		}
	}
	if m.Method != nil {
		out.Method = string(*m.Method)
	}
	seen := map[string]bool{}
	for _, h := range m.Headers {
		if seen[strings.ToLower(string(h.Name))] {
			continue
		}
		seen[strings.ToLower(string(h.Name))] = true
		sm, bad := stringMatch(string(h.Name), (*string)(h.Type), h.Value)
		if bad != "" {
			return out, bad
		}
		out.Headers = append(out.Headers, sm)
	}
	seen = map[string]bool{}
	for _, q := range m.QueryParams {
		if seen[string(q.Name)] {
			continue
		}
		seen[string(q.Name)] = true
		sm, bad := stringMatch(string(q.Name), (*string)(q.Type), q.Value)
		if bad != "" {
			return out, bad
		}
		out.QueryParams = append(out.QueryParams, sm)
	}
	return out, ""
}

func stringMatch(name string, typ *string, value string) (model.StringMatch, string) {
	sm := model.StringMatch{Name: name, Type: model.MatchExact, Value: value}
	if typ != nil {
		sm.Type = model.MatchType(*typ)
	}
	switch sm.Type {
	case model.MatchExact:
	case model.MatchRegex:
		if _, err := regexp.Compile(value); err != nil {
			return sm, fmt.Sprintf("invalid regular expression %q for %s", value, name)
		}
	default:
		return sm, fmt.Sprintf("unsupported match type %q for %s", sm.Type, name)
	}
	return sm, ""
}
