package pki

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

const testUID = "3f0c2a1e-5b7d-4c2e-9a61-0d2b8e4f7a10"

func TestFleetCertificateRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ca, caKey, err := NewCA(now, 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The CA reloads from its PEM form (as from its Secret after a restart).
	reloaded, err := LoadCA(ca.CertPEM, caKey)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := reloaded.IssueFleet("team-a", "web", testUID, now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("certificate and key do not match: %v", err)
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if fleet, ok := FleetFromCert(cert); !ok || fleet != "team-a/web" {
		t.Fatalf("FleetFromCert = %q, %v", fleet, ok)
	}
	if got := cert.URIs[0].String(); got != "spiffe://flotilla/fleet/team-a/web" {
		t.Errorf("URI SAN = %s", got)
	}
	if uid, ok := InstanceFromCert(cert); !ok || uid != testUID || cert.URIs[1].String() != "urn:uuid:"+testUID {
		t.Errorf("InstanceFromCert = %q, %v (URIs %v)", uid, ok, cert.URIs)
	}
	if err := ca.Verify(certPEM, now, "team-a/web", testUID); err != nil {
		t.Errorf("verify: %v", err)
	}
	// The same name, another instance (a Gateway deleted and re-created): not this one's.
	if err := ca.Verify(certPEM, now, "team-a/web", "another-uid"); err == nil || !strings.Contains(err.Error(), "Gateway instance") {
		t.Errorf("a certificate of another Gateway instance must not verify: %v", err)
	}
	if err := ca.Verify(certPEM, now, "team-b/web", ""); err == nil || !strings.Contains(err.Error(), `names fleet "team-a/web"`) {
		t.Errorf("a certificate of another fleet must not verify: %v", err)
	}
	if err := ca.Verify(certPEM, now.Add(25*time.Hour), "", ""); err == nil {
		t.Error("an expired certificate must not verify")
	}
	other, _, _ := NewCA(now, time.Hour)
	if err := other.Verify(certPEM, now, "", ""); err == nil {
		t.Error("a certificate of another CA must not verify")
	}
	// Renewal two thirds in: 24h lifetime backdated by 5m → renew 16h after NotBefore.
	if want := cert.NotBefore.Add(cert.NotAfter.Sub(cert.NotBefore) * 2 / 3); !RenewAt(cert).Equal(want) || !RenewAt(cert).After(now.Add(15*time.Hour)) {
		t.Errorf("RenewAt = %v", RenewAt(cert))
	}
}

func TestIssuedCertificatesNeverOutliveTheCA(t *testing.T) {
	now := time.Now()
	ca, _, err := NewCA(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := ca.IssueServer([]string{"flotilla-xds.flotilla-system.svc"}, now, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := ParseCert(certPEM)
	if cert.NotAfter.After(ca.Cert.NotAfter) {
		t.Errorf("server certificate expires %v after the CA %v", cert.NotAfter, ca.Cert.NotAfter)
	}
	if cert.DNSNames[0] != "flotilla-xds.flotilla-system.svc" {
		t.Errorf("DNS names %v", cert.DNSNames)
	}
	if _, _, err := ca.IssueServer(nil, now, time.Hour); err == nil {
		t.Error("a server certificate without names must be refused")
	}
}

func TestFleetFromCertRejectsMalformedURIs(t *testing.T) {
	now := time.Now()
	ca, _, _ := NewCA(now, time.Hour)
	for _, bad := range [][2]string{{"", "web"}, {"team-a", ""}} {
		certPEM, _, err := ca.IssueFleet(bad[0], bad[1], testUID, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := ParseCert(certPEM)
		if fleet, ok := FleetFromCert(cert); ok {
			t.Errorf("%v: FleetFromCert accepted %q", bad, fleet)
		}
	}
}

func TestServerCredentialsRotate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, _, err := NewCA(now, 24*time.Hour*365)
	if err != nil {
		t.Fatal(err)
	}
	current := ca
	s := &ServerCredentials{Load: func() (*CA, error) { return current, nil },
		DNSNames: []string{"flotilla-xds.flotilla-system.svc"}, Lifetime: 24 * time.Hour, Now: func() time.Time { return now }}
	first, err := s.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := first.Leaf.DNSNames; len(got) != 1 || got[0] != "flotilla-xds.flotilla-system.svc" {
		t.Fatalf("DNS names = %v", got)
	}
	again, _ := s.GetCertificate(nil)
	if again != first {
		t.Fatal("certificate re-issued before its renewal time")
	}
	now = now.Add(17 * time.Hour) // past two thirds of a day
	renewed, err := s.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if renewed == first || !renewed.Leaf.NotAfter.After(first.Leaf.NotAfter) {
		t.Fatal("certificate not renewed after its renewal time")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := renewed.Leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, DNSName: "flotilla-xds.flotilla-system.svc"}); err != nil {
		t.Fatalf("server certificate does not chain to the CA: %v", err)
	}

	// A rotated CA: the next handshake gets a certificate from the new CA, though the current
	// one is not due for renewal.
	next, _, err := NewCA(now, 24*time.Hour*365)
	if err != nil {
		t.Fatal(err)
	}
	current = next
	rotated, err := s.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if rotated == renewed {
		t.Fatal("certificate not re-issued after the CA changed")
	}
	nextPool := x509.NewCertPool()
	nextPool.AddCert(next.Cert)
	if _, err := rotated.Leaf.Verify(x509.VerifyOptions{Roots: nextPool, CurrentTime: now, DNSName: "flotilla-xds.flotilla-system.svc"}); err != nil {
		t.Fatalf("server certificate after rotation does not chain to the new CA: %v", err)
	}
	if again, _ := s.GetCertificate(nil); again != rotated {
		t.Fatal("certificate re-issued again with the same CA")
	}
}

// A short-lived CA still gives its certificates a renewal time in the future: the clock-skew
// backdating shrinks with the lifetime (a tenth of it), else a minute-long CA would be due for
// renewal from birth.
func TestShortLifetimesRenewInTheFuture(t *testing.T) {
	now := time.Now()
	ca, _, err := NewCA(now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if at := RenewAt(ca.Cert); !at.After(now) {
		t.Fatalf("a one-minute CA is due for renewal at %v, not after now %v", at, now)
	}
	later := now.Add(40 * time.Second) // 20 s left of the CA's life
	crt, _, err := ca.IssueFleet("ns", "gw", "uid", later, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCert(crt)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Fatalf("fleet certificate outlives its CA: %v > %v", cert.NotAfter, ca.Cert.NotAfter)
	}
	if at := RenewAt(cert); !at.After(later) {
		t.Fatalf("a certificate clamped to its CA's last 20 s is due for renewal at %v, before it was issued (%v)", at, later)
	}
}
