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
		{"proxy-read-timeout", "86401", ReasonInvalidAnnotation}, {"proxy-send-timeout", "1m", ReasonInvalidAnnotation},
		{"upstream-vhost", "api.internal:8080", ""}, {"upstream-vhost", "a/b", ReasonInvalidAnnotation},
		{"x-forwarded-prefix", "/p", ""},
		{"load-balance", "round_robin", ""}, {"load-balance", "ewma", ReasonAnnotationNotSupported}, {"load-balance", "random", ReasonInvalidAnnotation},
		{"configuration-snippet", "", ReasonSnippetRefused}, {"server-snippet", "x", ReasonSnippetRefused},
		{"auth-snippet", "x", ReasonSnippetRefused}, {"stream-snippet", "x", ReasonSnippetRefused}, {"modsecurity-snippet", "x", ReasonSnippetRefused},
		{"whitelist-source-range", "10.0.0.0/8", ReasonAnnotationNotSupported}, {"limit-rps", "5", ReasonAnnotationNotSupported},
		{"auth-url", "https://auth.example.com/", ReasonAnnotationNotSupported}, {"proxy-body-size", "8m", ReasonAnnotationNotSupported},
		{"enable-cors", "true", ReasonAnnotationNotSupported},
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
			_, r := parseAnnotations(all, p)
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
		{map[string]string{"canary": "true", "upstream-hash-by": "$request_uri"}, ReasonAnnotationNotSupported},
	} {
		all := map[string]string{}
		for k, v := range c.all {
			all[p+"/"+k] = v
		}
		a, r := parseAnnotations(all, p)
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
	if _, r := parseAnnotations(map[string]string{p + "/configuration-snippet": "x"}, "example.com"); r != nil {
		t.Errorf("an annotation of another prefix refused the Ingress: %s", r.msg)
	}
}
