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
		{"canary", "true", ReasonAnnotationNotSupported}, {"enable-cors", "true", ReasonAnnotationNotSupported},
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
			_, r := parseAnnotations(map[string]string{p + "/" + c.name: c.value, "other.example.com/x": "y"}, p)
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
	// A different prefix: the nginx annotations are not ours to read.
	if _, r := parseAnnotations(map[string]string{p + "/configuration-snippet": "x"}, "example.com"); r != nil {
		t.Errorf("an annotation of another prefix refused the Ingress: %s", r.msg)
	}
}
