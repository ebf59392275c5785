package ingress

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	apiresource "k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
)

// protectionAnnotations are the access, limit, auth and body size annotations: they make the
// Ingress's RouteFilter (gatewayapi.IngressRoute.Filter).
var protectionAnnotations = []string{"whitelist-source-range", "allowlist-source-range", "denylist-source-range",
	"limit-rps", "limit-rpm", "limit-burst-multiplier", "limit-whitelist",
	"auth-type", "auth-secret", "auth-secret-type", "auth-realm", "auth-url", "auth-signin", "auth-response-headers", "auth-method",
	"proxy-body-size", "client-body-buffer-size", "custom-http-errors", "default-backend",
	"mirror-target", "mirror-host", "mirror-request-body"}

// defaultRealm is ingress-nginx's auth-realm default.
const defaultRealm = "Authentication Required"

// defaultBurstMultiplier is ingress-nginx's limit-burst-multiplier default.
const defaultBurstMultiplier = 5

var sizeRE = regexp.MustCompile(`^([0-9]{1,12})([kKmMgG]?)$`)

// protections are an Ingress's protection annotations, parsed.
type protections struct {
	spec flotillav1alpha1.RouteFilterSpec
	// bodySize is proxy-body-size in bytes (0: unlimited); nil: the class's default.
	bodySize *int64
	// other are "namespace/name" of objects in other namespaces the annotations name, by
	// annotation, for the class's allowCrossNamespaceReferences.
	other map[string]string
	// mirror is mirror-target's Service (of the Ingress's namespace).
	mirror *gatewayapi.IngressBackend
}

// ParseSize reads an nginx size ("1m", "512k", "8388608"): k, m, g are powers of 1024.
func ParseSize(v string) (int64, bool) {
	m := sizeRE.FindStringSubmatch(v)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, false
	}
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30}[strings.ToLower(m[2])]
	if n > (1<<62)>>shift {
		return 0, false
	}
	return n << shift, true
}

