package explain

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/flotilla-dev/flotilla/internal/xds/translate"
)

// notFoundStatus is what Envoy answers for a cluster that does not exist.
var notFoundStatus = map[routev3.RouteAction_ClusterNotFoundResponseCode]int{
	routev3.RouteAction_SERVICE_UNAVAILABLE:   503,
	routev3.RouteAction_NOT_FOUND:             404,
	routev3.RouteAction_INTERNAL_SERVER_ERROR: 500,
}

var redirectStatus = map[routev3.RedirectAction_RedirectResponseCode]int{
	routev3.RedirectAction_MOVED_PERMANENTLY:  301,
	routev3.RedirectAction_FOUND:              302,
	routev3.RedirectAction_SEE_OTHER:          303,
	routev3.RedirectAction_TEMPORARY_REDIRECT: 307,
	routev3.RedirectAction_PERMANENT_REDIRECT: 308,
}

// routeAction explains what the matched route does: its header changes (route configuration,
// virtual host, route), CORS, then its action.
func (e *explainer) routeAction(rc *routev3.RouteConfiguration, vh *routev3.VirtualHost, r *routev3.Route, hcm *hcmv3.HttpConnectionManager) error {
	_, forwards := r.GetAction().(*routev3.Route_Route)
	add := func(scope string, reqAdd []*corev3.HeaderValueOption, reqRemove []string, respAdd []*corev3.HeaderValueOption, respRemove []string) {
		if forwards { // Envoy adds request headers only to requests it forwards
			e.d.Filters = append(e.d.Filters, headerOps(scope+"request", reqAdd, reqRemove)...)
		}
		e.d.Filters = append(e.d.Filters, headerOps(scope+"response", respAdd, respRemove)...)
	}
	add("", r.GetRequestHeadersToAdd(), r.GetRequestHeadersToRemove(), r.GetResponseHeadersToAdd(), r.GetResponseHeadersToRemove())
	add("virtual host ", vh.GetRequestHeadersToAdd(), vh.GetRequestHeadersToRemove(), vh.GetResponseHeadersToAdd(), vh.GetResponseHeadersToRemove())
	add("route configuration ", rc.GetRequestHeadersToAdd(), rc.GetRequestHeadersToRemove(), rc.GetResponseHeadersToAdd(), rc.GetResponseHeadersToRemove())
	preflight, err := e.cors(rc, vh, r, hcm)
	if err != nil || preflight {
		return err
	}
	if stopped, err := e.protections(r, hcm); err != nil || stopped {
		return err
	}
	switch a := r.GetAction().(type) {
	case *routev3.Route_Route:
		if op, ok := endpointPicker(r.GetTypedPerFilterConfig()); ok {
			e.d.Filters = append(e.d.Filters, op)
		}
		e.forward(a.Route, r.GetMatch())
	case *routev3.Route_Redirect:
		e.redirect(a.Redirect, r.GetMatch())
	case *routev3.Route_DirectResponse:
		status := int(a.DirectResponse.GetStatus())
		reason := "the route answers directly"
		switch {
		case r.GetName() == translate.MisdirectedRoute:
			reason = "misdirected request: the :authority is not this TLS connection's listener's (another listener of the port, or none, has it); the client should retry on a connection of its own"
		case status >= 500:
			reason = "the route has no valid backend (its status says why)"
		}
		e.stop(ActionDirectResponse, status, fmt.Sprintf("%d answered by Envoy", status), reason)
	default:
		e.stop(ActionIncomplete, 0, fmt.Sprintf("route action %T is not explained by this tool", a), "")
	}
	return nil
}

