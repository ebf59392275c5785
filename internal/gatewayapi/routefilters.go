package gatewayapi

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/model"
)

const (
	groupFlotilla   gwapiv1.Group = "gateway.flotilla.dev"
	kindRouteFilter gwapiv1.Kind  = flotillav1alpha1.RouteFilterKind
)

// Reasons of a RouteFilter's conditions and of the ResolvedRefs condition of a route whose rule
// names a RouteFilter that cannot be served (the rule then answers 500).
const (
	// ReasonRouteFilterNotFound: the rule names a RouteFilter that does not exist.
	ReasonRouteFilterNotFound = "RouteFilterNotFound"
	// ReasonInvalidRouteFilter: the RouteFilter cannot be served as written (route condition), or
	// the rule's RouteFilters set the same capability twice.
	ReasonInvalidRouteFilter = "InvalidRouteFilter"
	// ReasonInvalid: a RouteFilter's spec cannot be served (its Accepted condition).
	ReasonInvalid = "Invalid"
	// ReasonSecretNotFound / ReasonInvalidSecret: the basic-auth Secret is missing or holds no
	// users Envoy can check (ResolvedRefs).
	ReasonSecretNotFound = "SecretNotFound"
	ReasonInvalidSecret  = "InvalidSecret"
)

// FilterCheck is what resolution found of one RouteFilter: the protections it gives, or why it
// cannot be served. Accepted problems are in the spec itself; ResolvedRefs problems in what it
// names (a Secret, a Service, a ReferenceGrant).
type FilterCheck struct {
	Protections model.Protections
	// Settings are what the filter changes of the rule's own route (timeouts, pathRewrite).
	Settings       RuleSettings
	AcceptedReason string
	AcceptedMsg    string
	RefsReason     string
	RefsMsg        []string
}

// OK says the filter can be served.
func (c *FilterCheck) OK() bool { return c.AcceptedReason == "" && c.RefsReason == "" }

// Problem says why it cannot, "" when it can.
func (c *FilterCheck) Problem() string {
	if c.AcceptedReason != "" {
		return c.AcceptedMsg
	}
	return strings.Join(c.RefsMsg, "; ")
}

// CheckRouteFilter resolves one RouteFilter against the objects of in (its Secrets, Services,
// EndpointSlices, ReferenceGrants, BackendTLSPolicies): what the RouteFilter controller writes on
// its status, and what every rule naming it gets.
func CheckRouteFilter(in Input, rf *flotillav1alpha1.RouteFilter) FilterCheck {
	r := newResolver(in)
	r.index()
	r.indexPolicies()
	return *r.checkFilter(&rf.ObjectMeta, &rf.Spec, false)
}

// RuleSettings are what RouteFilters change of a rule's route beyond protections: the idle
// timeout and a regular-expression path rewrite (HTTPRoute rules only).
type RuleSettings struct {
	Idle     string
	Rewrite  *model.RegexRewrite
	Redirect *model.Redirect
}

func (s RuleSettings) empty() bool { return s.Idle == "" && s.Rewrite == nil && s.Redirect == nil }

// filterKey names a RouteFilter of resolution: an API object, or one the Ingress front end made.
type filterKey struct {
	ns, name string
	ingress  bool
}