// parseProtections reads the protection annotations of a (non-canary) Ingress of namespace ns.
func parseProtections(get func(string) (string, bool), bad func(n, v, why string) *refusal, notSupported func(n, why string) *refusal, ns string) (*protections, *refusal) {
	p := &protections{other: map[string]string{}}
	// urlRefusal refuses a URL annotation for why (authURL's and mirrorTarget's): not supported
	// when why starts with "!", else invalid.
	urlRefusal := func(n, v, why string) *refusal {
		if rest, ok := strings.CutPrefix(why, "!"); ok {
			return notSupported(n, rest)
		}
		return bad(n, v, why)
	}
	cidrList := func(n string) ([]flotillav1alpha1.CIDR, *refusal) {
		v, ok := get(n)
		if !ok {
			return nil, nil
		}
		var out []flotillav1alpha1.CIDR
		for _, s := range strings.Split(v, ",") {
			pfx, err := gatewayapi.ParseCIDR(s)
			if err != nil {
				return nil, bad(n, v, "is not a comma-separated list of CIDRs or addresses")
			}
			out = append(out, flotillav1alpha1.CIDR(pfx.String()))
		}
		return out, nil
	}
	// Access lists: whitelist- and allowlist-source-range are one annotation under two names.
	allow, r := cidrList("whitelist-source-range")
	if r != nil {
		return nil, r
	}
	if a2, r := cidrList("allowlist-source-range"); r != nil {
		return nil, r
	} else if a2 != nil {
		w, _ := get("whitelist-source-range")
		if v, _ := get("allowlist-source-range"); allow != nil && v != w {
			return nil, bad("allowlist-source-range", v, "differs from whitelist-source-range (they are one annotation under two names)")
		}
		allow = a2
	}
	deny, r := cidrList("denylist-source-range")
	if r != nil {
		return nil, r
	}
	if allow != nil || deny != nil {
		p.spec.ClientAccess = &flotillav1alpha1.ClientAccess{Allow: allow, Deny: deny, ClientAddress: flotillav1alpha1.ClientAddressForwarded}
	}

	// Rate limits: per client address; burst = rate × limit-burst-multiplier.
	count := func(n string) (int32, *refusal) {
		v, ok := get(n)
		if !ok {
			return 0, nil
		}
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i > 1000000 || strconv.Itoa(i) != v {
			return 0, bad(n, v, "is not a whole number from 0 to 1000000")
		}
		return int32(i), nil
	}
	rps, r := count("limit-rps")
	if r != nil {
		return nil, r
	}
	rpm, r := count("limit-rpm")
	if r != nil {
		return nil, r
	}
	mult := int32(defaultBurstMultiplier)
	if v, ok := get("limit-burst-multiplier"); ok {
		m, r := count("limit-burst-multiplier")
		if r != nil || m < 1 || m > 100 {
			return nil, bad("limit-burst-multiplier", v, "is not a whole number from 1 to 100")
		}
		mult = m
	}
	var limits []flotillav1alpha1.Limit
	for _, l := range []struct {
		n    int32
		unit flotillav1alpha1.RateLimitUnit
	}{{rps, flotillav1alpha1.RateLimitSecond}, {rpm, flotillav1alpha1.RateLimitMinute}} {
		if l.n > 0 { // 0 is unset, as in ingress-nginx
			limits = append(limits, flotillav1alpha1.Limit{Requests: l.n, Unit: l.unit, Burst: ptr.To(l.n * mult)})
		}
	}
	exempt, r := cidrList("limit-whitelist")
	if r != nil {
		return nil, r
	}
	if len(limits) > 0 {
		p.spec.RateLimit = &flotillav1alpha1.RateLimit{Limits: limits, Key: flotillav1alpha1.RateLimitPerClient, Exempt: exempt}
	}

	// Basic authentication.
	if v, ok := get("auth-type"); ok {
		switch v {
		case "basic":
		case "digest":
			return nil, notSupported("auth-type", "digest authentication has no Envoy filter (basic is supported)")
		default:
			return nil, bad("auth-type", v, `is not "basic" or "digest"`)
		}
		s, ok := get("auth-secret")
		if !ok {
			return nil, bad("auth-type", v, "needs auth-secret")
		}
		sns, name, cross := strings.Cut(s, "/")
		if !cross {
			sns, name = ns, s
		}
		if !labelRE.MatchString(sns) || !hostRE.MatchString(name) {
			return nil, bad("auth-secret", s, "is not a Secret name or namespace/name")
		}
		if sns != ns {
			p.other["auth-secret"] = sns + "/" + name
		}
		ba := &flotillav1alpha1.BasicAuth{SecretRef: gwapiv1.SecretObjectReference{Name: gwapiv1.ObjectName(name), Namespace: ptr.To(gwapiv1.Namespace(sns))},
			Format: flotillav1alpha1.BasicAuthHTPasswd, Realm: defaultRealm}
		if t, ok := get("auth-secret-type"); ok {
			switch t {
			case "auth-file":
			case "auth-map":
				ba.Format = flotillav1alpha1.BasicAuthUserMap
			default:
				return nil, bad("auth-secret-type", t, `is not "auth-file" or "auth-map"`)
			}
		}
		if realm, ok := get("auth-realm"); ok {
			if len(realm) > 128 || strings.ContainsAny(realm, "\"\\\x7f") || !headerSafeSpaces(realm) {
				return nil, bad("auth-realm", realm, "is not a realm (at most 128 characters, no quotes, backslashes or control characters)")
			}
			ba.Realm = realm
		}
		p.spec.BasicAuth = ba
	}

	// External authorization (the oauth2-proxy flow).
	if v, ok := get("auth-url"); ok {
		ea, other, why := authURL(v, ns)
		if why != "" {
			return nil, urlRefusal("auth-url", v, why)
		}
		if other != "" {
			p.other["auth-url"] = other
		}
		if _, ok := get("auth-method"); ok {
			return nil, notSupported("auth-method", "Envoy sends the authorization check with the client's method (ingress-nginx's default), and cannot choose another")
		}
		if s, ok := get("auth-signin"); ok {
			if _, why := gatewayapi.SignInLocation(s); why != "" {
				return nil, bad("auth-signin", s, why)
			}
			ea.SignIn = ptr.To(s)
		}
		if hs, ok := get("auth-response-headers"); ok {
			for _, h := range strings.Split(hs, ",") {
				h = strings.TrimSpace(h)
				if !httpTokenRE.MatchString(h) {
					return nil, bad("auth-response-headers", hs, "is not a comma-separated list of header names")
				}
				ea.ResponseHeaders = append(ea.ResponseHeaders, gwapiv1.HTTPHeaderName(h))
			}
		}
		p.spec.ExternalAuth = ea
	} else {
		for _, n := range []string{"auth-signin", "auth-response-headers", "auth-method"} {
			if v, ok := get(n); ok {
				return nil, bad(n, v, "needs auth-url")
			}
		}
	}

	// Body size.
	if v, ok := get("proxy-body-size"); ok {
		n, ok := ParseSize(v)
		if !ok {
			return nil, bad("proxy-body-size", v, "is not a size (digits, then k, m or g)")
		}
		p.bodySize = &n
	}

	// Error pages: custom-http-errors are answered by the default-backend Service (Flotilla has no
	// controller-wide default backend), as is Envoy's own 503 when the Service has no endpoints.
	errs, hasErrs := get("custom-http-errors")
	backend, hasBackend := get("default-backend")
	if hasBackend && (len(validation.IsDNS1035Label(backend)) > 0) {
		return nil, bad("default-backend", backend, "is not a Service name (of the Ingress's namespace)")
	}
	if hasErrs && !hasBackend {
		return nil, notSupported("custom-http-errors", "needs default-backend: Flotilla has no controller-wide default backend to send the error pages to")
	}
	if hasBackend {
		ep := &flotillav1alpha1.ErrorPages{Codes: []int32{503}, Source: flotillav1alpha1.ErrorResponsesLocal,
			BackendRef: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(backend)}}
		if hasErrs {
			ep.Codes, ep.Source = nil, flotillav1alpha1.ErrorResponsesAll
			for _, c := range strings.Split(errs, ",") {
				c = strings.TrimSpace(c)
				code, err := strconv.Atoi(c)
				if err != nil || code < 400 || code > 599 || strconv.Itoa(code) != c {
					return nil, bad("custom-http-errors", errs, "is not a comma-separated list of error status codes (400-599)")
				}
				if !slices.Contains(ep.Codes, int32(code)) {
					ep.Codes = append(ep.Codes, int32(code))
				}
			}
			if !slices.Contains(ep.Codes, 503) {
				ep.Codes = append(ep.Codes, 503) // the default backend also answers for no endpoints
			}
			if len(ep.Codes) > 32 {
				return nil, bad("custom-http-errors", errs, "lists more than 32 codes")
			}
		}
		p.spec.ErrorPages = ep
	}

	// Mirroring: a copy of every request to a Service of the namespace, with the request's URI.
	if v, ok := get("mirror-target"); ok {
		b, why := mirrorTarget(v, ns)
		if why != "" {
			return nil, urlRefusal("mirror-target", v, why)
		}
		p.mirror = b
	}
	if v, ok := get("mirror-request-body"); ok {
		switch v {
		case "on":
		case "off":
			return nil, notSupported("mirror-request-body", "Envoy mirrors requests with their bodies")
		default:
			return nil, bad("mirror-request-body", v, `is not "on" or "off"`)
		}
	}
	if _, ok := get("mirror-host"); ok {
		return nil, notSupported("mirror-host", "Envoy sends the mirrored request with the request's own Host")
	}
	return p, nil
}

