package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
)

// A fleet's Envoy receives exactly its fleet's resources, subscribing the way Envoy does, ACKs
// them, and receives a change.
func TestFleetReceivesItsResourcesAndChanges(t *testing.T) {
	e := start(t)
	a := specA()
	e.publish(t, "infra/a", a.resources())
	c := e.dial(t, "infra/a", "infra/a", "envoy-a-1")
	waitSynced(t, e, c, "infra/a")

	want := a.resources()
	for typ, names := range a.names() {
		if got := c.Names(typ); !slices.Equal(got, names) {
			t.Errorf("%s: got %v, want %v", envoyTypeNames[typ], got, names)
		}
		got := c.Resources(typ)
		for _, r := range want[typ] {
			name := resourceName(r)
			if !proto.Equal(got[name], r) {
				t.Errorf("%s %s differs from what was published", envoyTypeNames[typ], name)
			}
		}
	}
	e.waitStatus(t, "infra/a", "the ACKs", acked)

	a.path = "/v2"
	e.publish(t, "infra/a", a.resources())
	waitSynced(t, e, c, "infra/a")
	got := c.Resources(resource.RouteType)["a-routes"]
	if !proto.Equal(got, a.resources()[resource.RouteType][0]) {
		t.Errorf("the changed route configuration did not arrive: %v", got)
	}
}

// A fleet's Envoy never sees another fleet's resources, nor their changes.
func TestFleetsAreIsolated(t *testing.T) {
	e := start(t)
	a, b := specA(), specB()
	e.publish(t, "infra/a", a.resources())
	e.publish(t, "infra/b", b.resources())
	cb := e.dial(t, "infra/b", "infra/b", "envoy-b-1")
	waitSynced(t, e, cb, "infra/b")
	before := responses(cb)

	a.path, a.endpoint, a.cert = "/other", "10.0.0.9", "cert-a-2"
	e.publish(t, "infra/a", a.resources())
	b.endpoint = "10.1.0.2" // a barrier: once B's endpoints arrive, anything of A's would have too
	e.publish(t, "infra/b", b.resources())
	waitSynced(t, e, cb, "infra/b")

	after := responses(cb)
	before["eds"]++
	if !mapsEqual(after, before) {
		t.Errorf("fleet B's responses: got %v, want %v", after, before)
	}
	for typ, names := range b.names() {
		if got := cb.Names(typ); !slices.Equal(got, names) {
			t.Errorf("fleet B's %s: got %v, want %v", envoyTypeNames[typ], got, names)
		}
	}
}

// An endpoints-only change moves only the EDS version, and the Envoy gets only an EDS response;
// a secret-only change likewise moves only SDS.
func TestOnlyTheChangedTypeMoves(t *testing.T) {
	e := start(t)
	a := specA()
	e.publish(t, "infra/a", a.resources())
	c := e.dial(t, "infra/a", "infra/a", "envoy-a-1")
	waitSynced(t, e, c, "infra/a")

	for _, step := range []struct {
		name   string
		change func(*fleetSpec)
		moved  string
	}{
		{"endpoints", func(f *fleetSpec) { f.endpoint = "10.0.0.2" }, "eds"},
		{"secret", func(f *fleetSpec) { f.cert = "cert-a-2" }, "sds"},
	} {
		before, countsBefore := e.srv.Versions("infra/a"), responses(c)
		step.change(&a)
		if changed, err := e.srv.Publish("infra/a", a.resources()); err != nil || !changed {
			t.Fatalf("%s: Publish = %v, %v", step.name, changed, err)
		}
		after := e.srv.Versions("infra/a")
		for typ, short := range envoyTypeNames {
			if moved := after[typ] != before[typ]; moved != (short == step.moved) {
				t.Errorf("%s change: %s version moved = %v", step.name, short, moved)
			}
		}
		waitSynced(t, e, c, "infra/a")
		// Barrier: another endpoints change. Responses on a stream are sent in order, so any
		// response the first change caused has arrived once this one has.
		a.endpoint += "0"
		e.publish(t, "infra/a", a.resources())
		waitSynced(t, e, c, "infra/a")
		want := countsBefore
		want[step.moved]++
		want["eds"]++
		if got := responses(c); !mapsEqual(got, want) {
			t.Errorf("%s change: responses %v, want %v", step.name, got, want)
		}
	}
}