// ruleProtections resolves the RouteFilters a rule names in ExtensionRef filters; nil when it
// names none. A filter that cannot be served makes the rule answer 500 (Invalid) and fails the
// route's ResolvedRefs: requests are never forwarded without the protection asked for.
func (r *resolver) ruleProtections(rt *route, rule int, fs []gwapiv1.HTTPRouteFilter) (*model.Protections, RuleSettings) {
	var p *model.Protections
	var set RuleSettings
	for _, f := range fs {
		if f.Type != gwapiv1.HTTPRouteFilterExtensionRef || f.ExtensionRef == nil ||
			f.ExtensionRef.Group != groupFlotilla || f.ExtensionRef.Kind != kindRouteFilter {
			continue
		}
		if p == nil {
			p = &model.Protections{}
		}
		name := string(f.ExtensionRef.Name)
		p.Sources = append(p.Sources, string(kindRouteFilter)+"/"+rt.meta.Namespace+"/"+name)
		if p.Invalid != "" {
			continue
		}
		rf := r.routeFilterObject(rt.meta.Namespace, name)
		if rf == nil {
			msg := fmt.Sprintf("rule %d: RouteFilter %s/%s does not exist", rule, rt.meta.Namespace, name)
			rt.refFailed(ReasonRouteFilterNotFound, msg)
			*p = model.Protections{Sources: p.Sources, Invalid: msg}
			continue
		}
		c := r.filter(filterKey{ns: rf.Namespace, name: rf.Name}, &rf.ObjectMeta, &rf.Spec)
		r.addProtections(rt, rule, p, c)
		if p.Invalid == "" {
			twice := ""
			if c.Settings.Idle != "" {
				if set.Idle != "" {
					twice = "timeouts"
				}
				set.Idle = c.Settings.Idle
			}
			if c.Settings.Rewrite != nil {
				if set.Rewrite != nil {
					twice = "pathRewrite"
				}
				set.Rewrite = c.Settings.Rewrite
			}
			if c.Settings.Redirect != nil {
				if set.Redirect != nil {
					twice = "redirect"
				}
				set.Redirect = c.Settings.Redirect
			}
			if twice != "" {
				msg := fmt.Sprintf("rule %d: %s sets %s, which another RouteFilter of the rule sets too", rule, p.Sources[len(p.Sources)-1], twice)
				rt.refFailed(ReasonInvalidRouteFilter, msg)
				*p = model.Protections{Sources: p.Sources, Invalid: msg}
			}
		}
	}
	if p != nil && p.Invalid != "" {
		set = RuleSettings{}
	}
	return p, set
}

// addProtections merges one filter's protections into p, or makes p Invalid.
func (r *resolver) addProtections(rt *route, rule int, p *model.Protections, c *FilterCheck) {
	src := p.Sources[len(p.Sources)-1]
	if !c.OK() {
		msg := fmt.Sprintf("rule %d: %s: %s", rule, src, c.Problem())
		rt.refFailed(ReasonInvalidRouteFilter, msg)
		*p = model.Protections{Sources: p.Sources, Invalid: msg}
		return
	}
	q := &c.Protections
	twice := ""
	set := func(name string, have, add bool) {
		if have && add && twice == "" {
			twice = name
		}
	}
	set("clientAccess", p.Access != nil, q.Access != nil)
	set("basicAuth", p.BasicAuth != nil, q.BasicAuth != nil)
	set("externalAuth", p.ExtAuth != nil, q.ExtAuth != nil)
	set("rateLimit", p.RateLimit != nil, q.RateLimit != nil)
	set("requestBody", p.MaxRequestBytes != 0, q.MaxRequestBytes != 0)
	set("errorPages", p.ErrorPages != nil, q.ErrorPages != nil)
	if twice != "" {
		msg := fmt.Sprintf("rule %d: %s sets %s, which another RouteFilter of the rule sets too", rule, src, twice)
		rt.refFailed(ReasonInvalidRouteFilter, msg)
		*p = model.Protections{Sources: p.Sources, Invalid: msg}
		return
	}
	p.Access = cmp.Or(p.Access, q.Access)
	p.BasicAuth = cmp.Or(p.BasicAuth, q.BasicAuth)
	p.ExtAuth = cmp.Or(p.ExtAuth, q.ExtAuth)
	p.RateLimit = cmp.Or(p.RateLimit, q.RateLimit)
	p.MaxRequestBytes = cmp.Or(p.MaxRequestBytes, q.MaxRequestBytes)
	p.ErrorPages = cmp.Or(p.ErrorPages, q.ErrorPages)
}

// routeFilterObject finds a RouteFilter of the input.
func (r *resolver) routeFilterObject(ns, name string) *flotillav1alpha1.RouteFilter {
	r.impure = true // RouteFilters record their checks (see convertHTTPRoute)
	if r.routeFilters == nil {
		r.routeFilters = make(map[objKey]*flotillav1alpha1.RouteFilter, len(r.in.RouteFilters))
		for _, rf := range r.in.RouteFilters {
			r.routeFilters[objKey{rf.Namespace, rf.Name}] = rf
		}
	}
	return r.routeFilters[objKey{ns, name}]
}

// filter checks a RouteFilter once per resolution, however many rules name it.
func (r *resolver) filter(k filterKey, meta *metav1.ObjectMeta, spec *flotillav1alpha1.RouteFilterSpec) *FilterCheck {
	if c, ok := r.filterChecks[k]; ok {
		return c
	}
	if r.filterChecks == nil {
		r.filterChecks = map[filterKey]*FilterCheck{}
	}
	c := r.checkFilter(meta, spec, k.ingress)
	r.filterChecks[k] = c
	return c
}

