package ingress

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/model"
)

// Reasons of a refused Ingress (the reason of its Warning Event).
const (
	// ReasonSnippetRefused: a snippet annotation; snippets are never interpreted.
	ReasonSnippetRefused = "SnippetRefused"
	// ReasonAnnotationNotSupported: an annotation this version does not implement. The Ingress
	// is not served rather than served without what the annotation asks (fail closed).
	ReasonAnnotationNotSupported = "AnnotationNotSupported"
	// ReasonInvalidAnnotation: an annotation value that does not parse.
	ReasonInvalidAnnotation = "InvalidAnnotation"
	// ReasonInvalidIngress: a path, backend or TLS entry Flotilla cannot serve.
	ReasonInvalidIngress = "InvalidIngress"
	// ReasonUnknownAnnotation: an annotation of the prefix that ingress-nginx does not define
	// either; the Ingress is served, the Event says it was ignored.
	ReasonUnknownAnnotation = "UnknownAnnotation"
	// ReasonAnnotationIgnored: an annotation whose setting Envoy does not take in this form; the
	// Ingress is served, the Event says what applies instead.
	ReasonAnnotationIgnored = "AnnotationIgnored"
)

// snippets are never interpreted (CVE-2021-25742 and its successors).
var snippets = []string{"configuration-snippet", "server-snippet", "auth-snippet", "stream-snippet", "modsecurity-snippet"}

// notYet are ingress-nginx annotations this version does not implement: an Ingress using one is
// refused, so that nothing is served without the protection or behaviour it asks for.
var notYet = map[string]string{}

func init() {
	for _, group := range []struct {
		why   string
		names []string
	}{
		{"Envoy has no limit of concurrent connections per client address (limit-rps and limit-rpm are supported)", []string{"limit-connections"}},
		{"bandwidth limits are not implemented yet", []string{"limit-rate", "limit-rate-after"}},
		{"this authentication setting is not implemented yet (auth-type basic, auth-secret, auth-secret-type, auth-realm, auth-url, auth-signin and auth-response-headers are)", []string{
			"auth-request-redirect", "auth-cache-key", "auth-cache-duration", "auth-keepalive",
			"auth-proxy-set-headers", "auth-tls-secret", "auth-tls-verify-client", "auth-tls-verify-depth", "auth-tls-error-page",
			"auth-tls-pass-certificate-to-upstream", "auth-tls-match-cn", "auth-always-set-cookie", "auth-signin-redirect-param"}},
		{"mirror-uri is ingress-nginx's internal location name, not a setting (mirror-target is supported)", []string{"mirror-uri"}},
		{"this session affinity setting is not implemented yet (affinity, affinity-mode balanced and session-cookie-name/-path/-max-age/-expires/-samesite are)",
			[]string{"affinity-canary-behavior", "session-cookie-conditional-samesite-none", "session-cookie-change-on-failure",
				"session-cookie-secure", "session-cookie-domain"}},
		{"hashing by subsets is not implemented yet (upstream-hash-by is)", []string{"upstream-hash-by-subset", "upstream-hash-by-subset-size"}},
		{"backend TLS ciphers and protocols are not implemented yet (Envoy's defaults, TLS 1.2 and up, apply)", []string{"proxy-ssl-ciphers", "proxy-ssl-protocols"}},
		{"this nginx tuning has no Envoy form in Flotilla yet", []string{"proxy-buffering", "proxy-buffer-size", "proxy-buffers-number",
			"proxy-request-buffering", "proxy-http-version", "proxy-max-temp-file-size", "proxy-next-upstream", "proxy-next-upstream-timeout",
			"proxy-next-upstream-tries", "proxy-redirect-from", "proxy-redirect-to", "proxy-cookie-domain", "proxy-cookie-path",
			"connection-proxy-header", "enable-access-log", "enable-rewrite-log", "enable-opentelemetry", "opentelemetry-trust-incoming-span",
			"enable-modsecurity", "enable-owasp-core-rules", "modsecurity-transaction-id", "satisfy", "from-to-www-redirect",
			"preserve-trailing-slash", "ssl-ciphers", "ssl-prefer-server-ciphers", "global-rate-limit",
			"global-rate-limit-window", "global-rate-limit-key", "global-rate-limit-ignored-cidrs",
			"http2-push-preload", "custom-headers", "upstream-keepalive-connections"}},
	} {
		for _, n := range group.names {
			notYet[n] = group.why
		}
	}
}