// forward explains a route action: rewrites, mirrors, timeouts, and the weighted clusters.
func (e *explainer) forward(ra *routev3.RouteAction, m *routev3.RouteMatch) {
	var shares []share
	switch cs := ra.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		shares = []share{{cluster: cs.Cluster, weight: 1}}
	case *routev3.RouteAction_WeightedClusters:
		for _, c := range cs.WeightedClusters.GetClusters() {
			shares = append(shares, share{cluster: c.GetName(), weight: c.GetWeight().GetValue(), cw: c})
		}
	default:
		e.stop(ActionIncomplete, 0, fmt.Sprintf("cluster specifier %T is not explained by this tool", cs), "")
		return
	}
	if h := ra.GetHostRewriteLiteral(); h != "" {
		e.op("host-rewrite", "Host (:authority) rewritten to "+h)
	}
	if p, ok := e.rewrittenPath(ra.GetPrefixRewrite(), ra.GetRegexRewrite(), m); ok {
		e.op("path-rewrite", "path rewritten to "+p)
	}
	for _, mp := range ra.GetRequestMirrorPolicies() {
		host := "Host " + e.req.Authority + "-shadow"
		if mp.GetDisableShadowHostSuffixAppend() {
			host = "the request's Host"
		}
		e.op("mirror", fmt.Sprintf("%s of requests copied to %s with %s (answers ignored)", fraction(mp.GetRuntimeFraction().GetDefaultValue()), mp.GetCluster(), host))
	}
	switch t := ra.GetTimeout(); {
	case t == nil:
		e.op("timeout", "15s (Envoy's default route timeout)")
	case t.AsDuration() == 0:
		e.op("timeout", "none (disabled)")
	default:
		e.op("timeout", t.AsDuration().String())
	}
	if t := ra.GetIdleTimeout(); t != nil {
		e.op("idle-timeout", t.AsDuration().String()+" without activity ends the request")
	}
	if rp := ra.GetRetryPolicy(); rp != nil {
		d := fmt.Sprintf("%d retries", rp.GetNumRetries().GetValue())
		if rp.GetRetryOn() != "" {
			d += " on " + rp.GetRetryOn()
		}
		if len(rp.GetRetriableStatusCodes()) > 0 {
			d += fmt.Sprintf(" (status codes %v)", rp.GetRetriableStatusCodes())
		}
		if t := rp.GetPerTryTimeout(); t != nil {
			d += ", each attempt limited to " + t.AsDuration().String()
		}
		e.op("retry", d)
	}
	e.balancing(ra, shares)
	bs := e.backends(shares, failure{status: notFoundStatus[ra.GetClusterNotFoundResponseCode()]})
	e.d.Action = Action{Type: ActionForward, Backends: bs, Summary: "forwarded to " + sharesSummary(bs)}
}

func (e *explainer) op(kind, detail string) {
	e.d.Filters = append(e.d.Filters, Operation{Kind: kind, Detail: detail})
}

// sharesSummary says where traffic goes, share by share: a cluster, or what a share that cannot
// be served gets.
func sharesSummary(bs []Backend) string {
	parts := make([]string, 0, len(bs))
	for _, b := range bs {
		switch {
		case b.Missing && b.Status != 0:
			parts = append(parts, fmt.Sprintf("%d for %s (%s)", b.Status, percent(b.Percent), b.Note))
		case b.Missing || b.Note != "":
			parts = append(parts, fmt.Sprintf("%s (%s): %s", b.Cluster, percent(b.Percent), b.Note))
		default:
			parts = append(parts, fmt.Sprintf("%s (%s)", b.Cluster, percent(b.Percent)))
		}
	}
	return strings.Join(parts, ", ")
}

func percent(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64) + "%"
}

// fraction renders a mirror fraction as a percentage.
func fraction(f *typev3.FractionalPercent) string {
	if f == nil {
		return "100%"
	}
	den := map[typev3.FractionalPercent_DenominatorType]float64{typev3.FractionalPercent_HUNDRED: 100,
		typev3.FractionalPercent_TEN_THOUSAND: 10_000, typev3.FractionalPercent_MILLION: 1_000_000}[f.GetDenominator()]
	return percent(float64(f.GetNumerator()) * 100 / den)
}

// headerOps lists header changes ("%%" in a value is Envoy's escape for "%").
func headerOps(scope string, add []*corev3.HeaderValueOption, remove []string) []Operation {
	var out []Operation
	for _, h := range add {
		verb := "appended"
		switch h.GetAppendAction() {
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			verb = "set"
		case corev3.HeaderValueOption_ADD_IF_ABSENT:
			verb = "added if absent"
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
			verb = "overwritten if present"
		}
		v := strings.ReplaceAll(h.GetHeader().GetValue(), "%%", "%")
		out = append(out, Operation{Kind: scope + "-header", Detail: fmt.Sprintf("%s: %s (%s)", h.GetHeader().GetKey(), v, verb)})
	}
	for _, n := range remove {
		out = append(out, Operation{Kind: scope + "-header", Detail: n + " removed"})
	}
	return out
}

// clusterWeightOps are the changes a weighted cluster entry makes to what goes to it.
func clusterWeightOps(cw *routev3.WeightedCluster_ClusterWeight) []Operation {
	out := headerOps("request", cw.GetRequestHeadersToAdd(), cw.GetRequestHeadersToRemove())
	out = append(out, headerOps("response", cw.GetResponseHeadersToAdd(), cw.GetResponseHeadersToRemove())...)
	if h := cw.GetHostRewriteLiteral(); h != "" {
		out = append(out, Operation{Kind: "host-rewrite", Detail: "Host (:authority) rewritten to " + h})
	}
	if op, ok := endpointPicker(cw.GetTypedPerFilterConfig()); ok {
		out = append(out, op)
	}
	return out
}