// checkFilter resolves a RouteFilter spec. trusted is for the filters the Ingress front end
// makes: the IngressClassConfig already decided their cross-namespace references.
func (r *resolver) checkFilter(meta *metav1.ObjectMeta, spec *flotillav1alpha1.RouteFilterSpec, trusted bool) *FilterCheck {
	c := &FilterCheck{}
	invalid := func(format string, a ...any) {
		if c.AcceptedReason == "" {
			c.AcceptedReason, c.AcceptedMsg = ReasonInvalid, fmt.Sprintf(format, a...)
		}
	}
	p := &c.Protections
	if a := spec.ClientAccess; a != nil {
		ac := &model.AccessControl{Peer: a.ClientAddress == flotillav1alpha1.ClientAddressPeer}
		var bad string
		ac.Allow, bad = cidrs(a.Allow)
		if bad == "" {
			ac.Deny, bad = cidrs(a.Deny)
		}
		if bad != "" {
			invalid("clientAccess: %s", bad)
		}
		if len(ac.Allow)+len(ac.Deny) == 0 {
			invalid("clientAccess: set allow or deny")
		}
		p.Access = ac
	}
	if rl := spec.RateLimit; rl != nil {
		p.RateLimit = rateLimit(rl, invalid)
	}
	if ba := spec.BasicAuth; ba != nil {
		p.BasicAuth = r.basicAuth(c, meta.Namespace, ba, trusted)
	}
	if ea := spec.ExternalAuth; ea != nil {
		p.ExtAuth = r.extAuth(c, meta, ea, trusted, invalid)
	}
	if rb := spec.RequestBody; rb != nil {
		if v := rb.MaxSize.Value(); v <= 0 {
			invalid("requestBody.maxSize must be positive, not %s", rb.MaxSize.String())
		} else {
			p.MaxRequestBytes = uint64(v)
		}
	}
	if ep := spec.ErrorPages; ep != nil {
		p.ErrorPages = r.errorPages(c, meta, ep, trusted, invalid)
	}
	if t := spec.Timeouts; t != nil {
		if d, err := time.ParseDuration(string(t.Idle)); err != nil || d <= 0 {
			invalid("timeouts.idle %q is not a positive duration", t.Idle)
		} else {
			c.Settings.Idle = string(t.Idle)
		}
	}
	if rw := spec.PathRewrite; rw != nil {
		if bad := CheckRegex("pathRewrite.pattern", rw.Pattern); bad != "" {
			invalid("%s", bad)
		} else {
			c.Settings.Rewrite = &model.RegexRewrite{Pattern: rw.Pattern, Substitution: rw.Substitution}
		}
	}
	if fr := spec.Redirect; fr != nil {
		rd, why := FixedRedirect(fr.Location, true)
		switch {
		case why != "":
			invalid("redirect.location %q %s", fr.Location, why)
		case !slices.Contains([]int{0, 301, 302, 303, 307, 308}, fr.StatusCode):
			invalid("redirect.statusCode %d is not 301, 302, 303, 307 or 308", fr.StatusCode)
		default:
			rd.StatusCode = cmp.Or(fr.StatusCode, 302)
			c.Settings.Redirect = rd
		}
	}
	if !c.OK() {
		c.Protections, c.Settings = model.Protections{}, RuleSettings{}
	}
	return c
}

// cidrs parses address ranges into canonical CIDRs, sorted and without duplicates.
func cidrs(in []flotillav1alpha1.CIDR) ([]string, string) {
	if len(in) == 0 {
		return nil, ""
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		p, err := ParseCIDR(string(s))
		if err != nil {
			return nil, err.Error()
		}
		out = append(out, p.String())
	}
	slices.Sort(out)
	return slices.Compact(out), ""
}

// ParseCIDR parses "10.0.0.0/8" or a single address ("10.1.2.3": a /32), masking host bits
// ("10.1.2.3/8" is 10.0.0.0/8, as nginx's allow reads it).
func ParseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
	}
	return p.Masked(), nil
}

