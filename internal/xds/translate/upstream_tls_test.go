package translate

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/flotilla-dev/flotilla/internal/golden"
	"github.com/flotilla-dev/flotilla/internal/model"
)

// Model-level golden cases: resolve does not produce backend TLS yet, so these build the fleet
// model directly and render testdata/model/<case>.out.yaml.

const (
	backendCA  = "BackendTLSPolicy/infra/backend-ca" // the trust bundle of a BackendTLSPolicy
	clientCert = "infra/backend-client"              // the Gateway's backend client certificate
)

func readTestFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testCAs are two CA certificates: the backends' CA, and another (the next CA, or an unrelated one).
func testCAs(t testing.TB) (backend, other string) {
	return readTestFile(t, "testdata/model/backend-ca.crt"), readTestFile(t, "testdata/tls.crt")
}

func ready(addr string, port int32) model.Endpoint {
	return model.Endpoint{Address: addr, Port: port, Ready: true, Serving: true}
}

func to(clusters ...string) *model.Backends {
	b := &model.Backends{}
	for _, c := range clusters {
		b.Clusters = append(b.Clusters, model.WeightedCluster{Cluster: c, Weight: 1})
	}
	return b
}

// tlsFleet is a fleet whose HTTP listener routes /<service> to each HTTP cluster, in order, and
// whose TCP listener forwards to the TCP clusters.
func tlsFleet(clusters ...model.Cluster) model.Fleet {
	vh := model.VirtualHost{Name: "backends.example.com", Domains: []string{"backends.example.com"}}
	f := model.Fleet{Key: "infra/gw", Clusters: clusters,
		Listeners: []model.Listener{{Name: "http-80", Port: 80, Protocol: model.ProtocolHTTP}}}
	var tcp []string
	for i, c := range clusters {
		if c.Protocol == model.ClusterTCP {
			tcp = append(tcp, c.Name)
			continue
		}
		vh.Routes = append(vh.Routes, model.Route{Name: fmt.Sprintf("HTTPRoute/infra/backends/rule/%d/match/0", i),
			Match:    model.Match{Path: &model.StringMatch{Type: model.MatchPathPrefix, Value: "/" + strings.Split(c.Name, "/")[1]}},
			Backends: to(c.Name)})
	}
	f.Listeners[0].VirtualHosts = []model.VirtualHost{vh}
	if tcp != nil {
		f.Listeners = append(f.Listeners, model.Listener{Name: "tcp-5432", Port: 5432, Protocol: model.ProtocolTCP, Backends: to(tcp...)})
	}
	return f
}

