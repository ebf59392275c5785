package explain

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// matchRoute says whether the request meets every criterion of m, or why not (the first one it
// fails).
func (e *explainer) matchRoute(m *routev3.RouteMatch) (bool, string) {
	if ok, why := e.matchPath(m); !ok {
		return false, why
	}
	for _, h := range m.GetHeaders() {
		if ok, why := e.matchHeader(h); !ok {
			return false, why
		}
	}
	if len(m.GetQueryParameters()) > 0 {
		params := parseQuery(e.req.Query)
		for _, q := range m.GetQueryParameters() {
			if ok, why := e.matchQuery(q, params); !ok {
				return false, why
			}
		}
	}
	for _, unsupported := range []struct {
		set  bool
		name string
	}{{m.GetRuntimeFraction() != nil, "runtime_fraction"}, {m.GetGrpc() != nil, "grpc"}, {m.GetTlsContext() != nil, "tls_context"},
		{len(m.GetDynamicMetadata()) > 0, "dynamic_metadata"}, {m.GetFilterState() != nil, "filter_state"}} {
		if unsupported.set {
			e.note("route match %s is not evaluated by this tool (assumed to match)", unsupported.name)
		}
	}
	return true, ""
}

// matchPath matches the path specifier: prefix on the whole :path (query included), path and
// path_separated_prefix on the path without query, safe_regex (a full match) likewise.
func (e *explainer) matchPath(m *routev3.RouteMatch) (bool, string) {
	path := e.req.Path
	full := path
	if e.req.Query != "" {
		full += "?" + e.req.Query
	}
	fold := m.GetCaseSensitive() != nil && !m.GetCaseSensitive().GetValue()
	eq := func(a, b string) bool { return a == b || fold && strings.EqualFold(a, b) }
	hasPrefix := func(s, p string) bool { return len(s) >= len(p) && eq(s[:len(p)], p) }
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		if hasPrefix(full, ps.Prefix) {
			return true, ""
		}
		return false, fmt.Sprintf("path %s does not start with prefix %s", full, ps.Prefix)
	case *routev3.RouteMatch_Path:
		if eq(path, ps.Path) {
			return true, ""
		}
		return false, fmt.Sprintf("path %s is not %s", path, ps.Path)
	case *routev3.RouteMatch_PathSeparatedPrefix:
		p := ps.PathSeparatedPrefix
		if eq(path, p) || hasPrefix(path, p+"/") {
			return true, ""
		}
		return false, fmt.Sprintf("path %s is neither %s nor under %s/", path, p, p)
	case *routev3.RouteMatch_SafeRegex:
		re, err := e.regex(ps.SafeRegex.GetRegex())
		if err != nil {
			return false, err.Error()
		}
		if re.MatchString(path) {
			return true, ""
		}
		return false, fmt.Sprintf("path %s does not match regular expression %s", path, ps.SafeRegex.GetRegex())
	case nil:
		return false, "the route has no path match"
	default:
		return false, fmt.Sprintf("path match %T is not evaluated by this tool (taken as not matching)", ps)
	}
}

// header returns a request header's value (several values joined by ",", as Envoy matches them),
// pseudo-headers included.
func (e *explainer) header(name string) (string, bool) {
	switch name = strings.ToLower(name); name {
	case ":method":
		return e.req.Method, true
	case ":authority", "host":
		return e.req.Authority, true
	case ":scheme":
		return e.req.Scheme, true
	case ":path":
		if e.req.Query != "" {
			return e.req.Path + "?" + e.req.Query, true
		}
		return e.req.Path, true
	case "x-forwarded-proto":
		return e.req.Scheme, true // the connection manager sets it (use_remote_address)
	}
	var vals []string
	for _, h := range e.req.Headers {
		if h.Name == name {
			vals = append(vals, h.Value)
		}
	}
	return strings.Join(vals, ","), len(vals) > 0
}

