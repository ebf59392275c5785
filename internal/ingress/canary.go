package ingress

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/model"
)

// ReasonCanaryNotServed: a canary Ingress (or one of its paths) that is not served: no Ingress
// that is not a canary has its host, path and path type, or an older canary has it already.
const ReasonCanaryNotServed = "CanaryNotServed"

// canaryFamily are the canary annotations, canary first.
var canaryFamily = []string{"canary", "canary-by-header", "canary-by-header-value", "canary-by-header-pattern",
	"canary-by-cookie", "canary-weight", "canary-weight-total"}

// canary is what a canary Ingress asks for (ingress-nginx's traffic shaping policy).
type canary struct {
	header, headerValue, headerPattern, cookie string
	// weighted says canary-weight is set: the primary's path splits requests by weight/total.
	weighted      bool
	weight, total int
	// notes say which canary annotations do not apply.
	notes []string
}

// appliesToCanary says whether annotation n is read on a canary Ingress: ingress-nginx serves a
// canary's requests with its primary's location, so only the canary family and what configures
// the canary's own upstream (load balancing, hashing, affinity) apply.
func appliesToCanary(n string) bool {
	return strings.HasPrefix(n, "canary") || n == "load-balance" || strings.HasPrefix(n, "upstream-hash-by") ||
		strings.HasPrefix(n, "affinity") || strings.HasPrefix(n, "session-cookie-")
}

var (
	// httpTokenRE is an HTTP token (RFC 9110): a header name, a cookie name (RFC 6265).
	httpTokenRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	weightRE    = regexp.MustCompile(`^[0-9]{1,7}$`)
)

// maxWeightTotal bounds canary-weight-total.
const maxWeightTotal = 1000000

// parseCanary reads the canary family: nil when the Ingress is not a canary.
func parseCanary(get func(string) (string, bool), bad func(n, v, why string) *refusal, prefix string) (*canary, *refusal) {
	v, ok := get("canary")
	if ok && v != "true" && v != "false" {
		return nil, bad("canary", v, `is not "true" or "false"`)
	}
	if v != "true" {
		for _, n := range canaryFamily[1:] {
			if w, ok := get(n); ok {
				return nil, bad(n, w, `is set but canary is not "true": the Ingress would be served as a primary (ingress-nginx), which is not what the annotation asks`)
			}
		}
		return nil, nil
	}
	c := &canary{total: 100}
	c.header, _ = get("canary-by-header")
	if c.header != "" && !httpTokenRE.MatchString(c.header) {
		return nil, bad("canary-by-header", c.header, "is not an HTTP header name")
	}
	c.headerValue, _ = get("canary-by-header-value")
	c.headerPattern, _ = get("canary-by-header-pattern")
	ignore := func(n, why string) {
		c.notes = append(c.notes, fmt.Sprintf("annotation %s/%s %s; ignored", prefix, n, why))
	}
	switch {
	case c.header == "" && c.headerValue != "":
		ignore("canary-by-header-value", "is set without canary-by-header")
		c.headerValue = ""
	}
	switch {
	case c.headerPattern == "":
	case c.header == "":
		ignore("canary-by-header-pattern", "is set without canary-by-header")
		c.headerPattern = ""
	case c.headerValue != "":
		ignore("canary-by-header-pattern", "is set with canary-by-header-value, which takes precedence")
		c.headerPattern = ""
	default:
		why := gatewayapi.CheckRegex("the pattern", c.headerPattern)
		if why == "" {
			why = gatewayapi.CheckRegex("the header's", headerSearch(c.headerPattern))
		}
		if why != "" {
			return nil, bad("canary-by-header-pattern", c.headerPattern, "is not usable: "+why+" (RE2 syntax; PCRE-only syntax is refused)")
		}
	}
	c.cookie, _ = get("canary-by-cookie")
	if c.cookie != "" && !httpTokenRE.MatchString(c.cookie) {
		return nil, bad("canary-by-cookie", c.cookie, "is not a cookie name")
	}
	if c.cookie != "" {
		if why := gatewayapi.CheckRegex("the Cookie header's", cookieIs(c.cookie, "always")); why != "" {
			return nil, bad("canary-by-cookie", c.cookie, "is not usable: "+why)
		}
	}
	if v, ok := get("canary-weight-total"); ok {
		n, err := strconv.Atoi(v)
		if !weightRE.MatchString(v) || err != nil || n < 1 || n > maxWeightTotal {
			return nil, bad("canary-weight-total", v, fmt.Sprintf("is not an integer from 1 to %d", maxWeightTotal))
		}
		c.total = n
	}
	if v, ok := get("canary-weight"); ok {
		n, err := strconv.Atoi(v)
		if !weightRE.MatchString(v) || err != nil || n > c.total {
			return nil, bad("canary-weight", v, fmt.Sprintf("is not an integer from 0 to the weight total %d", c.total))
		}
		c.weighted, c.weight = true, n
	}
	return c, nil
}