// modelCases are the model-level golden cases: a fleet and its Secrets' data.
var modelCases = map[string]func(t testing.TB) (model.Fleet, map[string]TLSSecret){
	// A CA bundle verifying an HTTP backend (SANs of both types), an HTTP/2 backend (the SNI as
	// DNS SAN) and a TCP backend; a backend verified with the system trust store; a plaintext
	// backend; a trust bundle no cluster uses (not emitted).
	"backend-tls": func(t testing.TB) (model.Fleet, map[string]TLSSecret) {
		ca, other := testCAs(t)
		f := tlsFleet(
			model.Cluster{Name: "infra/api/443/http", Protocol: model.ClusterHTTP, Service: "infra/api", Port: 443,
				Endpoints: []model.Endpoint{ready("10.0.1.1", 8443)},
				TLS: &model.UpstreamTLS{SNI: "api.internal.example.com", TrustBundle: backendCA, SubjectAltNames: []model.SubjectAltName{
					{Type: "URI", Value: "spiffe://cluster.local/ns/infra/sa/api"}, {Type: "Hostname", Value: "api.example.com"}}}},
			model.Cluster{Name: "infra/db/5432/tcp", Protocol: model.ClusterTCP, Service: "infra/db", Port: 5432,
				Endpoints: []model.Endpoint{ready("10.0.4.1", 5432)},
				TLS:       &model.UpstreamTLS{SNI: "db.internal.example.com", TrustBundle: backendCA}},
			model.Cluster{Name: "infra/echo/8443/h2c", Protocol: model.ClusterH2C, Service: "infra/echo", Port: 8443,
				Endpoints: []model.Endpoint{ready("10.0.2.1", 8443)},
				TLS:       &model.UpstreamTLS{SNI: "echo.internal.example.com", TrustBundle: backendCA}},
			model.Cluster{Name: "infra/public/443/http", Protocol: model.ClusterHTTP, Service: "infra/public", Port: 443,
				Endpoints: []model.Endpoint{ready("10.0.3.1", 443)},
				TLS:       &model.UpstreamTLS{SNI: "public.example.com", SystemTrust: true}},
			model.Cluster{Name: "infra/web/80/http", Protocol: model.ClusterHTTP, Service: "infra/web", Port: 80,
				Endpoints: []model.Endpoint{ready("10.0.5.1", 8080)}},
		)
		f.TrustBundles = []model.TrustBundle{{Name: backendCA, PEM: ca}, {Name: "BackendTLSPolicy/infra/unused", PEM: other}}
		return f, nil
	},
	// The Gateway's backend client certificate, presented to a backend verified with a CA bundle
	// and to one verified with the system trust store: one SDS secret for both.
	"backend-tls-client-cert": func(t testing.TB) (model.Fleet, map[string]TLSSecret) {
		ca, _ := testCAs(t)
		withCert := func(u model.UpstreamTLS) *model.UpstreamTLS { u.ClientCertificate = clientCert; return &u }
		f := tlsFleet(
			model.Cluster{Name: "infra/api/443/http", Protocol: model.ClusterHTTP, Service: "infra/api", Port: 443,
				Endpoints: []model.Endpoint{ready("10.0.1.1", 8443)},
				TLS:       withCert(model.UpstreamTLS{SNI: "api.internal.example.com", TrustBundle: backendCA})},
			model.Cluster{Name: "infra/echo/50051/grpc", Protocol: model.ClusterGRPC, Service: "infra/echo", Port: 50051,
				Endpoints: []model.Endpoint{ready("10.0.2.1", 50051)},
				TLS:       withCert(model.UpstreamTLS{SNI: "echo.example.com", SystemTrust: true})},
		)
		f.Secrets = []model.Secret{{Name: clientCert, Namespace: "infra", Secret: "backend-client"}}
		f.TrustBundles = []model.TrustBundle{{Name: backendCA, PEM: ca}}
		return f, map[string]TLSSecret{clientCert: {
			Cert: []byte(readTestFile(t, "testdata/tls.crt")), Key: []byte(readTestFile(t, "testdata/tls.key"))}}
	},
	// Failing closed: an invalid policy (its endpoints are dropped; its share of a split answers
	// 503), a trust bundle missing from the model, a client certificate without data. Only the
	// bundle of the valid cluster is emitted.
	"backend-tls-invalid": func(t testing.TB) (model.Fleet, map[string]TLSSecret) {
		ca, other := testCAs(t)
		f := tlsFleet(
			model.Cluster{Name: "infra/api/443/http", Protocol: model.ClusterHTTP, Service: "infra/api", Port: 443,
				Endpoints: []model.Endpoint{ready("10.0.1.1", 8443), ready("10.0.1.2", 8443)},
				TLS: &model.UpstreamTLS{Invalid: "BackendTLSPolicy infra/api: ConfigMap infra/api-ca has no ca.crt",
					SNI: "api.internal.example.com", TrustBundle: "BackendTLSPolicy/infra/api"}},
			model.Cluster{Name: "infra/billing/443/http", Protocol: model.ClusterHTTP, Service: "infra/billing", Port: 443,
				Endpoints: []model.Endpoint{ready("10.0.2.1", 8443)},
				TLS:       &model.UpstreamTLS{SNI: "billing.internal.example.com", TrustBundle: backendCA}},
			model.Cluster{Name: "infra/ledger/443/http", Protocol: model.ClusterHTTP, Service: "infra/ledger", Port: 443,
				Endpoints: []model.Endpoint{ready("10.0.3.1", 8443)},
				TLS:       &model.UpstreamTLS{SNI: "ledger.internal.example.com", TrustBundle: "BackendTLSPolicy/infra/ledger"}},
			model.Cluster{Name: "infra/reports/443/http", Protocol: model.ClusterHTTP, Service: "infra/reports", Port: 443,
				Endpoints: []model.Endpoint{ready("10.0.4.1", 8443)},
				TLS:       &model.UpstreamTLS{SNI: "reports.internal.example.com", TrustBundle: backendCA, ClientCertificate: clientCert}},
		)
		vh := &f.Listeners[0].VirtualHosts[0]
		vh.Routes = append(vh.Routes, model.Route{Name: "HTTPRoute/infra/split/rule/0/match/0",
			Match: model.Match{Path: &model.StringMatch{Type: model.MatchPathPrefix, Value: "/split"}}, Backends: to("infra/api/443/http", "infra/billing/443/http")})
		f.Secrets = []model.Secret{{Name: clientCert, Namespace: "infra", Secret: "backend-client"}}
		f.TrustBundles = []model.TrustBundle{{Name: "BackendTLSPolicy/infra/api", PEM: other}, {Name: backendCA, PEM: ca}}
		return f, map[string]TLSSecret{}
	},
}