// known are the annotations this version implements.
var known = []string{"rewrite-target", "use-regex", "app-root", "ssl-redirect", "force-ssl-redirect", "permanent-redirect",
	"permanent-redirect-code", "temporal-redirect", "temporal-redirect-code", "backend-protocol", "proxy-connect-timeout",
	"proxy-read-timeout", "proxy-send-timeout", "upstream-vhost", "x-forwarded-prefix", "load-balance",
	"server-alias", "service-upstream", "ssl-passthrough", "proxy-ssl-secret", "proxy-ssl-verify", "proxy-ssl-name",
	"proxy-ssl-server-name", "proxy-ssl-verify-depth",
	"enable-cors", "cors-allow-origin", "cors-allow-methods", "cors-allow-headers", "cors-allow-credentials", "cors-expose-headers", "cors-max-age",
	"affinity", "affinity-mode", "session-cookie-name", "session-cookie-path", "session-cookie-max-age", "session-cookie-expires",
	"session-cookie-samesite", "upstream-hash-by",
	"canary", "canary-by-header", "canary-by-header-value", "canary-by-header-pattern", "canary-by-cookie", "canary-weight",
	"canary-weight-total"}

func init() { known = append(known, protectionAnnotations...) }

// annotations are the parsed annotations of one Ingress (the ones this version implements).
type annotations struct {
	rewriteTarget    string // "" for none
	useRegex         bool
	appRoot          string
	sslRedirect      *bool
	forceSSLRedirect bool
	redirect         *model.Redirect // permanent- or temporal-redirect
	protocol         model.ClusterProtocol
	tls              bool
	read, send       int    // proxy-read/send-timeout in seconds, -1 unset
	connect          string // proxy-connect-timeout ("5s"), "" for the clusters' 10s
	vhost            string
	forwardedPrefix  string
	aliases          []string // server-alias
	serviceUpstream  bool
	passthrough      bool // ssl-passthrough
	proxySSL         *proxySSL
	cors             *model.CORS // enable-cors and cors-*; nil without enable-cors
	// Per upstream (the oldest Ingress decides, see upstreams): load-balance ("" unset), upstream-hash-by, affinity.
	lb       string
	hashBy   *model.HashPolicy
	affinity *affinity
	// canary is set on a canary Ingress (canary "true"): the only annotations read then are the
	// canary family and those that apply to the canary's own backend; ignored lists the others.
	canary  *canary
	ignored []string
	// prot are the access, limit, auth and body size annotations (the Ingress's RouteFilter).
	prot *protections
	// unknown are annotations of the prefix nobody defines, for an Event; notes say what a known
	// annotation does differently, for an Event too.
	unknown, notes []string
}

// refusal is why an Ingress is not served.
type refusal struct{ reason, msg string }

var (
	tokenRE  = regexp.MustCompile(`^[A-Za-z0-9._~!$&'()*+,;=:@/%-]+$`)
	hostRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	secondRE = regexp.MustCompile(`^[0-9]{1,5}$`)
)

