package ingress

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// ingress-nginx's CORS defaults.
var (
	corsMethods = []string{"GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"}
	corsHeaders = []string{"DNT", "Keep-Alive", "User-Agent", "X-Requested-With", "If-Modified-Since", "Cache-Control", "Content-Type", "Range", "Authorization"}
)

const (
	corsMaxAge = 1728000
	// defaultCookie is ingress-nginx's session-cookie-name default.
	defaultCookie = "INGRESSCOOKIE"
	// maxCookieAge bounds session-cookie-max-age and -expires: a year, as the admission policy
	// (config/admission) does.
	maxCookieAge = 365 * 24 * 3600
)

var (
	// corsOrigin is one entry of cors-allow-origin, as ingress-nginx admits it: a scheme, an
	// optional one-label wildcard, a host and an optional port; or "*" or "null".
	corsOrigin = regexp.MustCompile(`^([a-z][a-z0-9+.-]*://(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?|\*|null)$`)
	corsMethod = regexp.MustCompile(`^[A-Za-z]+$`)
	corsHeader = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	corsExpose = regexp.MustCompile(`^([A-Za-z0-9_-]+|\*)$`)
	// cookieToken is a cookie name (RFC 6265 token).
	cookieToken = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_` + "`" + `|~-]+$`)
	cookiePath  = regexp.MustCompile(`^/[A-Za-z0-9/._~%!$&'()*+,=:@-]*$`)
	digits      = regexp.MustCompile(`^[0-9]{1,10}$`)
	// nginxVar is one nginx variable, the whole value of upstream-hash-by (nginx reads variable
	// names without case).
	nginxVar = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)$`)
)

// affinity is an Ingress's cookie session affinity (affinity: cookie, balanced mode).
type affinity struct {
	cookie   string
	path     string // "" for the path of each location
	maxAge   int64  // 0: a session cookie
	sameSite string // "" for none
}

// parsePolicies parses the CORS and load-balancing annotations into a.
func parsePolicies(a *annotations, get func(string) (string, bool), bad func(n, v, why string) *refusal, notSupported func(n, why string) *refusal) *refusal {
	if r := parseCORS(a, get, bad); r != nil {
		return r
	}
	if v, ok := get("load-balance"); ok {
		switch v {
		case "round_robin", "ewma":
			a.lb = v
		case "chash", "chashsubset", "sticky_balanced", "sticky_persistent":
			return notSupported("load-balance", v+" is set through upstream-hash-by or affinity, not load-balance (round_robin and ewma are)")
		default:
			return bad("load-balance", v, "is not round_robin or ewma")
		}
	}
	if v, ok := get("upstream-hash-by"); ok {
		h, r := hashBy(v, bad, notSupported)
		if r != nil {
			return r
		}
		a.hashBy = h
	}
	return parseAffinity(a, get, bad, notSupported)
}

func parseCORS(a *annotations, get func(string) (string, bool), bad func(n, v, why string) *refusal) *refusal {
	c := &model.CORS{AllowOrigins: []string{"*"}, AllowMethods: corsMethods, AllowHeaders: corsHeaders, AllowCredentials: true,
		MaxAge: corsMaxAge, LabelWildcard: true}
	enabled := false
	list := func(n string, item *regexp.Regexp, what string) ([]string, *refusal) {
		v, ok := get(n)
		if !ok {
			return nil, nil
		}
		var out []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			if !item.MatchString(s) {
				return nil, bad(n, v, fmt.Sprintf("holds %q, which is not %s", s, what))
			}
			out = append(out, s)
		}
		if len(out) == 0 {
			return nil, bad(n, v, "names nothing")
		}
		return out, nil
	}
	for _, b := range []struct {
		name string
		to   *bool
	}{{"enable-cors", &enabled}, {"cors-allow-credentials", &c.AllowCredentials}} {
		if v, ok := get(b.name); ok {
			if v != "true" && v != "false" {
				return bad(b.name, v, `is not "true" or "false"`)
			}
			*b.to = v == "true"
		}
	}
	origins, r := list("cors-allow-origin", corsOrigin, "an origin (scheme://host[:port], with an optional *. before the host), * or null")
	if r != nil {
		return r
	}
	if origins != nil {
		c.AllowOrigins = origins
		for _, o := range origins {
			if o == "*" { // any "*" admits every origin, as in ingress-nginx
				c.AllowOrigins = []string{"*"}
				break
			}
		}
	}
	for _, l := range []struct {
		name string
		re   *regexp.Regexp
		what string
		to   *[]string
	}{{"cors-allow-methods", corsMethod, "a method", &c.AllowMethods}, {"cors-allow-headers", corsHeader, "a header name", &c.AllowHeaders},
		{"cors-expose-headers", corsExpose, "a header name or *", &c.ExposeHeaders}} {
		v, r := list(l.name, l.re, l.what)
		if r != nil {
			return r
		}
		if v != nil {
			*l.to = v
		}
	}
	if v, ok := get("cors-max-age"); ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if !digits.MatchString(v) || err != nil {
			return bad("cors-max-age", v, "is not a number of seconds")
		}
		c.MaxAge = int32(n)
	}
	if len(c.AllowOrigins) == 1 && c.AllowOrigins[0] == "*" {
		// ingress-nginx answers "Access-Control-Allow-Origin: *", with which browsers send no
		// credentials whatever Access-Control-Allow-Credentials says. Envoy echoes the request's
		// origin instead: allowing credentials there would let every site read credentialed
		// responses. Without it, browsers behave as they do with ingress-nginx.
		c.AllowCredentials = false
	}
	if enabled {
		a.cors = c
	}
	return nil
}

// hashBy maps upstream-hash-by's single nginx variable onto what Envoy hashes.
func hashBy(v string, bad func(n, v, why string) *refusal, notSupported func(n, why string) *refusal) (*model.HashPolicy, *refusal) {
	const n = "upstream-hash-by"
	m := nginxVar.FindStringSubmatch(v)
	if m == nil {
		if strings.Contains(v, "$") {
			return nil, notSupported(n, fmt.Sprintf("%q is not a single variable; composite keys are not supported", v))
		}
		return nil, bad(n, v, "is not an nginx variable")
	}
	name := strings.ToLower(m[1])
	switch {
	case name == "request_uri":
		return &model.HashPolicy{Header: ":path"}, nil
	case name == "remote_addr", name == "binary_remote_addr":
		return &model.HashPolicy{SourceIP: true}, nil
	case name == "host":
		return &model.HashPolicy{Header: ":authority"}, nil
	case strings.HasPrefix(name, "http_") && len(name) > 5:
		return &model.HashPolicy{Header: strings.ReplaceAll(name[5:], "_", "-")}, nil
	case strings.HasPrefix(name, "cookie_") && len(name) > 7:
		return &model.HashPolicy{Cookie: &model.HashCookie{Name: name[7:]}}, nil
	case strings.HasPrefix(name, "arg_") && len(name) > 4:
		return &model.HashPolicy{QueryParameter: name[4:]}, nil
	}
	return nil, notSupported(n, fmt.Sprintf("%s is not supported ($request_uri, $remote_addr, $binary_remote_addr, $host, $http_<name>, $cookie_<name> and $arg_<name> are)", v))
}

func parseAffinity(a *annotations, get func(string) (string, bool), bad func(n, v, why string) *refusal, notSupported func(n, why string) *refusal) *refusal {
	af := &affinity{cookie: defaultCookie}
	if v, ok := get("affinity-mode"); ok {
		switch v {
		case "balanced":
		case "persistent":
			return notSupported("affinity-mode", "persistent is not supported: Envoy's ring hash moves some sessions when endpoints change, as balanced does (balanced is supported)")
		default:
			return bad("affinity-mode", v, "is not balanced or persistent")
		}
	}
	if v, ok := get("session-cookie-name"); ok {
		if !cookieToken.MatchString(v) {
			return bad("session-cookie-name", v, "is not a cookie name")
		}
		af.cookie = v
	}
	if v, ok := get("session-cookie-path"); ok {
		if !cookiePath.MatchString(v) {
			return bad("session-cookie-path", v, "is not a path starting with /")
		}
		af.path = v
	}
	// Envoy sets Max-Age only; with both, browsers use Max-Age, so it wins, as in ingress-nginx.
	for _, n := range []string{"session-cookie-expires", "session-cookie-max-age"} {
		v, ok := get(n)
		if !ok {
			continue
		}
		s, err := strconv.ParseInt(v, 10, 64)
		if !digits.MatchString(v) || err != nil {
			return bad(n, v, "is not a number of seconds")
		}
		if s > maxCookieAge {
			return bad(n, v, "is more than a year")
		}
		af.maxAge = s
	}
	if v, ok := get("session-cookie-samesite"); ok {
		switch strings.ToLower(v) {
		case "none":
			af.sameSite = "None"
		case "lax":
			af.sameSite = "Lax"
		case "strict":
			af.sameSite = "Strict"
		default:
			return bad("session-cookie-samesite", v, "is not None, Lax or Strict")
		}
	}
	if v, ok := get("affinity"); ok {
		if v != "cookie" {
			return bad("affinity", v, `is not "cookie"`)
		}
		a.affinity = af
	}
	return nil
}