// matchHeader applies one header matcher.
func (e *explainer) matchHeader(h *routev3.HeaderMatcher) (bool, string) {
	v, present := e.header(h.GetName())
	if !present && h.GetTreatMissingHeaderAsEmpty() {
		v, present = "", true
	}
	desc := describeHeader(h)
	if pm, ok := h.GetHeaderMatchSpecifier().(*routev3.HeaderMatcher_PresentMatch); ok {
		if (present == pm.PresentMatch) != h.GetInvertMatch() {
			return true, ""
		}
		if present {
			return false, fmt.Sprintf("header %s is present (want %s)", h.GetName(), desc)
		}
		return false, fmt.Sprintf("header %s is missing (want %s)", h.GetName(), desc)
	}
	if !present {
		return false, fmt.Sprintf("header %s is missing (want %s)", h.GetName(), desc)
	}
	var ok bool
	var err error
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_StringMatch:
		ok, err = e.stringMatch(s.StringMatch, v)
	case *routev3.HeaderMatcher_ExactMatch:
		ok = v == s.ExactMatch
	case *routev3.HeaderMatcher_PrefixMatch:
		ok = strings.HasPrefix(v, s.PrefixMatch)
	case *routev3.HeaderMatcher_SuffixMatch:
		ok = strings.HasSuffix(v, s.SuffixMatch)
	case *routev3.HeaderMatcher_ContainsMatch:
		ok = strings.Contains(v, s.ContainsMatch)
	case *routev3.HeaderMatcher_SafeRegexMatch:
		var re *regexp.Regexp
		if re, err = e.regex(s.SafeRegexMatch.GetRegex()); err == nil {
			ok = re.MatchString(v)
		}
	case *routev3.HeaderMatcher_RangeMatch:
		n, perr := strconv.ParseInt(v, 10, 64)
		ok = perr == nil && n >= s.RangeMatch.GetStart() && n < s.RangeMatch.GetEnd()
	default:
		return false, fmt.Sprintf("header matcher %T is not evaluated by this tool (taken as not matching)", s)
	}
	if err != nil {
		return false, err.Error()
	}
	if ok != h.GetInvertMatch() {
		return true, ""
	}
	return false, fmt.Sprintf("header %s is %q (want %s)", h.GetName(), v, desc)
}

// param is a query parameter, decoded.
type param struct{ name, value string }

// parseQuery splits a query string into its parameters, percent-decoded ("+" stays "+", as in
// Envoy); a parameter without "=" has the empty value.
func parseQuery(q string) []param {
	var out []param
	for _, kv := range strings.Split(q, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		out = append(out, param{unescape(k), unescape(v)})
	}
	return out
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// matchQuery applies one query parameter matcher to the first value of the parameter.
func (e *explainer) matchQuery(q *routev3.QueryParameterMatcher, params []param) (bool, string) {
	desc := describeQuery(q)
	for _, p := range params {
		if p.name != q.GetName() {
			continue
		}
		switch s := q.GetQueryParameterMatchSpecifier().(type) {
		case *routev3.QueryParameterMatcher_PresentMatch:
			if s.PresentMatch {
				return true, ""
			}
			return false, fmt.Sprintf("query parameter %s is present (want %s)", q.GetName(), desc)
		case *routev3.QueryParameterMatcher_StringMatch:
			ok, err := e.stringMatch(s.StringMatch, p.value)
			if err != nil {
				return false, err.Error()
			}
			if ok {
				return true, ""
			}
		}
		return false, fmt.Sprintf("query parameter %s is %q (want %s)", q.GetName(), p.value, desc)
	}
	return false, fmt.Sprintf("query parameter %s is missing (want %s)", q.GetName(), desc)
}

// stringMatch applies a string matcher (regular expressions match the whole value).
func (e *explainer) stringMatch(sm *matcherv3.StringMatcher, v string) (bool, error) {
	fold := sm.GetIgnoreCase()
	switch p := sm.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		return v == p.Exact || fold && strings.EqualFold(v, p.Exact), nil
	case *matcherv3.StringMatcher_Prefix:
		return len(v) >= len(p.Prefix) && (v[:len(p.Prefix)] == p.Prefix || fold && strings.EqualFold(v[:len(p.Prefix)], p.Prefix)), nil
	case *matcherv3.StringMatcher_Suffix:
		n := len(v) - len(p.Suffix)
		return n >= 0 && (v[n:] == p.Suffix || fold && strings.EqualFold(v[n:], p.Suffix)), nil
	case *matcherv3.StringMatcher_Contains:
		if fold {
			return strings.Contains(strings.ToLower(v), strings.ToLower(p.Contains)), nil
		}
		return strings.Contains(v, p.Contains), nil
	case *matcherv3.StringMatcher_SafeRegex:
		re, err := e.regex(p.SafeRegex.GetRegex())
		if err != nil {
			return false, err
		}
		return re.MatchString(v), nil
	}
	return false, fmt.Errorf("string matcher %T is not evaluated by this tool (taken as not matching)", sm.GetMatchPattern())
}