// endpointPicker explains the ext_proc configuration of a route or weighted cluster, if any:
// an InferencePool's Endpoint Picker chooses the endpoint.
func endpointPicker(configs map[string]*anypb.Any) (Operation, bool) {
	a := configs["envoy.filters.http.ext_proc"]
	if a == nil {
		return Operation{}, false
	}
	op := Operation{Kind: "endpoint-picker"}
	var p extprocv3.ExtProcPerRoute
	if err := unpack(a, &p); err != nil {
		op.Detail = "an ext_proc configuration this tool cannot read: " + err.Error()
		return op, true
	}
	o := p.GetOverrides()
	if o == nil {
		op.Detail = "ext_proc disabled"
		return op, true
	}
	op.Detail = "the Endpoint Picker " + o.GetGrpcService().GetEnvoyGrpc().GetClusterName() + " chooses the endpoint; "
	if o.GetFailureModeAllow().GetValue() {
		op.Detail += "if it cannot answer, round robin does (FailOpen)"
	} else {
		op.Detail += "if it cannot answer, the request fails (FailClose)"
	}
	return op, true
}

// matchedPrefix is the part of the path a prefix rewrite replaces: what the route's path
// specifier matched.
func matchedPrefix(m *routev3.RouteMatch) string {
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		return ps.Prefix
	case *routev3.RouteMatch_PathSeparatedPrefix:
		return ps.PathSeparatedPrefix
	case *routev3.RouteMatch_Path:
		return ps.Path
	}
	return ""
}

// rewrittenPath applies a prefix or regex rewrite to :path (with its query): a prefix rewrite
// replaces the matched prefix; a regex rewrite applies to the path without its query string,
// which is kept. ok is false when neither is set.
func (e *explainer) rewrittenPath(prefix string, re *matcherv3.RegexMatchAndSubstitute, m *routev3.RouteMatch) (string, bool) {
	full := e.req.Path
	if e.req.Query != "" {
		full += "?" + e.req.Query
	}
	switch {
	case prefix != "":
		mp := matchedPrefix(m)
		if len(mp) > len(full) {
			return full, true
		}
		return prefix + full[len(mp):], true
	case re != nil:
		rx, err := regexp.Compile(re.GetPattern().GetRegex())
		if err != nil {
			e.note("regex rewrite %q does not compile: %v", re.GetPattern().GetRegex(), err)
			return full, true
		}
		p := rx.ReplaceAllString(e.req.Path, substitution(re.GetSubstitution()))
		if e.req.Query != "" {
			p += "?" + e.req.Query
		}
		return p, true
	}
	return "", false
}

// substitution converts an Envoy (RE2) substitution, where "\1" is a group and "\\" a backslash,
// to Go's Expand syntax.
func substitution(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '$':
			b.WriteString("$$")
		case c == '\\' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			b.WriteString("${" + string(s[i+1]) + "}")
			i++
		case c == '\\' && i+1 < len(s) && s[i+1] == '\\':
			b.WriteByte('\\')
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// redirect explains a redirect: its status and the Location Envoy writes (newUri: the scheme, the
// host without port, ":port" when port_redirect is set, then the path, rewritten).
func (e *explainer) redirect(rd *routev3.RedirectAction, m *routev3.RouteMatch) {
	status := redirectStatus[rd.GetResponseCode()]
	scheme := e.req.Scheme
	if s := rd.GetSchemeRedirect(); s != "" {
		scheme = s
	} else if rd.GetHttpsRedirect() {
		scheme = "https"
	}
	host := e.req.Authority
	if h := rd.GetHostRedirect(); h != "" {
		host = h
	} else if h, _, ok := splitHostPort(host); ok && (rd.GetPortRedirect() != 0 || scheme != e.req.Scheme) {
		host = h
	}
	port := ""
	if p := rd.GetPortRedirect(); p != 0 {
		port = fmt.Sprintf(":%d", p)
	}
	path := e.req.Path
	if e.req.Query != "" {
		path += "?" + e.req.Query
	}
	switch ps := rd.GetPathRewriteSpecifier().(type) {
	case *routev3.RedirectAction_PathRedirect:
		path = ps.PathRedirect
		if !strings.Contains(path, "?") && e.req.Query != "" && !rd.GetStripQuery() {
			path += "?" + e.req.Query
		}
	case *routev3.RedirectAction_PrefixRewrite:
		path, _ = e.rewrittenPath(ps.PrefixRewrite, nil, m)
	case *routev3.RedirectAction_RegexRewrite:
		path, _ = e.rewrittenPath("", ps.RegexRewrite, m)
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	if rd.GetStripQuery() && !strings.Contains(rd.GetPathRedirect(), "?") {
		path, _, _ = strings.Cut(path, "?")
	}
	loc := scheme + "://" + host + port + path
	e.d.Action = Action{Type: ActionRedirect, Status: status, Location: loc, Summary: fmt.Sprintf("%d redirect to %s", status, loc)}
}
