package gatewayapi

import (
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestIntersectHostname(t *testing.T) {
	for _, tc := range []struct {
		listener, route, want string
		ok                    bool
	}{
		{"", "foo.example.com", "foo.example.com", true},
		{"foo.example.com", "foo.example.com", "foo.example.com", true},
		{"*.example.com", "foo.example.com", "foo.example.com", true},
		{"*.example.com", "a.b.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", "", false},
		{"*.example.com", "*.example.com", "*.example.com", true},
		{"*.example.com", "*.b.example.com", "*.b.example.com", true},
		{"foo.example.com", "*.example.com", "foo.example.com", true},
		{"*.b.example.com", "*.example.com", "*.b.example.com", true},
		{"foo.example.com", "bar.example.com", "", false},
		{"example.com", "*.example.com", "", false},
		{"*.example.com", "fooexample.com", "", false},
	} {
		got, ok := intersectHostname(tc.listener, tc.route)
		if got != tc.want || ok != tc.ok {
			t.Errorf("intersectHostname(%q, %q) = %q, %v; want %q, %v", tc.listener, tc.route, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSecretInfoFrom(t *testing.T) {
	crt, _ := os.ReadFile("testdata/tls.crt")
	key, _ := os.ReadFile("testdata/tls.key")
	meta := metav1.ObjectMeta{Namespace: "ns", Name: "s"}
	for name, tc := range map[string]struct {
		data map[string][]byte
		want bool
	}{
		"valid":          {map[string][]byte{"tls.crt": crt, "tls.key": key}, true},
		"no key":         {map[string][]byte{"tls.crt": crt}, false},
		"key as cert":    {map[string][]byte{"tls.crt": key, "tls.key": key}, false},
		"garbage":        {map[string][]byte{"tls.crt": []byte("x"), "tls.key": []byte("y")}, false},
		"cert as key":    {map[string][]byte{"tls.crt": crt, "tls.key": crt}, false},
		"empty (opaque)": {nil, false},
	} {
		got := SecretInfoFrom(&corev1.Secret{ObjectMeta: meta, Data: tc.data})
		if got.ValidTLS != tc.want || got.Namespace != "ns" || got.Name != "s" {
			t.Errorf("%s: got %+v, want ValidTLS %v", name, got, tc.want)
		}
	}
}
