package ingress

import (
	"strings"
	"testing"
)

// Every annotation value is parsed strictly: a bad one refuses the Ingress with a reason naming
// the annotation; snippets and annotations not implemented refuse it too.
func TestParseAnnotations(t *testing.T) {
	const p = "nginx.ingress.kubernetes.io"
	cases := []struct {
		name, value string
		reason      string // "" when accepted
	}{
		{"use-regex", "true", ""}, {"use-regex", "True", ReasonInvalidAnnotation}, {"use-regex", "1", ReasonInvalidAnnotation},
		{"ssl-redirect", "false", ""}, {"ssl-redirect", "no", ReasonInvalidAnnotation},
		{"force-ssl-redirect", "true", ""},
		{"rewrite-target", "/$1", ""}, {"rewrite-target", "", ReasonInvalidAnnotation}, {"rewrite-target", "/a b", ReasonInvalidAnnotation},
		{"rewrite-target", "/a\nb", ReasonInvalidAnnotation},
		{"app-root", "/app", ""}, {"app-root", "app", ReasonInvalidAnnotation}, {"app-root", "//evil.example.com", ReasonInvalidAnnotation},
		{"permanent-redirect", "https://x.example.com/a?b=c", ""}, {"permanent-redirect", "ftp://x", ReasonInvalidAnnotation},
		{"permanent-redirect", "/relative", ReasonInvalidAnnotation}, {"permanent-redirect", "https://user@x.example.com/", ReasonInvalidAnnotation},
		{"temporal-redirect", "http://x.example.com:8080/", ""}, {"temporal-redirect", "http://x.example.com:0/", ReasonInvalidAnnotation},
		{"backend-protocol", "grpcs", ""}, {"backend-protocol", "FCGI", ReasonAnnotationNotSupported},
		{"backend-protocol", "AUTO_HTTP", ReasonAnnotationNotSupported}, {"backend-protocol", "SMTP", ReasonInvalidAnnotation},
		{"proxy-read-timeout", "3600", ""}, {"proxy-read-timeout", "60s", ReasonInvalidAnnotation}, {"proxy-read-timeout", "-1", ReasonInvalidAnnotation},
		{"proxy-read-timeout", "86401", ReasonInvalidAnnotation}, {"proxy-connect-timeout", "5", ""}, {"proxy-connect-timeout", "0", ReasonInvalidAnnotation}, {"proxy-send-timeout", "1m", ReasonInvalidAnnotation},
		{"upstream-vhost", "api.internal:8080", ""}, {"upstream-vhost", "a/b", ReasonInvalidAnnotation},
		{"x-forwarded-prefix", "/p", ""},
		{"load-balance", "round_robin", ""}, {"load-balance", "ewma", ""}, {"load-balance", "random", ReasonInvalidAnnotation},
		{"load-balance", "EWMA", ReasonInvalidAnnotation}, {"load-balance", "chash", ReasonAnnotationNotSupported},
		// CORS: ingress-nginx's syntax, strictly.
		{"enable-cors", "true", ""}, {"enable-cors", "yes", ReasonInvalidAnnotation}, {"cors-allow-credentials", "false", ""},
		{"cors-allow-credentials", "0", ReasonInvalidAnnotation},
		{"cors-allow-origin", "https://a.example.com, https://*.example.org:8443, null", ""}, {"cors-allow-origin", "*", ""},
		{"cors-allow-origin", "https://a.example.com,", ""}, {"cors-allow-origin", "myapp://*.local", ""},
		{"cors-allow-origin", "a.example.com", ReasonInvalidAnnotation}, {"cors-allow-origin", "https://a.*.example.com", ReasonInvalidAnnotation},
		{"cors-allow-origin", "https://**.example.com", ReasonInvalidAnnotation}, {"cors-allow-origin", "https://a.example.com/path", ReasonInvalidAnnotation},
		{"cors-allow-origin", "", ReasonInvalidAnnotation}, {"cors-allow-origin", " , ", ReasonInvalidAnnotation},
		{"cors-allow-origin", "https://$host", ReasonInvalidAnnotation},
		{"cors-allow-methods", "GET, POST", ""}, {"cors-allow-methods", "GET;POST", ReasonInvalidAnnotation},
		{"cors-allow-headers", "X-Forwarded-For, X-App_Id", ""}, {"cors-allow-headers", "X-A:b", ReasonInvalidAnnotation},
		{"cors-expose-headers", "*, X-Custom", ""}, {"cors-expose-headers", "X-$pid", ReasonInvalidAnnotation},
		{"cors-max-age", "600", ""}, {"cors-max-age", "-1", ReasonInvalidAnnotation}, {"cors-max-age", "10m", ReasonInvalidAnnotation},
		{"cors-max-age", "9999999999", ReasonInvalidAnnotation},
		// Affinity: cookie, balanced; persistent refused.
		{"affinity", "cookie", ""}, {"affinity", "Cookie", ReasonInvalidAnnotation}, {"affinity", "ip", ReasonInvalidAnnotation},
		{"affinity-mode", "balanced", ""}, {"affinity-mode", "persistent", ReasonAnnotationNotSupported}, {"affinity-mode", "sticky", ReasonInvalidAnnotation},
		{"session-cookie-name", "route", ""}, {"session-cookie-name", "a;b", ReasonInvalidAnnotation}, {"session-cookie-name", "a b", ReasonInvalidAnnotation},
		{"session-cookie-path", "/app", ""}, {"session-cookie-path", "/a;Domain=evil", ReasonInvalidAnnotation}, {"session-cookie-path", "app", ReasonInvalidAnnotation},
		{"session-cookie-max-age", "172800", ""}, {"session-cookie-max-age", "-1", ReasonInvalidAnnotation}, {"session-cookie-max-age", "1h", ReasonInvalidAnnotation},
		{"session-cookie-expires", "3600", ""}, {"session-cookie-expires", "31536001", ReasonInvalidAnnotation},
		{"session-cookie-max-age", "31536000", ""}, {"upstream-hash-by", "$http_X_User_Id", ""},
		{"session-cookie-samesite", "Lax", ""}, {"session-cookie-samesite", "none", ""}, {"session-cookie-samesite", "Relaxed", ReasonInvalidAnnotation},
		{"session-cookie-secure", "true", ReasonAnnotationNotSupported}, {"session-cookie-change-on-failure", "true", ReasonAnnotationNotSupported},
		// upstream-hash-by: one variable.
		{"upstream-hash-by", "$request_uri", ""}, {"upstream-hash-by", "$binary_remote_addr", ""}, {"upstream-hash-by", "$remote_addr", ""},
		{"upstream-hash-by", "$host", ""}, {"upstream-hash-by", "$http_x_user_id", ""}, {"upstream-hash-by", "$cookie_session", ""},
		{"upstream-hash-by", "$arg_tenant", ""},
		{"upstream-hash-by", "$request_uri$host", ReasonAnnotationNotSupported}, {"upstream-hash-by", "$host-$remote_addr", ReasonAnnotationNotSupported},
		{"upstream-hash-by", "$uri", ReasonAnnotationNotSupported}, {"upstream-hash-by", "$http_", ReasonAnnotationNotSupported},
		{"upstream-hash-by", "request_uri", ReasonInvalidAnnotation}, {"upstream-hash-by", "", ReasonInvalidAnnotation},
		{"upstream-hash-by-subset", "true", ReasonAnnotationNotSupported},
		{"configuration-snippet", "", ReasonSnippetRefused}, {"server-snippet", "x", ReasonSnippetRefused},
		{"auth-snippet", "x", ReasonSnippetRefused}, {"stream-snippet", "x", ReasonSnippetRefused}, {"modsecurity-snippet", "x", ReasonSnippetRefused},
		// Access, limits, auth and body size (the Ingress's RouteFilter).
		{"whitelist-source-range", "10.0.0.0/8, 192.168.1.7", ""}, {"allowlist-source-range", "2001:db8::/32", ""},
		{"whitelist-source-range", "10.0.0.0/33", ReasonInvalidAnnotation}, {"denylist-source-range", "10.0.0.0/8,nope", ReasonInvalidAnnotation},
		{"denylist-source-range", "", ReasonInvalidAnnotation},
		{"limit-rps", "5", ""}, {"limit-rpm", "300", ""}, {"limit-rps", "0", ""}, {"limit-rps", "-1", ReasonInvalidAnnotation},
		{"limit-rps", "5r/s", ReasonInvalidAnnotation}, {"limit-burst-multiplier", "0", ReasonInvalidAnnotation}, {"limit-burst-multiplier", "3", ""},
		{"limit-whitelist", "10.0.0.0/8", ""}, {"limit-whitelist", "ten", ReasonInvalidAnnotation},
		{"limit-connections", "10", ReasonAnnotationNotSupported}, {"limit-rate", "100", ReasonAnnotationNotSupported},
		{"auth-type", "basic", ReasonInvalidAnnotation}, // without auth-secret
		{"auth-type", "digest", ReasonAnnotationNotSupported},
		{"auth-url", "http://oauth2-proxy.auth.svc.cluster.local:4180/oauth2/auth", ""}, {"auth-url", "http://oauth2-proxy/oauth2/auth?x=1", ""},
		{"auth-url", "https://auth.example.com/", ReasonAnnotationNotSupported}, {"auth-url", "http://auth.example.com/", ReasonAnnotationNotSupported},
		{"auth-url", "https://$host/oauth2/auth", ReasonAnnotationNotSupported}, {"auth-url", "oauth2-proxy", ReasonInvalidAnnotation},
		{"auth-url", "ftp://a.b/", ReasonInvalidAnnotation}, {"auth-signin", "https://a.example.com/start", ReasonInvalidAnnotation}, // without auth-url
		{"auth-method", "GET", ReasonInvalidAnnotation}, {"auth-cache-key", "x", ReasonAnnotationNotSupported},
		{"proxy-body-size", "8m", ""}, {"proxy-body-size", "0", ""}, {"proxy-body-size", "1024", ""}, {"proxy-body-size", "8mb", ReasonInvalidAnnotation},
		{"proxy-body-size", "-1", ReasonInvalidAnnotation}, {"client-body-buffer-size", "16k", ""},
		{"canary", "true", ""}, {"canary", "false", ""}, {"canary", "True", ReasonInvalidAnnotation}, {"canary", "yes", ReasonInvalidAnnotation},
		// The rest of the family only on a canary (canary "true" is added for the name, below).
		{"canary-by-header", "X-Canary", ""}, {"canary-by-header", "X Canary", ReasonInvalidAnnotation},
		{"canary-by-header", "x:canary", ReasonInvalidAnnotation}, {"canary-by-header", "é", ReasonInvalidAnnotation},
		{"canary-by-cookie", "Canary-By-Cookie", ""}, {"canary-by-cookie", "a=b", ReasonInvalidAnnotation},
		{"canary-by-cookie", "a;b", ReasonInvalidAnnotation}, {"canary-by-cookie", strings.Repeat("c", 600), ReasonInvalidAnnotation},
		{"canary-weight", "0", ""}, {"canary-weight", "100", ""}, {"canary-weight", "101", ReasonInvalidAnnotation},
		{"canary-weight", "-1", ReasonInvalidAnnotation}, {"canary-weight", "10%", ReasonInvalidAnnotation}, {"canary-weight", "1.5", ReasonInvalidAnnotation},
		{"canary-weight-total", "1000000", ""}, {"canary-weight-total", "1", ""}, {"canary-weight-total", "0", ReasonInvalidAnnotation},
		{"canary-weight-total", "1000001", ReasonInvalidAnnotation}, {"canary-weight-total", "+5", ReasonInvalidAnnotation},
		{"made-up", "x", ""},
		{"proxy-ssl-verify", "off", ""}, {"proxy-ssl-verify", "on", ReasonInvalidAnnotation}, {"proxy-ssl-verify", "true", ReasonInvalidAnnotation},
		{"proxy-ssl-secret", "ns/name", ""}, {"proxy-ssl-secret", "a/b/c", ReasonInvalidAnnotation}, {"proxy-ssl-secret", "Bad_Name", ReasonInvalidAnnotation},
		{"proxy-ssl-name", "vault.internal", ""}, {"proxy-ssl-name", "a b", ReasonInvalidAnnotation},
		{"proxy-ssl-server-name", "on", ""}, {"proxy-ssl-verify-depth", "2", ""}, {"proxy-ssl-verify-depth", "11", ReasonInvalidAnnotation},
		{"proxy-ssl-ciphers", "HIGH", ReasonAnnotationNotSupported},
		{"server-alias", "a.example.com, *.b.example.com", ""}, {"server-alias", "a..b", ReasonInvalidAnnotation},
		{"service-upstream", "true", ""}, {"ssl-passthrough", "yes", ReasonInvalidAnnotation},
	}
	for _, c := range cases {
		t.Run(c.name+"="+c.value, func(t *testing.T) {
			all := map[string]string{p + "/" + c.name: c.value, "other.example.com/x": "y"}
			if strings.HasPrefix(c.name, "canary-") {
				all[p+"/canary"] = "true"
			}
			_, r := parseAnnotations(all, p, "default")
			switch {
			case c.reason == "" && r != nil:
				t.Errorf("refused (%s): %s", r.reason, r.msg)
			case c.reason != "" && r == nil:
				t.Errorf("accepted, want %s", c.reason)
			case r != nil && (r.reason != c.reason || !strings.Contains(r.msg, p+"/"+c.name)):
				t.Errorf("refused with %s %q, want %s naming the annotation", r.reason, r.msg, c.reason)
			}
		})
	}
	// Canary combinations: the header's value and pattern, the weight against its total, the family
	// without canary "true", and what a canary ignores.
	for _, c := range []struct {
		all    map[string]string
		reason string
	}{
		{map[string]string{"canary": "true", "canary-by-header": "X-Canary", "canary-by-header-pattern": "^Do[A-Z][a-z]+y$"}, ""},
		{map[string]string{"canary": "true", "canary-by-header": "X-Canary", "canary-by-header-pattern": "[][**da?$&*"}, ReasonInvalidAnnotation},
		{map[string]string{"canary": "true", "canary-by-header": "X-Canary", "canary-by-header-pattern": "(?=x)"}, ReasonInvalidAnnotation}, // PCRE only
		{map[string]string{"canary": "true", "canary-by-header": "X-Canary", "canary-by-header-pattern": "a)|(b"}, ReasonInvalidAnnotation},
		{map[string]string{"canary": "true", "canary-by-header": "X-Canary", "canary-by-header-pattern": "(a{1,1000}){1,1000}"}, ReasonInvalidAnnotation},
		// The value takes precedence: the pattern is not read (ingress-nginx), so not refused.
		{map[string]string{"canary": "true", "canary-by-header": "X-Canary", "canary-by-header-value": "yes", "canary-by-header-pattern": "(?=x)"}, ""},
		{map[string]string{"canary": "true", "canary-weight": "1000", "canary-weight-total": "1000"}, ""},
		{map[string]string{"canary": "true", "canary-weight": "1001", "canary-weight-total": "1000"}, ReasonInvalidAnnotation},
		{map[string]string{"canary": "false", "canary-weight": "10"}, ReasonInvalidAnnotation},
		{map[string]string{"canary-by-header": "X-Canary"}, ReasonInvalidAnnotation},
		// On a canary, annotations of the primary's location are ignored, even those not
		// implemented; snippets are still refused, load-balance still parsed.
		{map[string]string{"canary": "true", "rewrite-target": "", "whitelist-source-range": "x", "made-up": "y"}, ""},
		{map[string]string{"canary": "true", "service-upstream": "maybe", "proxy-ssl-secret": "other/secret", "server-alias": "x y"}, ""},
		{map[string]string{"canary": "true", "configuration-snippet": "x"}, ReasonSnippetRefused},
		{map[string]string{"canary": "true", "load-balance": "random"}, ReasonInvalidAnnotation},
		{map[string]string{"canary": "true", "upstream-hash-by": "$request_uri"}, ""},
		{map[string]string{"canary": "true", "upstream-hash-by": "$request_uri$host"}, ReasonAnnotationNotSupported},
	} {
		all := map[string]string{}
		for k, v := range c.all {
			all[p+"/"+k] = v
		}
		a, r := parseAnnotations(all, p, "default")
		switch {
		case c.reason == "" && r != nil:
			t.Errorf("%v: refused (%s): %s", c.all, r.reason, r.msg)
		case c.reason != "" && r == nil:
			t.Errorf("%v: accepted, want %s", c.all, c.reason)
		case r != nil && r.reason != c.reason:
			t.Errorf("%v: refused with %s %q, want %s", c.all, r.reason, r.msg, c.reason)
		case r == nil && c.all["canary"] == "true" && a.canary == nil:
			t.Errorf("%v: not a canary", c.all)
		}
	}
	// A different prefix: the nginx annotations are not ours to read.
	if _, r := parseAnnotations(map[string]string{p + "/configuration-snippet": "x"}, "example.com", "default"); r != nil {
		t.Errorf("an annotation of another prefix refused the Ingress: %s", r.msg)
	}
}

