package gatewayapi

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// TestBackendClientCertificateReasons follows the conformance test
// GatewayInvalidTLSBackendConfiguration: each unusable clientCertificateRef gives the Gateway
// ResolvedRefs=False with the spec's reason, and a usable one ResolvedRefs=True.
func TestBackendClientCertificateReasons(t *testing.T) {
	valid := SecretInfo{Namespace: "infra", Name: "client", Type: corev1.SecretTypeTLS, ValidTLS: true}
	malformed := SecretInfo{Namespace: "infra", Name: "malformed", Type: corev1.SecretTypeOpaque}
	other := SecretInfo{Namespace: "web", Name: "certificate", Type: corev1.SecretTypeTLS, ValidTLS: true}
	for _, tc := range []struct {
		name   string
		ref    gwapiv1.SecretObjectReference
		reason gwapiv1.GatewayConditionReason
	}{
		{"nonexistent", gwapiv1.SecretObjectReference{Name: "nonexistent"}, gwapiv1.GatewayReasonInvalidClientCertificateRef},
		{"unsupported group", gwapiv1.SecretObjectReference{Group: ptr(gwapiv1.Group("wrong.group.io")), Kind: ptr(kindSecret), Name: "client"},
			gwapiv1.GatewayReasonInvalidClientCertificateRef},
		{"unsupported kind", gwapiv1.SecretObjectReference{Group: ptr(gwapiv1.Group("")), Kind: ptr(gwapiv1.Kind("WrongKind")), Name: "client"},
			gwapiv1.GatewayReasonInvalidClientCertificateRef},
		{"malformed", gwapiv1.SecretObjectReference{Name: "malformed"}, gwapiv1.GatewayReasonInvalidClientCertificateRef},
		{"missing grant", gwapiv1.SecretObjectReference{Name: "certificate", Namespace: ptr(gwapiv1.Namespace("web"))}, gwapiv1.GatewayReasonRefNotPermitted},
		{"valid", gwapiv1.SecretObjectReference{Group: ptr(gwapiv1.Group("")), Kind: ptr(kindSecret), Name: "client"}, gwapiv1.GatewayReasonResolvedRefs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{ControllerName: "gateway.flotilla.dev/controller", Secrets: []SecretInfo{valid, malformed, other},
				Gateway: &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "infra", Generation: 7}, Spec: gwapiv1.GatewaySpec{
					Listeners: []gwapiv1.Listener{{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType}},
					TLS:       &gwapiv1.GatewayTLSConfig{Backend: &gwapiv1.GatewayBackendTLS{ClientCertificateRef: &tc.ref}},
				}}}
			c := Resolve(in).GatewayResolvedRefs
			want := metav1.ConditionFalse
			if tc.reason == gwapiv1.GatewayReasonResolvedRefs {
				want = metav1.ConditionTrue
			}
			if c.Type != string(gwapiv1.GatewayConditionResolvedRefs) || c.Status != want || c.Reason != string(tc.reason) || c.ObservedGeneration != 7 {
				t.Errorf("got %+v, want %s %s", c, want, tc.reason)
			}
		})
	}
}

// TestInvalidPolicyIsIsolated resolves the fail-closed case with and without its broken policy:
// only the broken backend's cluster and the route that uses it may differ.
func TestInvalidPolicyIsIsolated(t *testing.T) {
	in := loadInput(t, "testdata/backendtls-fail-closed.in.yaml")
	with := Resolve(in)
	in.BackendTLSPolicies = slices.DeleteFunc(slices.Clone(in.BackendTLSPolicies), func(p *gwapiv1.BackendTLSPolicy) bool { return p.Name == "broken" })
	without := Resolve(in)

	if !reflect.DeepEqual(with.Fleet.Listeners, without.Fleet.Listeners) || !reflect.DeepEqual(with.Fleet.TrustBundles, without.Fleet.TrustBundles) {
		t.Error("the broken policy changed the listeners or trust bundles")
	}
	for i, c := range with.Fleet.Clusters {
		w := without.Fleet.Clusters[i]
		if c.Name == "apps/broken/443/http" {
			if c.TLS == nil || c.TLS.Invalid == "" || w.TLS != nil {
				t.Errorf("broken cluster: want TLS.invalid with the policy and no TLS without, got %+v and %+v", c.TLS, w.TLS)
			}
			continue
		}
		if !reflect.DeepEqual(c, w) {
			t.Errorf("cluster %s changed by another backend's policy", c.Name)
		}
	}
	for i, rs := range with.Routes {
		if rs.Name == "split" {
			if c := rs.Parents[0].Conditions[1]; c.Reason != string(reasonInvalidBackendTLSPolicy) || !strings.Contains(c.Message, "apps/broken") {
				t.Errorf("route split: want ResolvedRefs %s naming the policy, got %+v", reasonInvalidBackendTLSPolicy, c)
			}
			continue
		}
		if !reflect.DeepEqual(rs, without.Routes[i]) {
			t.Errorf("route %s: status changed by another backend's policy", rs.Name)
		}
	}
}

func TestPEMCertificates(t *testing.T) {
	ca, err := os.ReadFile("testdata/backend-ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	key := "-----BEGIN EC PRIVATE KEY-----\naGVsbG8=\n-----END EC PRIVATE KEY-----\n"
	for _, tc := range []struct {
		name, in string
		certs    int
		bad      bool
	}{
		{"one", string(ca), 1, false},
		{"two, with text and another block between", "# bundle\n" + string(ca) + key + "junk\n" + string(ca), 2, false},
		{"empty", "", 0, true},
		{"text only", "hello", 0, true},
		{"key only", key, 0, true},
		{"one good, one malformed", string(ca) + "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pemCertificates([]byte(tc.in))
			if (err != nil) != tc.bad || strings.Count(got, "BEGIN CERTIFICATE") != tc.certs {
				t.Errorf("got %d certificates, error %v; want %d, error %v", strings.Count(got, "BEGIN CERTIFICATE"), err, tc.certs, tc.bad)
			}
		})
	}
}