// regex compiles an RE2 regular expression for a full match (Envoy's safe_regex semantics).
func (e *explainer) regex(expr string) (*regexp.Regexp, error) {
	if re, ok := e.regexes[expr]; ok {
		return re, nil
	}
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil, fmt.Errorf("regular expression %q does not compile: %w", expr, err)
	}
	e.regexes[expr] = re
	return re, nil
}

// describeMatch says what a route matches, in Envoy's terms.
func describeMatch(m *routev3.RouteMatch) string {
	var parts []string
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		parts = append(parts, "prefix "+ps.Prefix)
	case *routev3.RouteMatch_Path:
		parts = append(parts, "path "+ps.Path)
	case *routev3.RouteMatch_PathSeparatedPrefix:
		parts = append(parts, "path_separated_prefix "+ps.PathSeparatedPrefix)
	case *routev3.RouteMatch_SafeRegex:
		parts = append(parts, "safe_regex "+ps.SafeRegex.GetRegex())
	}
	if cs := m.GetCaseSensitive(); cs != nil && !cs.GetValue() {
		parts = append(parts, "(case-insensitive)")
	}
	for _, h := range m.GetHeaders() {
		parts = append(parts, "header "+h.GetName()+" "+describeHeader(h))
	}
	for _, q := range m.GetQueryParameters() {
		parts = append(parts, "query "+q.GetName()+" "+describeQuery(q))
	}
	return strings.Join(parts, ", ")
}

func describeHeader(h *routev3.HeaderMatcher) string {
	var d string
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_StringMatch:
		d = describeString(s.StringMatch)
	case *routev3.HeaderMatcher_ExactMatch:
		d = fmt.Sprintf("exact %q", s.ExactMatch)
	case *routev3.HeaderMatcher_PrefixMatch:
		d = fmt.Sprintf("prefix %q", s.PrefixMatch)
	case *routev3.HeaderMatcher_SuffixMatch:
		d = fmt.Sprintf("suffix %q", s.SuffixMatch)
	case *routev3.HeaderMatcher_ContainsMatch:
		d = fmt.Sprintf("contains %q", s.ContainsMatch)
	case *routev3.HeaderMatcher_SafeRegexMatch:
		d = fmt.Sprintf("regex %q", s.SafeRegexMatch.GetRegex())
	case *routev3.HeaderMatcher_RangeMatch:
		d = fmt.Sprintf("in [%d, %d)", s.RangeMatch.GetStart(), s.RangeMatch.GetEnd())
	case *routev3.HeaderMatcher_PresentMatch:
		d = "present"
		if !s.PresentMatch {
			d = "absent"
		}
	}
	if h.GetInvertMatch() {
		d = "not " + d
	}
	return d
}

func describeQuery(q *routev3.QueryParameterMatcher) string {
	if sm := q.GetStringMatch(); sm != nil {
		return describeString(sm)
	}
	return "present"
}

func describeString(sm *matcherv3.StringMatcher) string {
	var d string
	switch p := sm.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		d = fmt.Sprintf("exact %q", p.Exact)
	case *matcherv3.StringMatcher_Prefix:
		d = fmt.Sprintf("prefix %q", p.Prefix)
	case *matcherv3.StringMatcher_Suffix:
		d = fmt.Sprintf("suffix %q", p.Suffix)
	case *matcherv3.StringMatcher_Contains:
		d = fmt.Sprintf("contains %q", p.Contains)
	case *matcherv3.StringMatcher_SafeRegex:
		d = fmt.Sprintf("regex %q", p.SafeRegex.GetRegex())
	default:
		d = fmt.Sprintf("%T", p)
	}
	if sm.GetIgnoreCase() {
		d += " (ignoring case)"
	}
	return d
}
