package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A NACK shows in DataPlaneStatus with Envoy's message, the rejected version and the node, and
// notifies; the rejected version is not sent again (go-control-plane alone would loop); a later
// ACK of new content clears it and notifies again.
func TestNACKIsRecordedUntilNewContentIsAccepted(t *testing.T) {
	e := start(t)
	a := specA()
	e.publish(t, "infra/a", a.resources())
	// Published types have a zero NACK series from the start (increase() then sees the first NACK).
	if n := testutil.CollectAndCount(e.srv.metrics.nacks); n == 0 {
		t.Errorf("no nacks series after the first publish")
	}
	if got := testutil.ToFloat64(e.srv.metrics.nacks.WithLabelValues("infra/a", "lds")); got != 0 {
		t.Errorf("nacks{lds} before any NACK = %v", got)
	}
	// And a connected_clients series at 0 before any Envoy connects.
	if got, n := testutil.ToFloat64(e.srv.metrics.connected.WithLabelValues("infra/a")), testutil.CollectAndCount(e.srv.metrics.connected); got != 0 || n == 0 {
		t.Errorf("connected_clients before any stream = %v (%d series)", got, n)
	}
	c := e.dial(t, "infra/a", "infra/a", "envoy-a-1")
	waitSynced(t, e, c, "infra/a")
	e.waitStatus(t, "infra/a", "the ACKs", acked)
	accepted := e.srv.Versions("infra/a")[resource.ListenerType]
	notesBefore := e.notifications("infra/a")

	const why = "Error adding/updating listener(s) a-https: cannot bind '0.0.0.0:1': Permission denied"
	c.Reject(resource.ListenerType, why)
	a.port = 1
	e.publish(t, "infra/a", a.resources())
	rejectedVersion := e.srv.Versions("infra/a")[resource.ListenerType]
	st := e.waitStatus(t, "infra/a", "the NACK", rejected)
	r := st.Rejected
	if r.TypeURL != resource.ListenerType || r.Version != rejectedVersion || r.Message != why || r.Node != "envoy-a-1" || r.At.IsZero() {
		t.Errorf("rejection %+v; want type %s version %s", r, resource.ListenerType, rejectedVersion)
	}
	if st.Acked || st.Connected != 1 {
		t.Errorf("status %+v", st)
	}
	if c.Version(resource.ListenerType) != accepted {
		t.Errorf("the client left its accepted listeners")
	}
	eventually(t, "a notification of the NACK", func() bool { return e.notifications("infra/a") > notesBefore })
	if got := testutil.ToFloat64(e.srv.metrics.nacks.WithLabelValues("infra/a", "lds")); got != 1 {
		t.Errorf("nacks{lds} = %v", got)
	}

	// Two endpoint changes go through the same stream after the NACK: had the rejected listeners
	// been sent again, they would have arrived before the second.
	listenerResponses := c.Responses(resource.ListenerType)
	for _, ip := range []string{"10.0.0.7", "10.0.0.8"} {
		a.endpoint = ip
		e.publish(t, "infra/a", a.resources())
		if err := c.WaitVersion(within(t), resource.EndpointType, e.srv.Versions("infra/a")[resource.EndpointType]); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.Responses(resource.ListenerType); n != listenerResponses || c.NACKs(resource.ListenerType) != 1 {
		t.Errorf("the rejected listeners were sent again: %d responses (was %d), %d NACKs", n, listenerResponses, c.NACKs(resource.ListenerType))
	}
	if r := e.srv.DataPlaneStatus("infra/a").Rejected; r == nil || r.Version != rejectedVersion {
		t.Errorf("the endpoint ACKs cleared the listener NACK: %+v", r)
	}

	notesBefore = e.notifications("infra/a")
	c.Accept(resource.ListenerType)
	a.port = 10443
	e.publish(t, "infra/a", a.resources())
	waitSynced(t, e, c, "infra/a")
	e.waitStatus(t, "infra/a", "the NACK cleared", func(st DataPlaneStatus) bool { return st.Rejected == nil && st.Acked })
	eventually(t, "a notification of the ACK", func() bool { return e.notifications("infra/a") > notesBefore })
}

// Publishing, again, the content the Envoy runs clears its NACK: it runs the current version.
func TestRevertingToTheAcceptedContentClearsTheNACK(t *testing.T) {
	e := start(t)
	a := specA()
	e.publish(t, "infra/a", a.resources())
	c := e.dial(t, "infra/a", "infra/a", "envoy-a-1")
	waitSynced(t, e, c, "infra/a")
	c.Reject(resource.RouteType, "bad route")
	good := a
	a.path = "/bad"
	e.publish(t, "infra/a", a.resources())
	e.waitStatus(t, "infra/a", "the NACK", rejected)
	e.publish(t, "infra/a", good.resources())
	if st := e.srv.DataPlaneStatus("infra/a"); st.Rejected != nil || !st.Acked {
		t.Errorf("status after reverting: %+v", st)
	}
}

// connected_clients follows streams; Forget ends the fleet's streams and drops its series; a
// stopping server ends streams rather than waiting for Envoys to hang up.
func TestConnectedClientsForgetAndStop(t *testing.T) {
	e := start(t)
	e.publish(t, "infra/a", specA().resources())
	connected := func(want string) func() bool {
		return func() bool {
			expected := ""
			if want != "" {
				expected = "# HELP flotilla_xds_connected_clients xDS streams open with a verified fleet identity, by fleet.\n" +
					"# TYPE flotilla_xds_connected_clients gauge\n" + want + "\n"
			}
			return testutil.GatherAndCompare(e.reg, strings.NewReader(expected), "flotilla_xds_connected_clients") == nil
		}
	}
	c1 := e.dial(t, "infra/a", "infra/a", "envoy-a-1")
	c2 := e.dial(t, "infra/a", "infra/a", "envoy-a-2")
	eventually(t, "two connected", connected(`flotilla_xds_connected_clients{fleet="infra/a"} 2`))
	waitSynced(t, e, c1, "infra/a")
	if got := testutil.ToFloat64(e.srv.metrics.pushes.WithLabelValues("infra/a", "lds")); got < 1 {
		t.Errorf("pushes{lds} = %v", got)
	}
	if got := testutil.ToFloat64(e.srv.metrics.publishes.WithLabelValues("infra/a")); got != 1 {
		t.Errorf("publishes = %v", got)
	}
	_ = c1.Close()
	eventually(t, "one connected", connected(`flotilla_xds_connected_clients{fleet="infra/a"} 1`))

	e.srv.Forget("infra/a")
	expectEndedWith(t, c2.Done(), c2.Err, "Unavailable")
	eventually(t, "no series left", connected(""))
	if n := testutil.CollectAndCount(e.srv.metrics.pushes); n != 0 {
		t.Errorf("%d pushes series left after Forget", n)
	}
	if v := e.srv.Versions("infra/a"); v != nil {
		t.Errorf("versions after Forget: %v", v)
	}

	// The Envoys reconnect and wait; a new Publish reaches them.
	e.publish(t, "infra/b", specB().resources())
	c3 := e.dial(t, "infra/b", "infra/b", "envoy-b-1")
	waitSynced(t, e, c3, "infra/b")
	if took := e.stop(); took > 5*time.Second {
		t.Errorf("stopping took %v", took)
	}
	expectEndedWith(t, c3.Done(), c3.Err, "")
	if st := e.srv.DataPlaneStatus("infra/b"); st.Connected != 0 {
		t.Errorf("after stopping: %+v", st)
	}
}

func expectEndedWith(t *testing.T, done <-chan struct{}, errOf func() error, code string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream was not ended")
	}
	if err := errOf(); err == nil || code != "" && !strings.Contains(err.Error(), "code = "+code) {
		t.Errorf("stream error %v, want code %q", err, code)
	}
}

