package explain

import (
	"fmt"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// http follows the HTTP connection manager: normalization, the route configuration, the virtual
// host, the first matching route, and its action.
func (e *explainer) http(hcm *hcmv3.HttpConnectionManager, tls bool) error {
	// Envoy sets :scheme (and x-forwarded-proto) from the connection.
	e.req.Scheme = "http"
	if tls {
		e.req.Scheme = "https"
	}
	path := e.req.Path
	if hcm.GetNormalizePath().GetValue() {
		path = normalizePath(path)
	}
	if hcm.GetMergeSlashes() {
		path = mergeSlashes(path)
	}
	if path != e.req.Path {
		e.d.Request.OriginalPath, e.d.Request.Path = e.req.Path, path
		e.req.Path = path
	}
	if host, port, ok := splitHostPort(e.req.Authority); ok {
		if hcm.GetStripAnyHostPort() || (hcm.GetStripMatchingHostPort() && port == strconv.Itoa(int(e.d.Listener.Port))) {
			e.req.Authority = host
			e.d.Request.Authority = host
		}
	}
	rc := hcm.GetRouteConfig()
	if name := hcm.GetRds().GetRouteConfigName(); name != "" {
		rc = nil
		for _, cand := range e.res.Routes {
			if cand.GetName() == name {
				rc = cand
			}
		}
		if rc == nil {
			e.stop(ActionIncomplete, 0, "the route configuration "+name+" is missing from the resources",
				"Envoy waits for it over RDS before the listener serves")
			return nil
		}
	}
	if rc == nil {
		e.stop(ActionIncomplete, 0, "the connection manager has no route configuration", "")
		return nil
	}
	e.d.RouteConfig = rc.GetName()
	vh, domain, why := e.virtualHost(rc, e.req.Authority)
	if vh == nil {
		e.stop(ActionNotFound, 404, "404: no virtual host matches :authority "+e.req.Authority, why)
		return nil
	}
	e.d.VirtualHost = &VirtualHostStep{Name: vh.GetName(), Domains: vh.GetDomains(), Domain: domain, Why: why, Routes: len(vh.GetRoutes())}
	var route *routev3.Route
	for i, r := range vh.GetRoutes() {
		e.d.Considered = i + 1
		ok, why := e.matchRoute(r.GetMatch())
		if ok {
			route = r
			e.d.Route = &RouteStep{Name: r.GetName(), Position: i + 1, Source: ParseSource(r.GetName()), Match: describeMatch(r.GetMatch())}
			break
		}
		if len(e.d.Skipped) < maxSkipped {
			e.d.Skipped = append(e.d.Skipped, Skipped{Route: r.GetName(), Why: why})
		}
	}
	if route == nil {
		e.stop(ActionNotFound, 404, "404: no route matches",
			fmt.Sprintf("virtual host %s matched :authority %s, but none of its %s matches the request", vh.GetName(), e.req.Authority, plural(len(vh.GetRoutes()), "route")))
		return nil
	}
	return e.routeAction(rc, vh, route, hcm)
}

// selectVirtualHost picks the virtual host of host (already without port) by Envoy's domain
// rules, all without case: an exact domain; else the longest suffix wildcard ("*.foo.com",
// "*-bar.foo.com"; the wildcard matches one character or more); else the longest prefix wildcard
// ("foo.*"); else "*". It returns the domain that matched and why, or why none did.
func selectVirtualHost(vhs []*routev3.VirtualHost, host string) (*routev3.VirtualHost, string, string) {
	return selectFrom(vhs, nil, host)
}

// candidate is a virtual host and the domain of it that matched.
type candidate struct {
	vh     *routev3.VirtualHost
	domain string
}

// domainIndex is a route configuration's virtual hosts by exact domain (lower case), and those
// with wildcard domains: so that a fleet of thousands of hosts explains a request in a lookup.
type domainIndex struct {
	exact map[string]candidate
	wild  []*routev3.VirtualHost
}

func newDomainIndex(vhs []*routev3.VirtualHost) *domainIndex {
	x := &domainIndex{exact: make(map[string]candidate, len(vhs))}
	for _, vh := range vhs {
		wild := false
		for _, d := range vh.GetDomains() {
			if strings.Contains(d, "*") {
				wild = true
			} else if d != "" {
				x.exact[strings.ToLower(d)] = candidate{vh, d}
			}
		}
		if wild {
			x.wild = append(x.wild, vh)
		}
	}
	return x
}

// virtualHost is selectVirtualHost with the fleet's index of rc's domains.
func (e *explainer) virtualHost(rc *routev3.RouteConfiguration, host string) (*routev3.VirtualHost, string, string) {
	if e.domains == nil {
		e.domains = map[*routev3.RouteConfiguration]*domainIndex{}
	}
	x := e.domains[rc]
	if x == nil {
		x = newDomainIndex(rc.GetVirtualHosts())
		e.domains[rc] = x
	}
	return selectFrom(rc.GetVirtualHosts(), x, host)
}

// selectFrom selects among vhs, with x (when not nil) for the exact domains.
func selectFrom(vhs []*routev3.VirtualHost, x *domainIndex, host string) (*routev3.VirtualHost, string, string) {
	h := strings.ToLower(host)
	// By Envoy's order: exact, suffix wildcard, prefix wildcard, "*".
	var found [4]candidate
	scan := vhs
	if x != nil {
		found[0] = x.exact[h]
		scan = x.wild
	}
	for _, vh := range scan {
		for _, d := range vh.GetDomains() {
			dl := strings.ToLower(d)
			switch {
			case dl == "":
			case dl == "*":
				found[3] = candidate{vh, d}
			case dl == h:
				found[0] = candidate{vh, d}
			case dl[0] == '*':
				if s := dl[1:]; len(h) > len(s) && strings.HasSuffix(h, s) && len(d) > len(found[1].domain) {
					found[1] = candidate{vh, d}
				}
			case dl[len(dl)-1] == '*':
				if p := dl[:len(dl)-1]; len(h) > len(p) && strings.HasPrefix(h, p) && len(d) > len(found[2].domain) {
					found[2] = candidate{vh, d}
				}
			}
		}
	}
	rules := [...]string{"exactly", "as the longest suffix wildcard (no exact domain matches)",
		"as the longest prefix wildcard (no exact or suffix wildcard domain matches)", "as the catch-all (no other domain matches)"}
	for i, c := range found {
		if c.vh != nil {
			return c.vh, c.domain, fmt.Sprintf(":authority %s matches domain %s %s", host, c.domain, rules[i])
		}
	}
	return nil, "", noVirtualHost(vhs, h)
}

// noVirtualHost says why no virtual host matched, naming the closest domain.
func noVirtualHost(vhs []*routev3.VirtualHost, host string) string {
	var domains []string
	closest, dist := "", -1
	for _, vh := range vhs {
		for _, d := range vh.GetDomains() {
			domains = append(domains, d)
			if n := distance(host, strings.TrimPrefix(strings.ToLower(d), "*")); dist < 0 || n < dist {
				closest, dist = vh.GetName()+" (domain "+d+")", n
			}
		}
	}
	if len(domains) == 0 {
		return "the route configuration has no virtual host"
	}
	return fmt.Sprintf("no domain matches %s and no virtual host has \"*\"; the closest is virtual host %s; domains: %s",
		host, closest, strings.Join(domains, ", "))
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// splitHostPort splits "host:port" ("[v6]:port"); ok is false when there is no port.
func splitHostPort(authority string) (host, port string, ok bool) {
	i := strings.LastIndexByte(authority, ':')
	if i < 0 || strings.LastIndexByte(authority, ']') > i {
		return authority, "", false
	}
	if _, err := strconv.ParseUint(authority[i+1:], 10, 16); err != nil {
		return authority, "", false
	}
	return authority[:i], authority[i+1:], true
}

// normalizePath removes "." and ".." segments (RFC 3986 section 5.2.4) and decodes percent-encoded
// unreserved characters, as the connection manager's normalize_path does.
func normalizePath(p string) string {
	p = decodeUnreserved(p)
	if !strings.Contains(p, ".") {
		return p
	}
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs[1:] {
		last := i == len(segs)-2
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
			continue
		}
		if last {
			out = append(out, "")
		}
	}
	return "/" + strings.Join(out, "/")
}

// decodeUnreserved decodes "%XX" escapes of unreserved characters (letters, digits, "-._~").
func decodeUnreserved(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) {
			if v, err := strconv.ParseUint(p[i+1:i+3], 16, 8); err == nil && unreserved(byte(v)) {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0
}

// mergeSlashes turns runs of "/" into one, as merge_slashes does.
func mergeSlashes(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	return p
}

// ParseSource reads the Gateway API rule from a route name "<Kind>/<ns>/<name>/rule/<i>/match/<j>";
// nil when the name has another form.
func ParseSource(name string) *Source {
	parts := strings.Split(name, "/")
	if len(parts) != 7 || parts[3] != "rule" || parts[5] != "match" {
		return nil
	}
	rule, err1 := strconv.Atoi(parts[4])
	match, err2 := strconv.Atoi(parts[6])
	if err1 != nil || err2 != nil {
		return nil
	}
	return &Source{Kind: parts[0], Namespace: parts[1], Name: parts[2], Rule: rule, Match: match}
}