// Publishing the same content again, in another order, from new objects or into a new Server
// (a restart), keeps every version, and Publish says nothing changed.
func TestVersionsAreContentHashes(t *testing.T) {
	s := New(Options{})
	a := specA()
	if changed, err := s.Publish("infra/a", a.resources()); err != nil || !changed {
		t.Fatalf("first Publish = %v, %v; want true", changed, err)
	}
	first := s.Versions("infra/a")
	if len(first) != 5 {
		t.Fatalf("versions: %v", first)
	}
	reordered := a.resources()
	slices.Reverse(reordered[resource.SecretType])
	for name, res := range map[string]*Server{"same server": s, "restarted": New(Options{})} {
		wantChanged := name == "restarted"
		if changed, err := res.Publish("infra/a", reordered); err != nil || changed != wantChanged {
			t.Errorf("%s: Publish = %v, %v; want %v", name, changed, err, wantChanged)
		}
		if got := res.Versions("infra/a"); !mapsEqual(got, first) {
			t.Errorf("%s: versions %v, want %v", name, got, first)
		}
	}
	// Versions are per fleet content, not per fleet: another fleet with the same content agrees.
	if _, err := s.Publish("infra/copy", a.resources()); err != nil {
		t.Fatal(err)
	}
	if got := s.Versions("infra/copy"); !mapsEqual(got, first) {
		t.Errorf("same content in another fleet: %v, want %v", got, first)
	}
	a.extra = []string{"a-dns"}
	if changed, _ := s.Publish("infra/a", a.resources()); !changed {
		t.Error("a new cluster did not change anything")
	}
	if got := s.Versions("infra/a"); got[resource.ClusterType] == first[resource.ClusterType] || got[resource.ListenerType] != first[resource.ListenerType] {
		t.Errorf("a new cluster: versions %v, first %v", got, first)
	}
}

// A client with no certificate, or with one from another CA, cannot even connect.
func TestUnverifiedClientsCannotConnect(t *testing.T) {
	e := start(t)
	e.publish(t, "infra/a", specA().resources())
	other := newCA(t)
	for name, cfg := range map[string]func() *tls.Config{
		"no certificate": func() *tls.Config {
			c := clientTLS(t, e.ca, e.ca, "infra", "a")
			c.Certificates = nil
			return c
		},
		"certificate from another CA": func() *tls.Config { return clientTLS(t, other, e.ca, "infra", "a") },
	} {
		t.Run(name, func(t *testing.T) {
			// The handshake fails while the stream opens, or (TLS 1.3 sends the client's
			// certificate after the client's handshake ends) on its first read.
			c, err := xdstest.Dial(t.Context(), e.addr, cfg(), nodeOf("infra/a", "envoy-a-1"))
			if err != nil {
				if !strings.Contains(err.Error(), "code = Unavailable") {
					t.Errorf("Dial: %v", err)
				}
				return
			}
			defer c.Close()
			expectEnded(t, c, "Unavailable")
		})
	}
	// The published fleet's series stays at 0: no refused client counts as connected.
	if got, n := testutil.ToFloat64(e.srv.metrics.connected.WithLabelValues("infra/a")), testutil.CollectAndCount(e.srv.metrics.connected); got != 0 || n != 1 {
		t.Errorf("connected_clients{infra/a} = %v, %d series; want one series at 0", got, n)
	}
	// Refused at the handshake, before any stream callback: still counted, by reason (the README
	// promises a log line and a count for every refusal).
	for reason, want := range map[string]float64{ReasonNoCertificate: 1, ReasonCertificateInvalid: 1} {
		eventually(t, "refusals counted", func() bool {
			return testutil.ToFloat64(e.srv.metrics.refused.WithLabelValues(reason)) >= want
		})
	}
	// Not TLS at all.
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	_ = conn.Close()
	eventually(t, "a plaintext connection counted", func() bool {
		return testutil.ToFloat64(e.srv.metrics.refused.WithLabelValues(ReasonTLSHandshake)) == 1
	})
}

// A client whose node claims another fleet than its certificate, or claims none, or whose
// certificate names no fleet, is refused; each refusal is counted by reason.
func TestStreamsThatCannotProveTheirFleetAreRefused(t *testing.T) {
	e := start(t)
	e.publish(t, "infra/a", specA().resources())
	e.publish(t, "infra/b", specB().resources())

	impostor := e.dial(t, "infra/a", "infra/b", "envoy-a-1")
	expectEnded(t, impostor, "PermissionDenied")
	nodeless := e.dialWith(t, clientTLS(t, e.ca, e.ca, "infra", "a"), nil)
	expectEnded(t, nodeless, "PermissionDenied")
	anonymous := e.dialWith(t, e.anonymousTLS(t), nodeOf("infra/a", "envoy-a-1"))
	expectEnded(t, anonymous, "Unauthenticated")

	for reason, want := range map[string]float64{ReasonIdentityMismatch: 1, ReasonMissingNode: 1, ReasonNoFleetIdentity: 1, ReasonNoCertificate: 0} {
		if got := testutil.ToFloat64(e.srv.metrics.refused.WithLabelValues(reason)); got != want {
			t.Errorf("refused{reason=%s} = %v, want %v", reason, got, want)
		}
	}
	if st := e.srv.DataPlaneStatus("infra/b"); st.Connected != 0 {
		t.Errorf("fleet B counts the impostor: %+v", st)
	}
}

