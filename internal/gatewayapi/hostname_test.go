package gatewayapi

import (
	"fmt"
	"os"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
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

// Until the data plane terminates TLS for TLSRoutes, a TLS listener in mode Terminate is not
// accepted and carries no route kinds (conformance: TLSRouteListenerTerminateNotSupported).
func TestTLSTerminateListenerNotSupported(t *testing.T) {
	mode := gwapiv1.TLSModeTerminate
	gw := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "gw", Generation: 1},
		Spec: gwapiv1.GatewaySpec{Listeners: []gwapiv1.Listener{{Name: "tls", Port: 443, Protocol: gwapiv1.TLSProtocolType,
			TLS: &gwapiv1.ListenerTLSConfig{Mode: &mode, CertificateRefs: []gwapiv1.SecretObjectReference{{Name: "cert"}}}}}}}
	res := Resolve(Input{Gateway: gw, ControllerName: "gateway.flotilla.dev/controller"})
	l := res.Listeners[0]
	c := meta.FindStatusCondition(l.Conditions, string(gwapiv1.ListenerConditionAccepted))
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != string(gwapiv1.ListenerReasonUnsupportedValue) || len(l.SupportedKinds) != 0 {
		t.Fatalf("listener %+v", l)
	}
	res = Resolve(Input{Gateway: gw, ControllerName: "gateway.flotilla.dev/controller", TLSTerminate: true})
	if len(res.Listeners[0].SupportedKinds) != 1 {
		t.Fatalf("with TLSTerminate the listener carries TLSRoute: %+v", res.Listeners[0])
	}
}

// The reference keys default namespaces and filter kinds the way Resolve reads references.
func TestReferenceKeys(t *testing.T) {
	ns := gwapiv1.Namespace("other")
	ls, svcKind, secret := gwapiv1.Kind("ListenerSet"), gwapiv1.Kind("Service"), gwapiv1.Kind("Secret")
	other := gwapiv1.Group("example.com")
	for _, c := range []struct{ got, want string }{
		{ParentKey("apps", gwapiv1.ParentReference{Name: "gw"}), "Gateway/apps/gw"},
		{ParentKey("apps", gwapiv1.ParentReference{Name: "gw", Namespace: &ns}), "Gateway/other/gw"},
		{ParentKey("apps", gwapiv1.ParentReference{Name: "set", Kind: &ls}), "ListenerSet/apps/set"},
		{ParentKey("apps", gwapiv1.ParentReference{Name: "x", Group: &other}), ""},
		{ServiceKey("apps", gwapiv1.BackendObjectReference{Name: "web"}), "apps/web"},
		{ServiceKey("apps", gwapiv1.BackendObjectReference{Name: "web", Kind: &svcKind, Namespace: &ns}), "other/web"},
		{ServiceKey("apps", gwapiv1.BackendObjectReference{Name: "web", Group: &other}), ""},
		{PoolKey("apps", gwapiv1.BackendObjectReference{Name: "p", Group: ptrTo(groupInference), Kind: ptrTo(kindInferencePool)}), "apps/p"},
		{PoolKey("apps", gwapiv1.BackendObjectReference{Name: "web"}), ""},
		{SecretKey("apps", gwapiv1.SecretObjectReference{Name: "tls", Kind: &secret}), "apps/tls"},
		{AncestorKey("apps", gwapiv1.ParentReference{Name: "gw", Namespace: &ns}), "other/gw"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// The index of a large port finds the same owners as the linear search, for exact, wildcard and
// catch-all listener hostnames and domains under, beside and above them.
func TestPortIndexOwnerIsOwner(t *testing.T) {
	hosts := []string{"", "*.example.com", "*.foo.example.com", "abc.foo.example.com", "example.com", "*.com", "a.b.c.example.org"}
	for i := range 20 {
		hosts = append(hosts, fmt.Sprintf("team-%d.example.net", i), fmt.Sprintf("*.t%d.example.com", i))
	}
	var ls []*listener
	for _, h := range hosts {
		ls = append(ls, &listener{hostname: h})
	}
	indexPort(ls)
	if ls[0].idx == nil {
		t.Fatal("a port of many listeners is not indexed: the test would compare the linear search with itself")
	}
	domains := []string{"*", "x.example.com", "x.foo.example.com", "abc.foo.example.com", "*.foo.example.com", "*.bar.foo.example.com",
		"example.com", "*.example.com", "x.y.example.com", "other.org", "a.b.c.example.org", "*.example.org", "team-3.example.net",
		"x.t7.example.com", "*.t7.example.com", "t7.example.com", "com", "*.net"}
	for _, d := range domains {
		var want *listener
		for _, l := range ls { // the linear search, as owner does without an index
			if hostnameMatches(l.hostname, d) && (want == nil || specificity(l.hostname) > specificity(want.hostname)) {
				want = l
			}
		}
		if got := owner(ls, d); got != want {
			t.Errorf("owner(%q) = %v, want %v", d, got, want)
		}
	}
	for _, l := range ls {
		want := slices.ContainsFunc(ls, func(o *listener) bool { return o != l && hostnameMatches(o.hostname, l.hostname) })
		if got := lessSpecificListener(l, ls); got != want {
			t.Errorf("lessSpecificListener(%q) = %v, want %v", l.hostname, got, want)
		}
	}
}
