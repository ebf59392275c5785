package translate

import (
	"slices"
	"strings"
	"testing"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"

	"github.com/flotilla-dev/flotilla/internal/model"
)

const clientCA = "Gateway/infra/gw/frontend/default"

// mtlsFleet is one HTTPS port whose chain verifies clients with the trust bundle named bundle,
// holding pem (no bundle at all when pem is "").
func mtlsFleet(t testing.TB, bundle, pem string, fallback bool) (model.Fleet, map[string]TLSSecret) {
	f := model.Fleet{Key: "infra/gw",
		Listeners: []model.Listener{{Name: "https-443", Port: 443, Protocol: model.ProtocolHTTPS, FilterChains: []model.FilterChain{{
			Name: "Gateway/infra/gw/https",
			TLS: &model.TLSTermination{CertificateSecrets: []string{"infra/cert"},
				ClientValidation: &model.ClientValidation{TrustBundle: bundle, InsecureFallback: fallback}},
			VirtualHosts: []model.VirtualHost{{Name: "*", Domains: []string{"*"}}},
		}}}},
		Secrets: []model.Secret{{Name: "infra/cert", Namespace: "infra", Secret: "cert"}},
	}
	if pem != "" {
		f.TrustBundles = []model.TrustBundle{{Name: bundle, PEM: pem}}
	}
	return f, map[string]TLSSecret{"infra/cert": {
		Cert: []byte(readTestFile(t, "testdata/tls.crt")), Key: []byte(readTestFile(t, "testdata/tls.key"))}}
}

// TestClientCARotation: a changed client CA bundle changes its SDS secret alone; the listener
// (which names the secret) and the route configuration stay byte-identical.
func TestClientCARotation(t *testing.T) {
	ca, next := testCAs(t)
	for _, fallback := range []bool{false, true} {
		f1, s := mtlsFleet(t, clientCA, ca, fallback)
		f2, _ := mtlsFleet(t, clientCA, next+ca, fallback)
		r1, r2 := translateModel(t, &f1, s), translateModel(t, &f2, s)
		if !sameMessages(t, r1.Listeners, r2.Listeners) || !sameMessages(t, r1.Routes, r2.Routes) {
			t.Errorf("fallback %v: the listener or routes changed with the client CA", fallback)
		}
		i1 := slices.IndexFunc(r1.Secrets, func(x *tlsv3.Secret) bool { return x.Name == clientCA })
		i2 := slices.IndexFunc(r2.Secrets, func(x *tlsv3.Secret) bool { return x.Name == clientCA })
		if i1 < 0 || i2 < 0 {
			t.Fatalf("fallback %v: no secret %s", fallback, clientCA)
		}
		if proto.Equal(r1.Secrets[i1], r2.Secrets[i2]) {
			t.Errorf("fallback %v: the client CA secret did not change", fallback)
		}
	}
}

// TestClientValidationFailsClosed: a chain whose client CA bundle is missing from the model or
// holds no usable certificate is left out with a warning (the port closes its connections); it
// is never served without the validation it asks for.
func TestClientValidationFailsClosed(t *testing.T) {
	cases := map[string]struct{ bundle, pem string }{
		"missing bundle":    {clientCA, ""},
		"not a certificate": {clientCA, "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f, s := mtlsFleet(t, c.bundle, c.pem, false)
			r := translateModel(t, &f, s)
			if len(r.Listeners) != 1 || len(r.Listeners[0].FilterChains) != 1 || r.Listeners[0].FilterChains[0].Name != "closed" {
				t.Fatalf("listeners %v: want the port's connections closed", r.Listeners)
			}
			if !slices.ContainsFunc(r.Warnings, func(w string) bool { return strings.Contains(w, "client certificate validation") }) {
				t.Errorf("warnings %q: none says why the chain was left out", r.Warnings)
			}
			for _, sec := range r.Secrets {
				if sec.Name == clientCA {
					t.Errorf("secret %s emitted for a chain that was left out", clientCA)
				}
			}
		})
	}
}
