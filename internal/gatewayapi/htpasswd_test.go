package gatewayapi

import (
	"strings"
	"testing"
)

// Only SHA-1 hashes reach Envoy; every other form, plain text and malformed lines refuse the
// Secret with a reason naming the user.
func TestParseHTPasswd(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		count    int
		invalid  string
	}{
		{"sha", "# team a\nbob:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=\r\nalice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n\n", 2, ""},
		{"bcrypt", "alice:$2y$05$Q3IuvdOQxXAz1qWq2y8yIO7f6xqv5m9mI5J3T1z1u5K6kZ5m1m1m2", 0, "user alice: bcrypt hashes cannot be checked by Envoy"},
		{"apr1", "alice:$apr1$abc$def", 0, "Apache MD5"},
		{"plain", "alice:secret", 0, "not hashed"},
		{"bad sha", "alice:{SHA}bm90IGEgZGlnZXN0", 0, "not the base64 of a SHA-1 digest"},
		{"no colon", "alice", 0, "line 1 is not user:hash"},
		{"twice", "a:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\na:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", 0, "listed twice"},
		{"empty", "# nobody\n", 0, "no users"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := ParseHTPasswd([]byte(tc.in))
			if tc.invalid != "" {
				if !strings.Contains(u.Invalid, tc.invalid) || u.Text != "" {
					t.Fatalf("got %+v, want Invalid containing %q", u, tc.invalid)
				}
				return
			}
			if u.Invalid != "" || u.Count != tc.count || !strings.HasPrefix(u.Text, "alice:") {
				t.Fatalf("got %+v", u)
			}
		})
	}
}

// A user map is recognised only when every value is a password hash.
func TestParseUserMap(t *testing.T) {
	if u, ok := ParseUserMap(map[string][]byte{"alice": []byte("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n")}); !ok || u.Invalid != "" || u.Count != 1 {
		t.Errorf("user map: %+v %v", u, ok)
	}
	if _, ok := ParseUserMap(map[string][]byte{"alice": []byte("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="), "note": []byte("hello")}); ok {
		t.Error("a Secret with a value that is no hash was taken for a user map")
	}
	if u, ok := ParseUserMap(map[string][]byte{"carol": []byte("$2y$05$abc")}); !ok || !strings.Contains(u.Invalid, "bcrypt") {
		t.Errorf("bcrypt user map: %+v %v", u, ok)
	}
}

// Sign-in URLs: ingress-nginx's variables become Envoy's request operators, rd is appended
// unless present, and a literal % is escaped.
func TestSignInLocation(t *testing.T) {
	for in, want := range map[string]string{
		"https://$host/oauth2/start?rd=$escaped_request_uri": "https://%REQ(:authority)%/oauth2/start?rd=%REQ(:path)%",
		"https://auth.example.com/oauth2/start":              "https://auth.example.com/oauth2/start?rd=%REQ(:scheme)%://%REQ(:authority)%%REQ(:path)%",
		"https://auth.example.com/start?x=100%":              "https://auth.example.com/start?x=100%%&rd=%REQ(:scheme)%://%REQ(:authority)%%REQ(:path)%",
	} {
		if got, bad := SignInLocation(in); bad != "" || got != want {
			t.Errorf("%s: %q (%s), want %q", in, got, bad, want)
		}
	}
	for _, in := range []string{"ftp://x/", "https://$remote_addr/", "https://a b/"} {
		if _, bad := SignInLocation(in); bad == "" {
			t.Errorf("%s was accepted", in)
		}
	}
}