// mirrorTarget reads a mirror-target: http://<service>[.<namespace>[.svc[.cluster.local]]][:port]
// followed by $request_uri (the path as sent, which is what Envoy mirrors), the Service in the
// Ingress's namespace, port 80 by default. why says what is wrong, prefixed with "!" when it is
// not supported rather than invalid.
func mirrorTarget(v, ns string) (*gatewayapi.IngressBackend, string) {
	rest, ok := strings.CutSuffix(v, "$request_uri")
	rest = strings.TrimSuffix(rest, "/")
	if !ok || strings.Contains(rest, "$") {
		return nil, "!only a target ending in $request_uri can be mirrored (Envoy mirrors the request's own path)"
	}
	u, err := url.Parse(rest)
	if err != nil || u.Host == "" || u.User != nil || strings.ContainsAny(v, " \t") || u.RawQuery != "" || u.Fragment != "" {
		return nil, "is not an absolute URL followed by $request_uri"
	}
	if u.EscapedPath() != "" {
		return nil, "!a path before $request_uri cannot be mirrored (Envoy mirrors the request's own path)"
	}
	svc, sns, why := serviceOf(u, ns, "mirror targets", "Flotilla mirrors only to Services of the cluster")
	if why != "" {
		return nil, why
	}
	if sns != ns {
		return nil, "!the mirror Service must be in the Ingress's namespace"
	}
	port, ok := urlPort(u)
	if !ok {
		return nil, "has an invalid port"
	}
	return &gatewayapi.IngressBackend{Service: svc, Port: int32(port)}, ""
}

