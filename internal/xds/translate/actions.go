package translate

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// retryOn is what a Gateway API retry retries besides the listed status codes: failures to
// connect and resets, which GEP-1731 counts as retriable.
const retryOn = "connect-failure,refused-stream,reset"

// routeAction makes rt forward to the route's backends, or answer 500 (503 for gRPC) when none
// is usable. fail says why the route's filters cannot be applied.
func (b *builder) routeAction(rt *routev3.Route, mr *model.Route, fs *filterSet) (fail string, err error) {
	b.shares = shares(mr.Backends, b.shares[:0])
	sh := b.shares
	if len(sh) == 0 {
		rt.Action = directResponse(mr)
		return "", nil
	}
	if err := b.known(sh); err != nil {
		return "", err
	}
	ra := b.a.action.new()
	if len(sh) == 1 && len(sh[0].filters) == 0 {
		cs := b.a.actCluster.new()
		cs.Cluster = sh[0].cluster
		ra.ClusterSpecifier = cs
	} else {
		wc, invalid := b.weightedClusters(mr, sh)
		ws := b.a.actWeighted.new()
		ws.WeightedClusters = wc
		ra.ClusterSpecifier = ws
		if invalid && !mr.Match.GRPC {
			ra.ClusterNotFoundResponseCode = routev3.RouteAction_INTERNAL_SERVER_ERROR
		} // SERVICE_UNAVAILABLE, the default, for gRPC.
	}
	if fs.host != "" {
		ra.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: fs.host}
	}
	if p := fs.path; p != nil {
		if fail = rewritePath(ra, mr.Match.Path, p); fail != "" {
			return fail, nil
		}
	}
	b.timeouts(ra, mr, sh)
	b.hashPolicies(ra, mr, sh)
	ra.RequestMirrorPolicies = fs.mirrors
	rr := b.a.routeRoute.new()
	rr.Route = ra
	rt.Action = rr
	return "", nil
}

// weightedClusters splits traffic by weight; invalid says whether a share goes to
// InvalidBackendCluster. A backend's own filters go on its entry; those Envoy cannot apply per
// backend send that backend's share to InvalidBackendCluster (an error, not an unfiltered
// request), except mirrors and CORS, which are ignored with a warning.
func (b *builder) weightedClusters(mr *model.Route, sh []share) (wc *routev3.WeightedCluster, invalid bool) {
	wc = b.a.weighted.new()
	wc.Clusters = make([]*routev3.WeightedCluster_ClusterWeight, len(sh))
	for i, s := range sh {
		cw := b.a.clusterW.new()
		cw.Name, cw.Weight = s.cluster, b.a.weight(s.weight)
		if len(s.filters) > 0 {
			if fail := b.backendFilters(cw, mr.Name, s.filters); fail != "" {
				b.routeWarnf(mr.Name, "backend %s: %s; its share answers %d instead", s.cluster, fail, errorStatus(mr))
				cw = &routev3.WeightedCluster_ClusterWeight{Name: InvalidBackendCluster, Weight: cw.Weight}
			}
		}
		invalid = invalid || cw.Name == InvalidBackendCluster
		wc.Clusters[i] = cw
	}
	return wc, invalid
}

// backendFilters puts a backend's filters on its weighted cluster entry.
func (b *builder) backendFilters(cw *routev3.WeightedCluster_ClusterWeight, route string, filters []model.Filter) (fail string) {
	var fs filterSet
	where := "backend " + cw.Name
	for i := range filters {
		f := &filters[i]
		switch f.Type {
		case model.FilterRequestHeaders:
			fail = b.headers(route, where, &fs, f.RequestHeaders, true)
		case model.FilterResponseHeaders:
			fail = b.headers(route, where, &fs, f.ResponseHeaders, false)
		case model.FilterURLRewrite:
			if u := f.URLRewrite; u != nil && u.Path != nil {
				fail = "a path rewrite cannot apply to one backend only"
			} else if u != nil && u.Hostname != "" {
				fs.host = u.Hostname
			}
		case model.FilterMirror, model.FilterCORS:
			b.routeWarnf(route, "%s: a %s filter cannot apply to one backend only; ignored", where, f.Type)
		default:
			fail = fmt.Sprintf("filter type %q is unknown", f.Type)
		}
		if fail != "" {
			return fail
		}
	}
	switch {
	case fs.host != "" && !safe(fs.host):
		return fmt.Sprintf("host rewrite %q is not a valid header value", fs.host)
	case len(fs.request.add) > maxHeadersToAdd || len(fs.response.add) > maxHeadersToAdd:
		return "more headers to add than Envoy accepts"
	case fs.host != "":
		cw.HostRewriteSpecifier = &routev3.WeightedCluster_ClusterWeight_HostRewriteLiteral{HostRewriteLiteral: fs.host}
	}
	cw.RequestHeadersToAdd, cw.RequestHeadersToRemove = fs.request.add, fs.request.remove
	cw.ResponseHeadersToAdd, cw.ResponseHeadersToRemove = fs.response.add, fs.response.remove
	return ""
}