// parseAnnotations reads the Ingress's annotations of prefix strictly; a refusal says why the
// Ingress cannot be served.
func parseAnnotations(all map[string]string, prefix, ns string) (annotations, *refusal) {
	a := annotations{protocol: model.ClusterHTTP}
	// The annotations of the prefix, by name without it: one pass, no key built per lookup.
	mine := make(map[string]string, len(all))
	for k, v := range all {
		if n, ok := strings.CutPrefix(k, prefix+"/"); ok {
			mine[n] = v
		}
	}
	get := func(n string) (string, bool) { v, ok := mine[n]; return v, ok }
	bad := func(n, v, why string) *refusal {
		return &refusal{ReasonInvalidAnnotation, fmt.Sprintf("annotation %s/%s: %q %s", prefix, n, v, why)}
	}
	names := slices.Sorted(maps.Keys(mine))
	isCanary := mine["canary"] == "true"
	for _, n := range names {
		v := mine[n]
		switch {
		case slices.Contains(snippets, n):
			return a, &refusal{ReasonSnippetRefused, fmt.Sprintf("annotation %s/%s: snippets are never interpreted (they would let an Ingress author configure the proxy for every tenant)", prefix, n)}
		case strings.ContainsAny(v, "\r\n\x00"):
			return a, bad(n, v, "holds a control character")
		case isCanary && !appliesToCanary(n):
			a.ignored = append(a.ignored, prefix+"/"+n)
		case notYet[n] != "":
			return a, &refusal{ReasonAnnotationNotSupported, fmt.Sprintf("annotation %s/%s: %s in Flotilla, so the Ingress is not served rather than served without it", prefix, n, notYet[n])}
		case !slices.Contains(known, n):
			a.unknown = append(a.unknown, prefix+"/"+n)
		}
	}
	c, r := parseCanary(get, bad, prefix)
	if r != nil {
		return a, r
	}
	// load-balance, upstream-hash-by and affinity: on a canary too (its own backend's upstream).
	policies := func() *refusal {
		notSupported := func(n, why string) *refusal {
			return &refusal{ReasonAnnotationNotSupported, fmt.Sprintf("annotation %s/%s: %s", prefix, n, why)}
		}
		return parsePolicies(&a, get, bad, notSupported)
	}
	if c != nil {
		a.canary = c
		return a, policies()
	}
	boolean := func(n string) (*bool, *refusal) {
		v, ok := get(n)
		if !ok {
			return nil, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil || (v != "true" && v != "false") {
			return nil, bad(n, v, `is not "true" or "false"`)
		}
		return &b, nil
	}
	if b, r := boolean("use-regex"); r != nil {
		return a, r
	} else if b != nil {
		a.useRegex = *b
	}
	if b, r := boolean("ssl-redirect"); r != nil {
		return a, r
	} else {
		a.sslRedirect = b
	}
	if b, r := boolean("force-ssl-redirect"); r != nil {
		return a, r
	} else if b != nil {
		a.forceSSLRedirect = *b
	}
	if v, ok := get("rewrite-target"); ok {
		if v == "" || strings.ContainsAny(v, " \t") || !tokenRE.MatchString(v) {
			return a, bad("rewrite-target", v, "is not a path")
		}
		a.rewriteTarget = v
	}
	if v, ok := get("app-root"); ok {
		if !strings.HasPrefix(v, "/") || !tokenRE.MatchString(v) || strings.Contains(v, "//") {
			return a, bad("app-root", v, "is not a path starting with /")
		}
		a.appRoot = v
	}
	// temporal-redirect is checked before permanent-redirect, as ingress-nginx does.
	for _, rd := range []struct {
		name string
		def  int
	}{{"temporal-redirect", 302}, {"permanent-redirect", 301}} {
		v, ok := get(rd.name)
		if !ok || a.redirect != nil {
			continue
		}
		red, msg := redirectTo(v)
		if msg != "" {
			return a, bad(rd.name, v, msg)
		}
		red.StatusCode = rd.def
		if c, ok := get(rd.name + "-code"); ok {
			code, err := strconv.Atoi(c)
			if err != nil || code < 300 || code > 308 {
				return a, bad(rd.name+"-code", c, "is not a redirect status code (300-308)")
			}
			if !slices.Contains([]int{301, 302, 303, 307, 308}, code) {
				return a, bad(rd.name+"-code", c, "is a redirect code Envoy cannot send (it sends 301, 302, 303, 307 and 308)")
			}
			red.StatusCode = code
		}
		a.redirect = red
	}
	if v, ok := get("backend-protocol"); ok {
		switch strings.ToUpper(v) {
		case "HTTP":
		case "HTTPS":
			a.tls = true
		case "GRPC":
			a.protocol = model.ClusterGRPC
		case "GRPCS":
			a.protocol, a.tls = model.ClusterGRPC, true
		case "AUTO_HTTP", "FCGI", "H2C":
			return a, &refusal{ReasonAnnotationNotSupported, fmt.Sprintf("annotation %s/backend-protocol: %s is not supported (HTTP, HTTPS, GRPC and GRPCS are)", prefix, v)}
		default:
			return a, bad("backend-protocol", v, "is not HTTP, HTTPS, GRPC or GRPCS")
		}
	}
	read, send, connect := -1, -1, -1 // unset: the class's defaults (60s each, as ingress-nginx's); connect: 10s
	for _, t := range []struct {
		name string
		to   *int
	}{{"proxy-read-timeout", &read}, {"proxy-send-timeout", &send}, {"proxy-connect-timeout", &connect}} {
		v, ok := get(t.name)
		if !ok {
			continue
		}
		if !secondRE.MatchString(v) {
			return a, bad(t.name, v, "is not a number of seconds")
		}
		n, _ := strconv.Atoi(v)
		if n > 86400 {
			return a, bad(t.name, v, "is more than a day")
		}
		*t.to = n
	}
	a.read, a.send = read, send
	switch {
	case connect == 0:
		return a, bad("proxy-connect-timeout", "0", "is not a timeout (Envoy needs a positive connect timeout)")
	case connect > 0 && connect != 10:
		a.connect = strconv.Itoa(connect) + "s"
	}
	if v, ok := get("upstream-vhost"); ok {
		if h, _, _ := strings.Cut(v, ":"); !hostRE.MatchString(strings.ToLower(h)) {
			return a, bad("upstream-vhost", v, "is not a host name")
		}
		a.vhost = v
	}
	if v, ok := get("x-forwarded-prefix"); ok {
		if !tokenRE.MatchString(v) {
			return a, bad("x-forwarded-prefix", v, "is not a path")
		}
		a.forwardedPrefix = v
	}
	if v, ok := get("server-alias"); ok {
		for _, h := range strings.Split(v, ",") {
			h = strings.TrimSpace(h)
			if !hostRE.MatchString(strings.TrimPrefix(h, "*.")) {
				return a, bad("server-alias", v, "is not a comma-separated list of host names")
			}
			a.aliases = append(a.aliases, h)
		}
	}
	if r := parseProxySSL(get, bad, &a, prefix); r != nil {
		return a, r
	}
	if b, r := boolean("service-upstream"); r != nil {
		return a, r
	} else if b != nil {
		a.serviceUpstream = *b
	}
	if b, r := boolean("ssl-passthrough"); r != nil {
		return a, r
	} else if b != nil {
		a.passthrough = *b
	}
	if r := policies(); r != nil {
		return a, r
	}
	notSupported := func(n, why string) *refusal {
		return &refusal{ReasonAnnotationNotSupported, fmt.Sprintf("annotation %s/%s: %s", prefix, n, why)}
	}
	if a.prot, r = parseProtections(get, bad, notSupported, ns); r != nil {
		return a, r
	}
	if _, ok := get("client-body-buffer-size"); ok {
		a.notes = append(a.notes, fmt.Sprintf("annotation %s/client-body-buffer-size: Envoy streams request bodies, there is no buffer to size; ignored", prefix))
	}
	return a, nil
}

// redirectTo parses a redirect annotation's URL (absolute http or https, kept verbatim).
func redirectTo(v string) (*model.Redirect, string) { return gatewayapi.FixedRedirect(v, false) }

// proxySSL are the proxy-ssl-* annotations: how Envoy originates TLS to a backend-protocol HTTPS
// or GRPCS backend.
type proxySSL struct {
	// secretNS/secretName name the Secret (tls.crt/tls.key: the client certificate; ca.crt: what
	// to verify with); secretNS is "" for the Ingress's own namespace.
	secretNS, secretName string
	verify               bool
	name                 string // proxy-ssl-name: the name to verify (and send as SNI)
	serverName           bool   // proxy-ssl-server-name
}

var labelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func parseProxySSL(get func(string) (string, bool), bad func(n, v, why string) *refusal, a *annotations, prefix string) *refusal {
	var p proxySSL
	set := false
	onOff := func(n string) (bool, *refusal) {
		v, ok := get(n)
		if !ok {
			return false, nil
		}
		set = true
		switch v {
		case "on":
			return true, nil
		case "off":
			return false, nil
		}
		return false, bad(n, v, `is not "on" or "off"`)
	}
	var r *refusal
	if p.verify, r = onOff("proxy-ssl-verify"); r != nil {
		return r
	}
	if p.serverName, r = onOff("proxy-ssl-server-name"); r != nil {
		return r
	}
	if v, ok := get("proxy-ssl-secret"); ok {
		set = true
		ns, name, cross := strings.Cut(v, "/")
		if !cross {
			ns, name = "", v
		}
		if cross && !labelRE.MatchString(ns) || !hostRE.MatchString(name) {
			return bad("proxy-ssl-secret", v, "is not a Secret name or namespace/name")
		}
		p.secretNS, p.secretName = ns, name
	}
	if v, ok := get("proxy-ssl-name"); ok {
		set = true
		if !hostRE.MatchString(strings.ToLower(v)) {
			return bad("proxy-ssl-name", v, "is not a host name")
		}
		p.name = strings.ToLower(v)
	}
	if v, ok := get("proxy-ssl-verify-depth"); ok {
		set = true
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10 || strconv.Itoa(n) != v {
			return bad("proxy-ssl-verify-depth", v, "is not a depth from 1 to 10")
		}
		a.notes = append(a.notes, fmt.Sprintf("annotation %s/proxy-ssl-verify-depth: Envoy verifies the whole chain to the CA; the depth is not applied", prefix))
	}
	if !set {
		return nil
	}
	if p.verify && p.secretName == "" {
		return &refusal{ReasonInvalidAnnotation, fmt.Sprintf("annotation %s/proxy-ssl-verify: verification needs the CA of %s/proxy-ssl-secret", prefix, prefix)}
	}
	a.proxySSL = &p
	return nil
}