// serviceOf reads the Service an http URL's host names ("<svc>", "<svc>.<ns>",
// "<svc>.<ns>.svc", "<svc>.<ns>.svc.cluster.local"; ns when it names none). what names the URLs
// in the refusal of https, elsewhere says why other hosts are refused; why is prefixed with "!"
// when the URL is not supported rather than invalid.
func serviceOf(u *url.URL, ns, what, elsewhere string) (svc, sns, why string) {
	switch u.Scheme {
	case "http":
	case "https":
		return "", "", "!https " + what + " are not supported yet: name the Service's plain http port"
	default:
		return "", "", "is not an http URL"
	}
	host := strings.ToLower(u.Hostname())
	host = strings.TrimSuffix(strings.TrimSuffix(host, ".cluster.local"), ".svc")
	svc, sns, cross := strings.Cut(host, ".")
	if !cross {
		sns = ns
	}
	if !labelRE.MatchString(svc) || !labelRE.MatchString(sns) {
		return "", "", "!the host must name a Service (<service>.<namespace>.svc): " + elsewhere
	}
	return svc, sns, ""
}

// urlPort is the URL's port, 80 when it names none; false when it is not a port number.
func urlPort(u *url.URL) (int, bool) {
	p := u.Port()
	if p == "" {
		return 80, true
	}
	port, err := strconv.Atoi(p)
	return port, err == nil && port >= 1 && port <= 65535
}

// mirrorBackend is the Service mirror-target names; nil for none.
func (p *protections) mirrorBackend() *gatewayapi.IngressBackend {
	if p == nil {
		return nil
	}
	return p.mirror
}