// rewritePath applies a URLRewrite path modifier. fail says why it cannot be applied.
func rewritePath(ra *routev3.RouteAction, match *model.StringMatch, p *model.PathModifier) (fail string) {
	switch {
	case p.ReplaceFullPath != nil:
		if !safe(*p.ReplaceFullPath) {
			return fmt.Sprintf("path %q is not a valid path", *p.ReplaceFullPath)
		}
		ra.RegexRewrite = replaceFullPath(*p.ReplaceFullPath)
	case p.Regex != nil:
		if !safe(p.Regex.Substitution) {
			return fmt.Sprintf("rewrite %q is not a valid path", p.Regex.Substitution)
		}
		if _, err := regexp.Compile(p.Regex.Pattern); err != nil {
			return fmt.Sprintf("rewrite pattern %q is not a regular expression", p.Regex.Pattern)
		}
		ra.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: p.Regex.Pattern},
			Substitution: p.Regex.Substitution}
	case p.ReplacePrefixMatch != nil:
		prefix, re, fail := replacePrefix(match, *p.ReplacePrefixMatch)
		if fail != "" {
			return fail
		}
		ra.PrefixRewrite, ra.RegexRewrite = prefix, re
	}
	return ""
}

// replaceFullPath replaces the whole path. Envoy applies a regex rewrite to the path without its
// query string, so the query string is kept. "\" is the substitution's escape character.
func replaceFullPath(path string) *matcherv3.RegexMatchAndSubstitute {
	return &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: "^.*$"},
		Substitution: strings.ReplaceAll(path, `\`, `\\`)}
}

// replacePrefix implements Gateway API's ReplacePrefixMatch for the route's path match: a
// literal prefix rewrite, or a regex rewrite (at most one is set; neither when nothing changes).
// Gateway API ignores trailing slashes on both sides and keeps the rest of the path whole:
// "/foo" → "/xyz" turns "/foo/bar" into "/xyz/bar"; "/foo" → "/" turns "/foo/bar" into "/bar"
// and "/foo" into "/"; "/" → "/xyz" turns "/bar" into "/xyz/bar".
func replacePrefix(match *model.StringMatch, repl string) (prefix string, re *matcherv3.RegexMatchAndSubstitute, fail string) {
	if !safe(repl) {
		return "", nil, fmt.Sprintf("prefix %q is not a valid path", repl)
	}
	r := strings.TrimRight(repl, "/")
	var p string
	switch {
	case match == nil: // no path match: the prefix "/"
	case match.Type == model.MatchPathPrefix:
		p = strings.TrimRight(match.Value, "/")
	case match.Type == model.MatchExact:
		// The whole (exact) path is the matched prefix.
		return "", replaceFullPath(cmpOr(repl, "/")), ""
	default:
		return "", nil, "a prefix replacement needs a path prefix match"
	}
	switch {
	case p == "" && r == "":
		return "", nil, ""
	case p == "":
		// Envoy matched the prefix "/": keep the slash that separates the new prefix from the rest.
		return r + "/", nil, ""
	case r == "":
		// Drop the prefix and the slashes after it, leaving one.
		return "", &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: "^" + regexp.QuoteMeta(p) + "/*"},
			Substitution: "/"}, ""
	}
	return r, nil, ""
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// timeouts sets the route's timeouts and retry policy.
//
// Gateway API's request timeout is the route timeout ("0s" disables it); its backendRequest
// timeout bounds each attempt, Envoy's per_try_timeout (which needs a retry policy: one with no
// retries is made when the route has none). Without a request timeout Envoy's default (15s)
// stays, raised to the backend timeout when that is longer so that an attempt is not cut short.
// Routes that cannot configure timeouts and may carry long streams have no route timeout (Envoy
// would cut them after 15s): gRPC routes, routes to a WebSocket backend (appProtocol
// kubernetes.io/ws), whose upgraded connections last as long as the client wants, and routes to
// an InferencePool, whose answers (generated text) stream for minutes.
func (b *builder) timeouts(ra *routev3.RouteAction, mr *model.Route, sh []share) {
	var perTry time.Duration
	if t := mr.Timeouts; t != nil {
		if t.Request != "" {
			if d, ok := parseDuration(t.Request); ok {
				ra.Timeout = durationpb.New(d)
			} else {
				b.routeWarnf(mr.Name, "request timeout %q is not a duration; ignored", t.Request)
			}
		}
		if t.Idle != "" {
			if d, ok := parseDuration(t.Idle); ok {
				ra.IdleTimeout = durationpb.New(d)
			} else {
				b.routeWarnf(mr.Name, "idle timeout %q is not a duration; ignored", t.Idle)
			}
		}
		if t.BackendRequest != "" {
			if d, ok := parseDuration(t.BackendRequest); ok {
				perTry = d // 0s: no per-attempt limit
			} else {
				b.routeWarnf(mr.Name, "backend request timeout %q is not a duration; ignored", t.BackendRequest)
			}
		}
	}
	switch {
	case ra.Timeout == nil && perTry > defaultRouteTimeout:
		ra.Timeout = durationpb.New(perTry)
	case ra.Timeout == nil && (mr.Match.GRPC || b.anyCluster(sh, func(c *model.Cluster) bool {
		return c.Protocol == model.ClusterWebSocket || c.InferencePool != ""
	})):
		ra.Timeout = durationpb.New(0)
	}
	r := mr.Retry
	if r == nil && perTry == 0 {
		return
	}
	rp := &routev3.RetryPolicy{NumRetries: b.a.weight(0)}
	if r != nil {
		rp.RetryOn = retryOn
		rp.NumRetries = b.a.weight(uint32(max(r.Attempts, 0)))
		for _, c := range r.Codes {
			if c < 100 || c > 599 {
				b.routeWarnf(mr.Name, "retry status code %d is not an HTTP status; ignored", c)
				continue
			}
			rp.RetriableStatusCodes = append(rp.RetriableStatusCodes, uint32(c))
		}
		if len(rp.RetriableStatusCodes) > 0 {
			rp.RetryOn += ",retriable-status-codes"
		}
		if r.Backoff != "" {
			if d, ok := parseDuration(r.Backoff); ok {
				// Envoy counts backoff in whole milliseconds and needs it positive.
				rp.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(max(d, time.Millisecond))}
			} else {
				b.routeWarnf(mr.Name, "retry backoff %q is not a duration; ignored", r.Backoff)
			}
		}
	}
	if perTry > 0 {
		rp.PerTryTimeout = durationpb.New(perTry)
	}
	ra.RetryPolicy = rp
}

// mirror translates a RequestMirror filter; a mirror Envoy cannot express is left out with a
// warning (mirrored requests are best effort: nothing depends on their answers).
func (b *builder) mirror(route string, m *model.Mirror) (*routev3.RouteAction_RequestMirrorPolicy, error) {
	if m == nil {
		return nil, nil
	}
	if b.cluster(m.Cluster) == nil {
		return nil, fmt.Errorf("mirror cluster %q is not in the fleet", m.Cluster)
	}
	if m.Denominator <= 0 {
		b.routeWarnf(route, "mirror fraction %d/%d has no valid denominator; mirror left out", m.Numerator, m.Denominator)
		return nil, nil
	}
	num, den := fraction(int64(min(max(m.Numerator, 0), m.Denominator)), int64(m.Denominator))
	return &routev3.RouteAction_RequestMirrorPolicy{
		Cluster: m.Cluster,
		RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{
			Numerator: num, Denominator: den,
		}},
		DisableShadowHostSuffixAppend: m.KeepHost,
	}, nil
}

// fraction converts n/d (0 ≤ n ≤ d, d > 0) to Envoy's fixed denominators: the smallest of 100,
// 10,000 and 1,000,000 that expresses it exactly, else a million with the numerator rounded.
func fraction(n, d int64) (uint32, typev3.FractionalPercent_DenominatorType) {
	for _, den := range []struct {
		v int64
		t typev3.FractionalPercent_DenominatorType
	}{{100, typev3.FractionalPercent_HUNDRED}, {10_000, typev3.FractionalPercent_TEN_THOUSAND}, {1_000_000, typev3.FractionalPercent_MILLION}} {
		if n*den.v%d == 0 {
			return uint32(n * den.v / d), den.t
		}
	}
	return uint32((n*1_000_000 + d/2) / d), typev3.FractionalPercent_MILLION
}

// anyCluster says whether a share goes to a cluster that is.
func (b *builder) anyCluster(sh []share, is func(*model.Cluster) bool) bool {
	for _, s := range sh {
		if c := b.cluster(s.cluster); c != nil && is(c) {
			return true
		}
	}
	return false
}