// headerSearch is the full-match regular expression (Envoy's safe_regex) that matches a header
// value in which pattern matches somewhere, as ingress-nginx's ngx.re.match searches.
func headerSearch(pattern string) string { return ".*(?:" + pattern + ").*" }

// cookieIs is the full-match regular expression of a Cookie header that holds the cookie name
// with exactly value, the way nginx's $cookie_<name> finds it: the name case-insensitively, at the
// start or after a ';' or ',', spaces around '=' skipped, the value up to the next ';'.
func cookieIs(name, value string) string {
	return `(?:.*[;,])? *(?i:` + regexp.QuoteMeta(name) + `) *= *` + regexp.QuoteMeta(value) + `(?:;.*)?`
}

// pathKey identifies an Ingress path as ingress-nginx pairs a canary with its primary: host, path
// type and path.
func pathKey(host string, p *networkingv1.HTTPIngressPath) string {
	typ := networkingv1.PathTypeImplementationSpecific
	if p.PathType != nil {
		typ = *p.PathType
	}
	path := p.Path
	if path == "" {
		path = "/"
	}
	return host + "\x00" + string(typ) + "\x00" + path
}

// defaultKey identifies the catch-all defaultBackend (an Ingress without rules), with which a
// canary's defaultBackend pairs.
const defaultKey = "\x00defaultBackend"

// primaryPath is a path of a served Ingress a canary may pair with.
type primaryPath struct {
	route, host, index int
	svc                string // namespace/service:port of its backend
	canary             *networkingv1.Ingress
}

func backendID(ns string, b *networkingv1.IngressBackend) string {
	return fmt.Sprintf("%s/%s:%d:%s", ns, b.Service.Name, b.Service.Port.Number, b.Service.Port.Name)
}

// addCanaries pairs each canary Ingress (oldest first) with the paths of the served Ingresses
// served (parallel to res.Routes) that have its paths' host, path type and path: the canary's
// routes go before the primary's path, and its weight into the primary's path. A canary none of
// whose paths pairs is refused; one whose paths pair in part gets a note per other path.
func (res *Result) addCanaries(canaries []accepted, served []*networkingv1.Ingress) {
	if len(canaries) == 0 {
		return
	}
	index := map[string]*primaryPath{}
	for i, ing := range served {
		ir := &res.Routes[i]
		for h := range ir.Hosts {
			host := &ir.Hosts[h]
			var paths []networkingv1.HTTPIngressPath
			if host.Rule < len(ing.Spec.Rules) && ing.Spec.Rules[host.Rule].HTTP != nil {
				paths = ing.Spec.Rules[host.Rule].HTTP.Paths
			}
			for j := range paths {
				if k := pathKey(host.Host, &paths[j]); index[k] == nil {
					index[k] = &primaryPath{route: i, host: h, index: j, svc: backendID(ing.Namespace, &paths[j].Backend)}
				}
			}
			if d := ing.Spec.DefaultBackend; d != nil && len(ing.Spec.Rules) == 0 && index[defaultKey] == nil {
				index[defaultKey] = &primaryPath{route: i, host: h, index: 0, svc: backendID(ing.Namespace, d)}
			}
		}
	}
	for _, x := range canaries {
		var problems []string
		served := false
		try := func(where, key string, b *networkingv1.IngressBackend) {
			pp := index[key]
			switch {
			case pp == nil:
				problems = append(problems, where+": no Ingress of the Gateway that is not a canary has this host, path and path type; not served")
			case pp.canary != nil:
				problems = append(problems, fmt.Sprintf("%s: the older canary %s/%s already serves this path (one canary per path); not served", where, pp.canary.Namespace, pp.canary.Name))
			case pp.svc == backendID(x.ing.Namespace, b):
				problems = append(problems, where+": the canary's Service is the primary's own; not served")
			default:
				pp.canary = x.ing
				host := &res.Routes[pp.route].Hosts[pp.host]
				cb := gatewayapi.IngressBackend{Service: b.Service.Name, Port: b.Service.Port.Number, PortName: b.Service.Port.Name, Of: &x.ing.ObjectMeta}
				host.Plain = withCanary(host.Plain, pp.index, cb, x.a.canary)
				host.Secure = withCanary(host.Secure, pp.index, cb, x.a.canary)
				served = true
			}
		}
		for i, rule := range x.ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for j := range rule.HTTP.Paths {
				p := &rule.HTTP.Paths[j]
				try(fmt.Sprintf("rule %d path %d (host %q, %s)", i, j, rule.Host, strings.ReplaceAll(pathKey("", p)[1:], "\x00", " ")), pathKey(rule.Host, p), &p.Backend)
			}
		}
		if d := x.ing.Spec.DefaultBackend; d != nil {
			try("defaultBackend", defaultKey, d)
		}
		if !served {
			res.Refused = append(res.Refused, Event{x.ing.Namespace, x.ing.Name, ReasonCanaryNotServed,
				"the canary Ingress is not served: " + strings.Join(problems, "; ")})
			continue
		}
		for _, p := range problems {
			res.Notes = append(res.Notes, Event{x.ing.Namespace, x.ing.Name, ReasonCanaryNotServed, p})
		}
		// Served through its primaries' paths: no hosts of its own.
		res.Routes = append(res.Routes, gatewayapi.IngressRoute{Meta: &x.ing.ObjectMeta})
	}
}