// UpToDate counts the Envoys that run the latest configuration; a second Envoy connecting to a
// fleet that is up to date notifies (the counts changed although Acked did not).
func TestUpToDateCountsEnvoys(t *testing.T) {
	e := start(t)
	a := specA()
	e.publish(t, "infra/a", a.resources())
	c1 := e.dial(t, "infra/a", "infra/a", "envoy-a-1")
	waitSynced(t, e, c1, "infra/a")
	e.waitStatus(t, "infra/a", "the first Envoy's ACKs", acked)
	notes := e.notifications("infra/a")
	c2 := e.dial(t, "infra/a", "infra/a", "envoy-a-2")
	waitSynced(t, e, c2, "infra/a")
	st := e.waitStatus(t, "infra/a", "both Envoys up to date", func(st DataPlaneStatus) bool { return st.UpToDate == 2 })
	if st.Connected != 2 || !st.Acked {
		t.Errorf("status %+v", st)
	}
	eventually(t, "a notification of the second Envoy", func() bool { return e.notifications("infra/a") > notes })

	// One Envoy rejects new listeners: it is connected but not up to date.
	c2.Reject(resource.ListenerType, "no")
	a.port = 1
	e.publish(t, "infra/a", a.resources())
	st = e.waitStatus(t, "infra/a", "the NACK", rejected)
	e.waitStatus(t, "infra/a", "one Envoy up to date", func(st DataPlaneStatus) bool { return st.UpToDate == 1 })
	if st.Connected != 2 {
		t.Errorf("status %+v", st)
	}
}