// rateLimit converts a rate limit: each limit is a token bucket holding burst (default: the
// rate) tokens, refilled with the rate every second or minute.
func rateLimit(rl *flotillav1alpha1.RateLimit, invalid func(string, ...any)) *model.RateLimit {
	out := &model.RateLimit{PerClient: rl.Key != flotillav1alpha1.RateLimitPerRule, StatusCode: int(cmp.Or(rl.StatusCode, 429))}
	if len(rl.Limits) == 0 || len(rl.Limits) > 2 {
		invalid("rateLimit: one or two limits are required")
	}
	for i, l := range rl.Limits {
		if l.Requests < 1 {
			invalid("rateLimit.limits[%d].requests must be at least 1", i)
			continue
		}
		b := model.TokenBucket{Tokens: uint32(l.Requests), MaxTokens: uint32(l.Requests), IntervalSeconds: 1}
		if l.Unit == flotillav1alpha1.RateLimitMinute {
			b.IntervalSeconds = 60
		}
		if l.Burst != nil {
			if *l.Burst < l.Requests {
				invalid("rateLimit.limits[%d].burst %d is less than requests %d", i, *l.Burst, l.Requests)
			}
			b.MaxTokens = uint32(*l.Burst)
		}
		out.Buckets = append(out.Buckets, b)
	}
	if out.StatusCode < 400 || out.StatusCode > 599 {
		invalid("rateLimit.statusCode %d is not an error status (400-599)", out.StatusCode)
	}
	var bad string
	if out.Exempt, bad = cidrs(rl.Exempt); bad != "" {
		invalid("rateLimit.exempt: %s", bad)
	}
	return out
}

// basicAuth reads the users of a basic-auth Secret.
func (r *resolver) basicAuth(c *FilterCheck, from string, ba *flotillav1alpha1.BasicAuth, trusted bool) *model.BasicAuth {
	ns := refNamespace(from, ba.SecretRef.Namespace)
	id := ns + "/" + string(ba.SecretRef.Name)
	fail := func(reason, format string, a ...any) *model.BasicAuth {
		if c.RefsReason == "" {
			c.RefsReason = reason
		}
		c.RefsMsg = append(c.RefsMsg, fmt.Sprintf(format, a...))
		return nil
	}
	if ns != from && !trusted && !r.granted(groupFlotilla, kindRouteFilter, from, "", "Secret", ns, string(ba.SecretRef.Name)) {
		return fail(string(gwapiv1.RouteReasonRefNotPermitted), "basicAuth: no ReferenceGrant in %s allows the reference to Secret %s", ns, id)
	}
	info, ok := r.secrets[id]
	if !ok {
		return fail(ReasonSecretNotFound, "basicAuth: Secret %s does not exist", id)
	}
	users, key := info.HTPasswd, "the key auth (htpasswd)"
	if ba.Format == flotillav1alpha1.BasicAuthUserMap {
		users, key = info.UserMap, "keys of user names with password hashes"
	}
	switch {
	case users == nil:
		return fail(ReasonInvalidSecret, "basicAuth: Secret %s has no %s", id, key)
	case users.Invalid != "":
		return fail(ReasonInvalidSecret, "basicAuth: Secret %s: %s", id, users.Invalid)
	}
	return &model.BasicAuth{Users: users.Text, Realm: ba.Realm}
}