// withCanary puts canary c with backend cb on the path of paths numbered index, the way
// balancer.lua chooses: (1) the header (with a value: equal, or with a pattern: matching, goes to
// the canary, else on to the cookie; without either, "always" to the canary, "never" to the
// primary, else on), (2) the cookie ("always", "never"), (3) the weight. Steps 1 and 2 are routes
// before the path's, with the path's filters and timeouts (ingress-nginx serves a canary's
// requests with the primary's location: its rewrites, headers and backend protocol); step 3
// splits the path's own route. A path that redirects has no backend to choose and stays as is.
func withCanary(paths []gatewayapi.IngressPath, index int, cb gatewayapi.IngressBackend, c *canary) []gatewayapi.IngressPath {
	i := slices.IndexFunc(paths, func(p gatewayapi.IngressPath) bool { return p.Index == index && p.Name == "" })
	if i < 0 || paths[i].Backend == nil {
		return paths
	}
	p := paths[i]
	primary := *p.Backend
	// The primary's location speaks to the canary as to the primary (backend-protocol,
	// proxy-ssl-*); the canary's upstream is its own Service's endpoints.
	cb.Protocol, cb.TLS, cb.UpstreamTLS = primary.Protocol, primary.TLS, primary.UpstreamTLS
	rank := p.Match
	var extra []gatewayapi.IngressPath
	add := func(name string, h model.StringMatch, to gatewayapi.IngressBackend) {
		q := p
		q.Name, q.RankAs, q.Backend = name, &rank, &to
		q.Match.Headers = append(slices.Clip(p.Match.Headers), h)
		extra = append(extra, q)
	}
	if c.header != "" {
		switch {
		case c.headerValue != "":
			add("canary-by-header", model.StringMatch{Name: c.header, Type: model.MatchExact, Value: c.headerValue}, cb)
		case c.headerPattern != "":
			add("canary-by-header", model.StringMatch{Name: c.header, Type: model.MatchRegex, Value: headerSearch(c.headerPattern)}, cb)
		default:
			add("canary-by-header", model.StringMatch{Name: c.header, Type: model.MatchExact, Value: "always"}, cb)
			add("canary-by-header-never", model.StringMatch{Name: c.header, Type: model.MatchExact, Value: "never"}, primary)
		}
	}
	if c.cookie != "" {
		add("canary-by-cookie", model.StringMatch{Name: "Cookie", Type: model.MatchRegex, Value: cookieIs(c.cookie, "always")}, cb)
		add("canary-by-cookie-never", model.StringMatch{Name: "Cookie", Type: model.MatchRegex, Value: cookieIs(c.cookie, "never")}, primary)
	}
	if c.weighted {
		// balancer.lua: the canary when random(T) <= weight, T the weight total only above 100.
		t := max(c.total, 100)
		pw, cw := primary, cb
		pw.Weight, cw.Weight = uint32(t-c.weight), uint32(c.weight)
		p.Backend, p.Backends = nil, []gatewayapi.IngressBackend{pw, cw}
	}
	return slices.Concat(paths[:i], extra, []gatewayapi.IngressPath{p}, paths[i+1:])
}