// A stream lives no longer than the certificate that proved it: TLS checks the certificate at the
// handshake only, so the server closes an admitted stream (Unauthenticated) when the certificate
// expires, counts it as certificate_expired, and the stream of a longer-lived certificate stays.
func TestStreamClosedAtCertificateExpiry(t *testing.T) {
	e := start(t)
	e.publish(t, "infra/a", specA().resources())
	certPEM, keyPEM, err := e.ca.IssueFleet("infra", "a", "uid-infra-a", time.Now(), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	short := e.dialWith(t, &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: caPool(e.ca), ServerName: serverName,
		MinVersion: tls.VersionTLS13}, nodeOf("infra/a", "envoy-short"))
	long := e.dial(t, "infra/a", "infra/a", "envoy-long")
	waitSynced(t, e, short, "infra/a")
	waitSynced(t, e, long, "infra/a")
	select {
	case <-short.Done():
		t.Fatalf("the stream ended before its certificate expired: %v", short.Err())
	default:
	}
	select {
	case <-short.Done():
	case <-time.After(time.Until(leaf.NotAfter) + 5*time.Second):
		t.Fatal("the stream outlived its certificate")
	}
	if err := short.Err(); err == nil || !strings.Contains(err.Error(), "code = Unauthenticated") {
		t.Errorf("stream error %v, want Unauthenticated", err)
	}
	if now := time.Now(); now.Before(leaf.NotAfter) {
		t.Errorf("closed at %v, before the certificate expired at %v", now, leaf.NotAfter)
	}
	if got := testutil.ToFloat64(e.srv.metrics.refused.WithLabelValues(ReasonCertificateExpired)); got != 1 {
		t.Errorf("refused{certificate_expired} = %v, want 1", got)
	}
	select {
	case <-long.Done():
		t.Errorf("the stream of a valid certificate ended: %v", long.Err())
	default:
	}
}