func translateModel(t testing.TB, f *model.Fleet, secrets map[string]TLSSecret) *Resources {
	t.Helper()
	r, err := Translate(f, secrets)
	if err != nil {
		t.Fatalf("Translate: %v", err)
	}
	checkResources(t, r)
	return r
}

func TestModelGolden(t *testing.T) {
	for name, build := range modelCases {
		t.Run(name, func(t *testing.T) {
			f, secrets := build(t)
			golden.Check(t, "testdata/model/"+name+".out.yaml", render(t, translateModel(t, &f, secrets)))
		})
	}
}

// TestModelDeterministic: shuffling what carries no order (clusters, trust bundles, SANs...)
// changes no byte of the output.
func TestModelDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for name, build := range modelCases {
		t.Run(name, func(t *testing.T) {
			f, secrets := build(t)
			first := translateModel(t, &f, secrets)
			for range 5 {
				g, _ := build(t)
				shuffleFleet(rng, &g)
				if second := translateModel(t, &g, secrets); string(marshalAll(t, first)) != string(marshalAll(t, second)) {
					t.Fatalf("outputs differ:\n%s", render(t, second))
				}
			}
		})
	}
}

// sameMessages says whether two resource lists are equal, message by message and byte by byte
// (deterministic marshalling: what a snapshot's content hash sees).
func sameMessages[T proto.Message](t testing.TB, a, b []T) bool {
	t.Helper()
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, _ := packer.Marshal(a[i])
		y, _ := packer.Marshal(b[i])
		if !proto.Equal(a[i], b[i]) || string(x) != string(y) {
			return false
		}
	}
	return true
}

// TestTrustBundleRotation: a changed CA bundle (a rotated CA, a trust-manager Bundle update)
// changes the secrets alone. Listeners, route configurations, clusters and endpoints stay
// byte-identical, so only an SDS update reaches Envoy.
func TestTrustBundleRotation(t *testing.T) {
	before, _ := modelCases["backend-tls"](t)
	after, _ := modelCases["backend-tls"](t)
	_, next := testCAs(t)
	after.TrustBundles[0].PEM = next + before.TrustBundles[0].PEM // the next CA, then the old one
	r1, r2 := translateModel(t, &before, nil), translateModel(t, &after, nil)
	for _, c := range []struct {
		name string
		same bool
	}{
		{"listeners", sameMessages(t, r1.Listeners, r2.Listeners)},
		{"routes", sameMessages(t, r1.Routes, r2.Routes)},
		{"clusters", sameMessages(t, r1.Clusters, r2.Clusters)},
		{"endpoints", sameMessages(t, r1.Endpoints, r2.Endpoints)},
	} {
		if !c.same {
			t.Errorf("%s changed with the trust bundle", c.name)
		}
	}
	if len(r1.Secrets) != 1 || len(r2.Secrets) != 1 || r1.Secrets[0].Name != backendCA || r2.Secrets[0].Name != backendCA {
		t.Fatalf("secrets %v, then %v: want %s alone", r1.Secrets, r2.Secrets, backendCA)
	}
	if proto.Equal(r1.Secrets[0], r2.Secrets[0]) {
		t.Error("the trust bundle's secret did not change")
	}
	if got := r2.Secrets[0].GetValidationContext().GetTrustedCa().GetInlineString(); got != after.TrustBundles[0].PEM {
		t.Errorf("trusted CA %q, want the new bundle", got)
	}
}

