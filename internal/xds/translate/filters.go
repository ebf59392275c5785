package translate

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// headerOps are the header changes of one direction (request or response).
type headerOps struct {
	add    []*corev3.HeaderValueOption
	remove []string
}

// filterSet is what a route's (or a backend's) filters ask for, ready to be placed.
type filterSet struct {
	request, response headerOps
	// host replaces the Host header: URLRewrite's hostname, or a Host header set by a
	// RequestHeaderModifier (Envoy does not let headers_to_add touch Host). The last one wins.
	host    string
	path    *model.PathModifier
	mirrors []*routev3.RouteAction_RequestMirrorPolicy
	cors    *anypb.Any
}

// routeFilters collects a route's filters in order. fail says why the filters cannot be applied
// as written (the route then answers an error rather than forward an unmodified request).
func (b *builder) routeFilters(ctx *routeCtx, mr *model.Route) (fs filterSet, fail string, err error) {
	for i := range mr.Filters {
		f := &mr.Filters[i]
		switch f.Type {
		case model.FilterRequestHeaders:
			fail = b.headers(mr.Name, "", &fs, f.RequestHeaders, true)
		case model.FilterResponseHeaders:
			fail = b.headers(mr.Name, "", &fs, f.ResponseHeaders, false)
		case model.FilterURLRewrite:
			if u := f.URLRewrite; u != nil {
				if u.Hostname != "" {
					fs.host = u.Hostname
				}
				if u.Path != nil {
					fs.path = u.Path
				}
			}
		case model.FilterMirror:
			var mp *routev3.RouteAction_RequestMirrorPolicy
			if mp, err = b.mirror(mr.Name, f.Mirror); err != nil {
				return fs, "", err
			}
			if mp != nil {
				fs.mirrors = append(fs.mirrors, mp)
			}
		case model.FilterCORS:
			if fs.cors, fail, err = b.corsPolicy(f.CORS); err != nil {
				return fs, "", err
			}
		default:
			fail = fmt.Sprintf("filter type %q is unknown", f.Type)
		}
		if fail != "" {
			return fs, fail, nil
		}
	}
	if fs.host != "" && !safe(fs.host) {
		return fs, fmt.Sprintf("host rewrite %q is not a valid header value", fs.host), nil
	}
	if len(fs.request.add) > maxHeadersToAdd || len(fs.response.add) > maxHeadersToAdd {
		return fs, "more headers to add than Envoy accepts", nil
	}
	return fs, "", nil
}

// headers adds a header modifier's changes to fs. Envoy refuses to modify pseudo-headers and
// Host: setting Host becomes a host rewrite, removing it (which HTTP/1.1 forbids anyway) is
// ignored with a warning, as is any change of a response's Host header.
func (b *builder) headers(route, where string, fs *filterSet, hm *model.HeaderModifier, request bool) (fail string) {
	if hm == nil {
		return ""
	}
	ops := &fs.response
	if request {
		ops = &fs.request
	}
	option := func(h model.Header, action corev3.HeaderValueOption_HeaderAppendAction) string {
		switch {
		case !isToken(h.Name):
			return fmt.Sprintf("header name %q is invalid", h.Name)
		case !safe(h.Value):
			return fmt.Sprintf("value of header %s is not a valid header value", h.Name)
		case strings.EqualFold(h.Name, "host"):
			if request {
				fs.host = h.Value
			} else {
				b.routeWarnf(route, "%sa response Host header cannot be modified; ignored", prefixed(where))
			}
			return ""
		}
		// Envoy reads "%" in header values as the start of a command: "%%" is a literal "%".
		hv, opt := b.a.headerValue.new(), b.a.headerOption.new()
		hv.Key, hv.Value = h.Name, strings.ReplaceAll(h.Value, "%", "%%")
		opt.Header, opt.AppendAction = hv, action
		ops.add = append(ops.add, opt)
		return ""
	}
	for _, h := range hm.Set {
		if fail := option(h, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD); fail != "" {
			return fail
		}
	}
	for _, h := range hm.Add {
		if fail := option(h, corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD); fail != "" {
			return fail
		}
	}
	for _, n := range hm.Remove {
		switch {
		case !isToken(n):
			return fmt.Sprintf("header name %q is invalid", n)
		case strings.EqualFold(n, "host"):
			b.routeWarnf(route, "%sthe Host header cannot be removed; ignored", prefixed(where))
		default:
			ops.remove = append(ops.remove, n)
		}
	}
	return ""
}

// corsAny is a packed CORS policy, or why it cannot be expressed.
type corsAny struct {
	any  *anypb.Any
	fail string
}

// corsPolicy packs a CORS policy for the CORS filter's per-route configuration, once per policy.
func (b *builder) corsPolicy(c *model.CORS) (*anypb.Any, string, error) {
	if c == nil {
		return nil, "", nil
	}
	if done, ok := b.cors[c]; ok {
		return done.any, done.fail, nil
	}
	key := fmt.Sprintf("%q|%q|%q|%q|%d|%t|%t", c.AllowOrigins, c.AllowMethods, c.AllowHeaders, c.ExposeHeaders, c.MaxAge, c.AllowCredentials, c.LabelWildcard)
	if a, ok := b.corsByKey[key]; ok {
		b.cors[c] = corsAny{any: a}
		return a, "", nil
	}
	p := &corsv3.CorsPolicy{
		AllowMethods:  strings.Join(c.AllowMethods, ","),
		AllowHeaders:  strings.Join(c.AllowHeaders, ","),
		ExposeHeaders: strings.Join(c.ExposeHeaders, ","),
	}
	for _, s := range []string{p.AllowMethods, p.AllowHeaders, p.ExposeHeaders} {
		if !safe(s) {
			b.cors[c] = corsAny{fail: fmt.Sprintf("CORS value %q is not a valid header value", s)}
			return nil, b.cors[c].fail, nil
		}
	}
	for _, o := range c.AllowOrigins {
		if !safe(o) || o == "" {
			b.cors[c] = corsAny{fail: fmt.Sprintf("CORS origin %q is invalid", o)}
			return nil, b.cors[c].fail, nil
		}
		p.AllowOriginStringMatch = append(p.AllowOriginStringMatch, originMatcher(o, c.LabelWildcard))
	}
	if c.MaxAge > 0 {
		p.MaxAge = strconv.Itoa(int(c.MaxAge))
	}
	if c.AllowCredentials {
		p.AllowCredentials = wrapperspb.Bool(true)
	}
	a, err := pack(p)
	if err != nil {
		return nil, "", err
	}
	b.cors[c], b.corsByKey[key] = corsAny{any: a}, a
	return a, "", nil
}

// originMatcher matches an allowed origin. Gateway API's "*" matches any origin; a "*" in the host
// is greedy to the left across DNS labels ("https://*.example.com" admits
// "https://a.b.example.com"), which a regular expression says; other origins match exactly.
// With label (an Ingress's cors-allow-origin, as ingress-nginx compares origins) the comparison
// ignores case and a "*" stands for exactly one DNS label.
func originMatcher(o string, label bool) *matcherv3.StringMatcher {
	if o == "*" {
		return safeRegex(".*")
	}
	if !strings.Contains(o, "*") {
		m := exact(o)
		m.IgnoreCase = label
		return m
	}
	parts := strings.Split(o, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	if label {
		return safeRegex("(?i)" + strings.Join(parts, "[A-Za-z0-9-]+"))
	}
	return safeRegex(strings.Join(parts, "[^/]*"))
}