// With a second issuer (a cert-manager CA) trusted for fleet B only, its certificates open B's
// stream and are refused for any other fleet, though the TLS handshake accepts them.
func TestIssuersAreTrustedOnlyForTheirFleets(t *testing.T) {
	issuer := newCA(t)
	var builtin *pki.CA
	e := start(t, func(o *Options) {
		o.ClientCAs = func() (*x509.CertPool, error) {
			pool := caPool(builtin)
			pool.AddCert(issuer.Cert)
			return pool, nil
		}
		o.AuthorizeFleet = func(fleet string, chain []*x509.Certificate) error {
			want := builtin
			if fleet == "infra/b" {
				want = issuer
			}
			if !chain[len(chain)-1].Equal(want.Cert) {
				return errors.New("wrong issuer")
			}
			return nil
		}
	})
	builtin = e.ca
	e.publish(t, "infra/a", specA().resources())
	e.publish(t, "infra/b", specB().resources())

	b := e.dialWith(t, clientTLS(t, issuer, e.ca, "infra", "b"), nodeOf("infra/b", "envoy-b-1"))
	waitSynced(t, e, b, "infra/b")
	forged := e.dialWith(t, clientTLS(t, issuer, e.ca, "infra", "a"), nodeOf("infra/a", "envoy-a-1"))
	expectEnded(t, forged, "PermissionDenied")
	if got := testutil.ToFloat64(e.srv.metrics.refused.WithLabelValues(ReasonUntrustedIssuer)); got != 1 {
		t.Errorf("refused{reason=%s} = %v, want 1", ReasonUntrustedIssuer, got)
	}
	a := e.dial(t, "infra/a", "infra/a", "envoy-a-2")
	waitSynced(t, e, a, "infra/a")
}

// Delta ADS serves a fleet's clusters, their changes and removals.
func TestDeltaClusters(t *testing.T) {
	e := start(t)
	a := specA()
	e.publish(t, "infra/a", a.resources())
	c, err := xdstest.DialDelta(t.Context(), e.addr, clientTLS(t, e.ca, e.ca, "infra", "a"), nodeOf("infra/a", "envoy-a-1"), resource.ClusterType)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, extra := range [][]string{nil, {"a-dns", "a-more"}, {"a-more"}} {
		a.extra = extra
		e.publish(t, "infra/a", a.resources())
		want := a.names()[resource.ClusterType]
		slices.Sort(want)
		version := e.srv.Versions("infra/a")[resource.ClusterType]
		if err := c.Wait(within(t), func() bool {
			return slices.Equal(c.Names(resource.ClusterType), want) && c.Version(resource.ClusterType) == version
		}); err != nil {
			t.Fatalf("clusters %v: got %v: %v", want, c.Names(resource.ClusterType), err)
		}
		got := c.Resources(resource.ClusterType)["a-backend"]
		if !proto.Equal(got, a.resources()[resource.ClusterType][0]) {
			t.Errorf("cluster a-backend differs: %v", got)
		}
	}
	if n := c.Responses(resource.EndpointType); n != 0 {
		t.Errorf("unsubscribed endpoints were sent %d times", n)
	}
	if st := e.srv.DataPlaneStatus("infra/a"); st.Connected != 1 {
		t.Errorf("status %+v", st)
	}
}

// The cluster's secret arrives while the listener's is not yet subscribed (Envoy warms clusters
// before it asks for listeners): secrets are not held back until every secret is requested.
func TestClusterSecretsArriveBeforeListenerSecrets(t *testing.T) {
	e := start(t)
	e.publish(t, "infra/a", specA().resources())
	c := e.dial(t, "infra/a", "infra/a", "envoy-a-1")
	c.Reject(resource.ListenerType, "not yet") // listeners never accepted: only the cluster names a secret
	if err := c.Wait(within(t), func() bool { return len(c.Names(resource.SecretType)) == 1 }); err != nil {
		t.Fatalf("secrets %v, subscribed %v: %v", c.Names(resource.SecretType), c.Subscriptions(resource.SecretType), err)
	}
	if got := c.Names(resource.SecretType); got[0] != "a-backend-ca" {
		t.Errorf("secrets: %v", got)
	}
}

func resourceName(r proto.Message) string {
	if n, ok := r.(interface{ GetName() string }); ok {
		return n.GetName()
	}
	return r.(interface{ GetClusterName() string }).GetClusterName()
}

func mapsEqual[K, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// expectEnded waits for the stream to end without any response; code, if set, is the gRPC code
// the error must carry.
func expectEnded(t *testing.T, c *xdstest.Client, code string) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the stream was not ended")
	}
	if err := c.Err(); err == nil || code != "" && !strings.Contains(err.Error(), "code = "+code) {
		t.Errorf("stream error %v, want code %s", err, code)
	}
	for typ, short := range envoyTypeNames {
		if n := c.Responses(typ); n != 0 {
			t.Errorf("got %d %s responses", n, short)
		}
	}
}