// TestUpstreamTLSFailsClosed: whatever keeps a cluster's TLS from being built safely, the
// cluster is still emitted, without a transport socket and without endpoints, with a warning;
// no trust bundle is emitted for it.
func TestUpstreamTLSFailsClosed(t *testing.T) {
	ca, _ := testCAs(t)
	const name = "ns/b/443/http"
	fleet := func(u model.UpstreamTLS, p model.ClusterProtocol) model.Fleet {
		f := tlsFleet(model.Cluster{Name: name, Protocol: p, Endpoints: []model.Endpoint{ready("10.0.0.1", 443)}, TLS: &u})
		f.Secrets = []model.Secret{{Name: "ns/client"}}
		f.TrustBundles = []model.TrustBundle{{Name: "ns/bad", PEM: "not PEM"}, {Name: "ns/ca", PEM: ca},
			{Name: "ns/key", PEM: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
			{Name: "ns/junk", PEM: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}}
		return f
	}
	ok := model.UpstreamTLS{SNI: "b.example.com", TrustBundle: "ns/ca"}
	with := func(change func(*model.UpstreamTLS)) model.UpstreamTLS { u := ok; change(&u); return u }
	cases := []struct {
		name  string
		tls   model.UpstreamTLS
		proto model.ClusterProtocol
		warn  string
	}{
		{"invalid policy", with(func(u *model.UpstreamTLS) { u.Invalid = "no CA" }), model.ClusterHTTP, "the policy is invalid: no CA"},
		{"UDP", ok, model.ClusterUDP, "UDP"},
		{"no SNI", with(func(u *model.UpstreamTLS) { u.SNI = "" }), model.ClusterHTTP, "not a server name"},
		{"wildcard SNI", with(func(u *model.UpstreamTLS) { u.SNI = "*.example.com" }), model.ClusterHTTP, "not a server name"},
		{"long SNI", with(func(u *model.UpstreamTLS) { u.SNI = strings.Repeat("a", 256) }), model.ClusterHTTP, "not a server name"},
		{"SNI with a newline", with(func(u *model.UpstreamTLS) { u.SNI = "a\nb" }), model.ClusterHTTP, "not a server name"},
		{"both trust sources", with(func(u *model.UpstreamTLS) { u.SystemTrust = true }), model.ClusterHTTP, "both"},
		{"no trust source", with(func(u *model.UpstreamTLS) { u.TrustBundle = "" }), model.ClusterHTTP, "no CA certificates"},
		{"missing bundle", with(func(u *model.UpstreamTLS) { u.TrustBundle = "ns/gone" }), model.ClusterHTTP, "not in the fleet"},
		{"bundle not PEM", with(func(u *model.UpstreamTLS) { u.TrustBundle = "ns/bad" }), model.ClusterHTTP, "no PEM certificate"},
		{"bundle of keys", with(func(u *model.UpstreamTLS) { u.TrustBundle = "ns/key" }), model.ClusterHTTP, "no PEM certificate"},
		{"bundle that does not parse", with(func(u *model.UpstreamTLS) { u.TrustBundle = "ns/junk" }), model.ClusterHTTP, "does not parse"},
		{"unknown SAN type", with(func(u *model.UpstreamTLS) { u.SubjectAltNames = []model.SubjectAltName{{Type: "Email", Value: "a@b"}} }),
			model.ClusterHTTP, `type "Email"`},
		{"empty SAN", with(func(u *model.UpstreamTLS) { u.SubjectAltNames = []model.SubjectAltName{{Type: "URI"}} }), model.ClusterHTTP, "not usable"},
		{"client certificate without data", with(func(u *model.UpstreamTLS) { u.ClientCertificate = "ns/client" }), model.ClusterHTTP,
			"client certificate Secret ns/client has no certificate data"},
		{"client certificate not in the fleet", with(func(u *model.UpstreamTLS) { u.ClientCertificate = "ns/other" }), model.ClusterGRPC,
			"client certificate Secret ns/other has no certificate data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := fleet(c.tls, c.proto)
			r := translateModel(t, &f, map[string]TLSSecret{})
			if !containsAll(r.Warnings, "cluster "+name+" fails closed (no endpoints): backend TLS: ", c.warn) {
				t.Errorf("no warning with %q in %q", c.warn, r.Warnings)
			}
			if len(r.Clusters) != 1 || r.Clusters[0].TransportSocket != nil {
				t.Errorf("clusters %v: want %s without transport socket", r.Clusters, name)
			}
			if len(r.Endpoints) != 1 || len(r.Endpoints[0].Endpoints) != 0 {
				t.Errorf("endpoints %v: want none", r.Endpoints)
			}
			for _, s := range r.Secrets {
				if s.GetValidationContext() != nil {
					t.Errorf("trust bundle %s emitted for a cluster that fails closed", s.Name)
				}
			}
		})
	}
	// And the same cluster, valid: TLS, endpoints, its bundle, duplicate SANs counted once.
	f := fleet(with(func(u *model.UpstreamTLS) {
		u.SubjectAltNames = []model.SubjectAltName{{Type: "Hostname", Value: "b"}, {Type: "Hostname", Value: "b"}}
	}), model.ClusterHTTP)
	r := translateModel(t, &f, map[string]TLSSecret{})
	if containsAll(r.Warnings, "cluster ") || r.Clusters[0].TransportSocket == nil || len(r.Endpoints[0].Endpoints) != 1 ||
		len(r.Secrets) != 1 || r.Secrets[0].Name != "ns/ca" {
		t.Fatalf("valid cluster: warnings %q, cluster %v, endpoints %v, secrets %v", r.Warnings, r.Clusters[0], r.Endpoints[0], r.Secrets)
	}
}

// containsAll says whether one warning contains every part.
func containsAll(warnings []string, parts ...string) bool {
	for _, w := range warnings {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(w, p)
		}
		if all {
			return true
		}
	}
	return false
}
