package controller

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/pki"
)

func TestFleetTrustScopesIssuersToTheirFleets(t *testing.T) {
	now := time.Now()
	builtin, _, err := pki.NewCA(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issuer, _, err := pki.NewCA(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	trust := &FleetTrust{CA: func() (*pki.CA, error) { return builtin, nil }}
	trust.SetIssuer("team-cm/edge", issuer.CertPEM)

	for _, c := range []struct {
		fleet string
		by    *pki.CA
		ok    bool
	}{
		{"team-cm/edge", issuer, true},
		{"team-cm/edge", builtin, false}, // once cert-manager issues it, Flotilla's CA does not
		{"team-a/web", builtin, true},
		{"team-a/web", issuer, false}, // a team's issuer cannot speak for another fleet
	} {
		err := trust.AuthorizeFleet(c.fleet, []*x509.Certificate{c.by.Cert})
		if (err == nil) != c.ok {
			t.Errorf("fleet %s, issuer %s: err = %v, want ok=%v", c.fleet, c.by.Cert.Subject, err, c.ok)
		}
	}
	pool, err := trust.ClientCAs()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pool.Subjects()); n != 2 { //nolint:staticcheck // counting the pool's CAs
		t.Errorf("client CA pool has %d CAs, want Flotilla's and the issuer's", n)
	}
	trust.SetIssuer("team-cm/edge", nil)
	if err := trust.AuthorizeFleet("team-cm/edge", []*x509.Certificate{builtin.Cert}); err != nil {
		t.Errorf("after the issuer is gone, Flotilla's CA is trusted again: %v", err)
	}
}