func headerSafeSpaces(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// authURL reads an auth-url: an http URL whose host names a Service ("<svc>", "<svc>.<ns>",
// "<svc>.<ns>.svc", "<svc>.<ns>.svc.cluster.local"), port 80 by default. other is the Service's
// "ns/name" when it is of another namespace; why says what is wrong, prefixed with "!" when it
// is not supported rather than invalid.
func authURL(v, ns string) (ea *flotillav1alpha1.ExternalAuth, other, why string) {
	if strings.Contains(v, "$") {
		return nil, "", "!variables ($host...) are not supported: name the authorization Service, e.g. http://oauth2-proxy.auth.svc:4180/oauth2/auth"
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || strings.ContainsAny(v, " \t") {
		return nil, "", "is not an absolute URL"
	}
	svc, sns, why := serviceOf(u, ns, "authorization services", "Flotilla does not send authorization checks to other hosts")
	if why != "" {
		return nil, "", why
	}
	port, ok := urlPort(u)
	if !ok {
		return nil, "", "has an invalid port"
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	if sns != ns {
		other = sns + "/" + svc
	}
	return &flotillav1alpha1.ExternalAuth{Protocol: flotillav1alpha1.ExternalAuthHTTP, Path: &path,
		BackendRef: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(svc), Namespace: ptr.To(gwapiv1.Namespace(sns)), Port: ptr.To(gwapiv1.PortNumber(port))}}, other, ""
}

// ProtectionReferences are "namespace/name" of the Services an Ingress's auth-url and
// default-backend name and of the Secret its auth-secret names (none when unset or unparsable),
// for the controller's indexes.
func ProtectionReferences(ns string, annotations map[string]string) (services []string, secret string) {
	for k, v := range annotations {
		switch {
		case strings.HasSuffix(k, "/auth-url"):
			if ea, _, why := authURL(v, ns); why == "" {
				services = append(services, string(*ea.BackendRef.Namespace)+"/"+string(ea.BackendRef.Name))
			}
		case strings.HasSuffix(k, "/mirror-target"):
			if b, why := mirrorTarget(v, ns); why == "" {
				services = append(services, ns+"/"+b.Service)
			}
		case strings.HasSuffix(k, "/default-backend"):
			if len(validation.IsDNS1035Label(v)) == 0 {
				services = append(services, ns+"/"+v)
			}
		case strings.HasSuffix(k, "/auth-secret"):
			if sns, name, ok := strings.Cut(v, "/"); ok {
				secret = sns + "/" + name
			} else {
				secret = ns + "/" + v
			}
		}
	}
	return services, secret
}

// filterSpec is the Ingress's RouteFilter: its protections with the class's default body size
// (ingress-nginx's 1m unless the class says otherwise); nil when it asks for nothing.
func (p *protections) filterSpec(c *Class) *flotillav1alpha1.RouteFilterSpec {
	spec := flotillav1alpha1.RouteFilterSpec{}
	if p != nil {
		spec = p.spec
	}
	size := c.defaultBodySize()
	if p != nil && p.bodySize != nil {
		size = *p.bodySize
	}
	if size > 0 {
		spec.RequestBody = &flotillav1alpha1.RequestBody{MaxSize: *apiresource.NewQuantity(size, apiresource.BinarySI)}
	}
	if spec.RateLimit != nil {
		rl := *spec.RateLimit
		rl.StatusCode = c.limitStatus()
		spec.RateLimit = &rl
	}
	if spec == (flotillav1alpha1.RouteFilterSpec{}) {
		return nil
	}
	return &spec
}

// defaultBodySize is the class's proxyBodySize in bytes (0: unlimited).
func (c *Class) defaultBodySize() int64 {
	v := "1m"
	if c.Spec.ProxyBodySize != nil {
		v = *c.Spec.ProxyBodySize
	}
	n, ok := ParseSize(v)
	if !ok {
		return 1 << 20
	}
	return n
}

// crossNamespace says which annotation names another namespace's object the class does not allow.
func (p *protections) crossNamespace(c *Class) (annotation, ref string) {
	if p == nil || c.Spec.AllowCrossNamespaceReferences {
		return "", ""
	}
	for _, n := range []string{"auth-secret", "auth-url"} {
		if r, ok := p.other[n]; ok {
			return n, r
		}
	}
	return "", ""
}

// limitStatus is the class's limitStatusCode (ingress-nginx's limit-req-status-code, 503).
func (c *Class) limitStatus() int32 {
	if c.Spec.LimitStatusCode != nil {
		return *c.Spec.LimitStatusCode
	}
	return 503
}