// defaultAuthHeaders are the client headers an HTTP authorization service gets by default
// besides Envoy's own (Host, Method, Path, Content-Length, Authorization): the session cookie of
// oauth2-proxy and its kind, and where the request came from.
var defaultAuthHeaders = []string{"cookie", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-request-id"}

// extAuth resolves an external authorization service.
func (r *resolver) extAuth(c *FilterCheck, meta *metav1.ObjectMeta, ea *flotillav1alpha1.ExternalAuth, trusted bool, invalid func(string, ...any)) *model.ExtAuth {
	grpc := ea.Protocol == flotillav1alpha1.ExternalAuthGRPC
	out := &model.ExtAuth{GRPC: grpc, Timeout: "10s", FailOpen: ea.FailOpen}
	if ea.Timeout != nil {
		d, err := time.ParseDuration(string(*ea.Timeout))
		if err != nil || d <= 0 {
			invalid("externalAuth.timeout %q is not a positive duration", *ea.Timeout)
		}
		out.Timeout = string(*ea.Timeout)
	}
	if !grpc {
		if ea.Path != nil {
			if !strings.HasPrefix(*ea.Path, "/") || !headerSafe(*ea.Path) {
				invalid("externalAuth.path %q must start with / and hold no spaces or control characters", *ea.Path)
			}
			out.Path = *ea.Path
		}
		hs := defaultAuthHeaders
		if len(ea.RequestHeaders) > 0 {
			hs = nil
			for _, h := range ea.RequestHeaders {
				hs = append(hs, strings.ToLower(string(h)))
			}
		}
		out.RequestHeaders = sortedUnique(hs)
		for _, h := range ea.ResponseHeaders {
			out.ResponseHeaders = append(out.ResponseHeaders, strings.ToLower(string(h)))
		}
		out.ResponseHeaders = sortedUnique(out.ResponseHeaders)
		if ea.SignIn != nil {
			loc, bad := SignInLocation(*ea.SignIn)
			if bad != "" {
				invalid("externalAuth.signIn: %s", bad)
			}
			out.SignIn = loc
		}
	} else if ea.Path != nil || ea.SignIn != nil || len(ea.ResponseHeaders) > 0 {
		invalid("externalAuth: path, signIn and responseHeaders are for protocol HTTP")
	}
	kind := kindHTTPRoute
	if grpc {
		kind = kindGRPCRoute
	}
	probe := &route{kind: kindRouteFilter, backendKind: kind, meta: meta, trustedRefs: trusted}
	cluster, ok := r.backend(probe, ea.BackendRef)
	if !ok {
		c.RefsReason = cmp.Or(c.RefsReason, string(probe.refReason))
		for _, m := range probe.refMsg {
			c.RefsMsg = append(c.RefsMsg, "externalAuth: "+m)
		}
		return nil
	}
	out.Cluster = cluster
	if ea.BackendRef.Port != nil {
		ns := refNamespace(meta.Namespace, ea.BackendRef.Namespace)
		out.Authority = fmt.Sprintf("%s.%s.svc:%d", ea.BackendRef.Name, ns, *ea.BackendRef.Port)
	}
	return out
}

// errorPages resolves the Service of error pages.
func (r *resolver) errorPages(c *FilterCheck, meta *metav1.ObjectMeta, ep *flotillav1alpha1.ErrorPages, trusted bool, invalid func(string, ...any)) *model.ErrorPages {
	out := &model.ErrorPages{LocalOnly: ep.Source == flotillav1alpha1.ErrorResponsesLocal}
	for _, code := range ep.Codes {
		if code < 400 || code > 599 {
			invalid("errorPages.codes: %d is not an error status (400-599)", code)
		}
		out.Codes = append(out.Codes, int(code))
	}
	slices.Sort(out.Codes)
	out.Codes = slices.Compact(out.Codes)
	if len(out.Codes) == 0 {
		invalid("errorPages.codes: set at least one")
	}
	probe := &route{kind: kindRouteFilter, backendKind: kindHTTPRoute, meta: meta, trustedRefs: trusted}
	cluster, ok := r.backend(probe, ep.BackendRef)
	if !ok {
		c.RefsReason = cmp.Or(c.RefsReason, string(probe.refReason))
		for _, m := range probe.refMsg {
			c.RefsMsg = append(c.RefsMsg, "errorPages: "+m)
		}
		return nil
	}
	out.Cluster = cluster
	return out
}

// SignInLocation turns an ingress-nginx style sign-in URL into the Location of Envoy's redirect:
// $host, $scheme, $request_uri and $escaped_request_uri become Envoy's request operators, and,
// unless the URL sets rd, "rd=<scheme>://<host><uri>" is appended. bad says why it cannot be.
func SignInLocation(u string) (loc, bad string) {
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return "", fmt.Sprintf("%q is not an http(s) URL", u)
	}
	if !headerSafe(u) {
		return "", fmt.Sprintf("%q holds characters a Location header cannot", u)
	}
	orig := "%REQ(:scheme)%://%REQ(:authority)%%REQ(:path)%"
	repl := strings.NewReplacer("%", "%%", "$escaped_request_uri", "%REQ(:path)%", "$request_uri", "%REQ(:path)%",
		"$host", "%REQ(:authority)%", "$http_host", "%REQ(:authority)%", "$scheme", "%REQ(:scheme)%",
		"$pass_access_scheme", "%REQ(:scheme)%")
	loc = repl.Replace(u)
	if strings.Contains(loc, "$") {
		return "", fmt.Sprintf("%q uses a variable other than $host, $scheme, $request_uri and $escaped_request_uri", u)
	}
	_, query, _ := strings.Cut(u, "?")
	hasRD := false
	for _, kv := range strings.Split(query, "&") {
		if k, _, _ := strings.Cut(kv, "="); k == "rd" {
			hasRD = true
		}
	}
	if !hasRD {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		loc += sep + "rd=" + orig
	}
	return loc, ""
}

func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

func sortedUnique(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