// A client NACKing in a loop costs the server a counter per request: the rejected version is not
// sent again (no push), DataPlaneStatus does not move (no notification, no status write), and the
// log has one line for the NACK, not one per request.
func TestNACKLoopIsBounded(t *testing.T) {
	e := start(t)
	var mu sync.Mutex
	logged := 0
	e.srv.log = funcr.New(func(_, args string) {
		if strings.Contains(args, "Envoy rejected its configuration") {
			mu.Lock()
			logged++
			mu.Unlock()
		}
	}, funcr.Options{})
	a := specA()
	e.publish(t, "infra/a", a.resources())
	c := e.dial(t, "infra/a", "infra/a", "envoy-loop")
	waitSynced(t, e, c, "infra/a")
	c.Reject(resource.ListenerType, "bad listener")
	a.port = 1
	e.publish(t, "infra/a", a.resources())
	first := e.waitStatus(t, "infra/a", "the NACK", rejected).Rejected
	notes, responses := e.notifications("infra/a"), c.Responses(resource.ListenerType)

	const loop = 1000
	if err := c.NACKAgain(resource.ListenerType, loop); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every NACK counted", func() bool {
		return testutil.ToFloat64(e.srv.metrics.nacks.WithLabelValues("infra/a", "lds")) == loop+1
	})
	if got := c.Responses(resource.ListenerType); got != responses {
		t.Errorf("the server answered the NACK loop with %d listener responses", got-responses)
	}
	if got := e.notifications("infra/a"); got != notes {
		t.Errorf("%d data-plane status notifications for a repeated NACK", got-notes)
	}
	if st := e.srv.DataPlaneStatus("infra/a"); st.Rejected == nil || !st.Rejected.At.Equal(first.At) {
		t.Errorf("rejection %+v, want the first one's time %v", st.Rejected, first.At)
	}
	mu.Lock()
	defer mu.Unlock()
	if logged != 1 {
		t.Errorf("%d log lines for %d identical NACKs, want 1", logged, loop+1)
	}
}

// When a CA leaves the trust (a rotation retired it), Reauthorize closes the streams opened with
// its certificates, and only those.
func TestReauthorizeClosesStreamsOfARetiredCA(t *testing.T) {
	next := newCA(t)
	var mu sync.Mutex
	var e *env
	retired := false
	e = start(t, func(o *Options) {
		o.ClientCAs = func() (*x509.CertPool, error) {
			pool := caPool(e.ca)
			pool.AddCert(next.Cert)
			return pool, nil
		}
		o.AuthorizeFleet = func(_ string, chain []*x509.Certificate) error {
			mu.Lock()
			defer mu.Unlock()
			if root := chain[len(chain)-1]; retired && root.Equal(e.ca.Cert) {
				return &Refusal{Reason: ReasonUntrustedIssuer, Err: errors.New("retired CA")}
			}
			return nil
		}
	})
	e.publish(t, "infra/a", specA().resources())
	old := e.dial(t, "infra/a", "infra/a", "envoy-old")
	renewed := e.dialWith(t, clientTLS(t, next, e.ca, "infra", "a"), nodeOf("infra/a", "envoy-new"))
	waitSynced(t, e, old, "infra/a")
	waitSynced(t, e, renewed, "infra/a")
	if n := e.srv.Reauthorize(); n != 0 {
		t.Fatalf("Reauthorize closed %d streams while both CAs are trusted", n)
	}
	mu.Lock()
	retired = true
	mu.Unlock()
	if n := e.srv.Reauthorize(); n != 1 {
		t.Fatalf("Reauthorize closed %d streams, want the retired CA's one", n)
	}
	select {
	case <-old.Done():
	case <-within(t).Done():
		t.Fatal("the retired CA's stream is still open")
	}
	if err := old.Err(); err == nil || !strings.Contains(err.Error(), "code = Unauthenticated") {
		t.Errorf("stream error %v, want Unauthenticated", err)
	}
	if got := testutil.ToFloat64(e.srv.metrics.refused.WithLabelValues(ReasonTrustWithdrawn)); got != 1 {
		t.Errorf("refused{trust_withdrawn} = %v, want 1", got)
	}
	select {
	case <-renewed.Done():
		t.Errorf("the new CA's stream ended: %v", renewed.Err())
	default:
	}
}