// The parsed values: ingress-nginx's CORS defaults, the affinity cookie, the hash variable.
func TestParsePolicies(t *testing.T) {
	const p = "nginx.ingress.kubernetes.io/"
	a, r := parseAnnotations(map[string]string{p + "enable-cors": "true"}, "nginx.ingress.kubernetes.io", "default")
	if r != nil || a.cors == nil {
		t.Fatalf("enable-cors: %v", r)
	}
	if c := a.cors; strings.Join(c.AllowOrigins, ",") != "*" || c.AllowCredentials || c.MaxAge != 1728000 || !c.LabelWildcard ||
		strings.Join(c.AllowMethods, ",") != "GET,PUT,POST,DELETE,PATCH,OPTIONS" ||
		strings.Join(c.AllowHeaders, ",") != "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization" {
		t.Errorf("defaults: %+v (credentials are not allowed with origin *: see parseCORS)", c)
	}
	a, _ = parseAnnotations(map[string]string{p + "enable-cors": "true", p + "cors-allow-origin": "https://a.example.com, *, https://b.example.com"}, "nginx.ingress.kubernetes.io", "default")
	if strings.Join(a.cors.AllowOrigins, ",") != "*" {
		t.Errorf("a * in the list admits every origin: %v", a.cors.AllowOrigins)
	}
	a, _ = parseAnnotations(map[string]string{p + "enable-cors": "true", p + "cors-allow-origin": "https://a.example.com,https://*.example.org"}, "nginx.ingress.kubernetes.io", "default")
	if strings.Join(a.cors.AllowOrigins, ",") != "https://a.example.com,https://*.example.org" || !a.cors.AllowCredentials {
		t.Errorf("origin list: %+v", a.cors)
	}
	a, _ = parseAnnotations(map[string]string{p + "cors-allow-origin": "https://a.example.com"}, "nginx.ingress.kubernetes.io", "default")
	if a.cors != nil {
		t.Errorf("cors-* without enable-cors: %+v", a.cors)
	}
	a, _ = parseAnnotations(map[string]string{p + "affinity": "cookie", p + "session-cookie-expires": "60", p + "session-cookie-max-age": "120",
		p + "session-cookie-samesite": "strict"}, "nginx.ingress.kubernetes.io", "default")
	if af := a.affinity; af == nil || *af != (affinity{cookie: "INGRESSCOOKIE", maxAge: 120, sameSite: "Strict"}) {
		t.Errorf("affinity: %+v", a.affinity)
	}
	a, _ = parseAnnotations(map[string]string{p + "upstream-hash-by": "$http_x_user_id"}, "nginx.ingress.kubernetes.io", "default")
	if a.hashBy == nil || a.hashBy.Header != "x-user-id" {
		t.Errorf("upstream-hash-by: %+v", a.hashBy)
	}
}
