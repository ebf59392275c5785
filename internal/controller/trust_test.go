package controller

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/xds/server"
)

// leaf issues a fleet certificate from ca and returns its chain (leaf, root).
func leaf(t *testing.T, ca *pki.CA, ns, name, uid string) []*x509.Certificate {
	t.Helper()
	crt, _, err := ca.IssueFleet(ns, name, uid, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.ParseCert(crt)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{c, ca.Cert}
}

func TestFleetTrust(t *testing.T) {
	now := time.Now()
	builtin, _, err := pki.NewCA(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issuer, _, err := pki.NewCA(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	team, _, err := pki.NewCA(now, time.Hour) // a CA a team made itself
	if err != nil {
		t.Fatal(err)
	}
	next, _, err := pki.NewCA(now, time.Hour) // the CA a rotation introduces
	if err != nil {
		t.Fatal(err)
	}
	trust := &FleetTrust{Trusted: func() ([]*x509.Certificate, error) { return []*x509.Certificate{builtin.Cert, next.Cert}, nil }}
	trust.Admit("team-a/web", "uid-a", false, nil)
	trust.Admit("team-cm/edge", "uid-cm", true, []*x509.Certificate{issuer.Cert})
	trust.Admit("team-empty/edge", "uid-e", true, nil) // a class whose caBundle could not be read

	for _, c := range []struct {
		name   string
		fleet  string
		chain  []*x509.Certificate
		reason string // "" admitted
	}{
		{"Flotilla's CA for a built-in fleet", "team-a/web", leaf(t, builtin, "team-a", "web", "uid-a"), ""},
		{"the next CA of a rotation's trust bundle", "team-a/web", leaf(t, next, "team-a", "web", "uid-a"), ""},
		{"a team's own CA", "team-a/web", leaf(t, team, "team-a", "web", "uid-a"), server.ReasonUntrustedIssuer},
		{"the class's issuer for its fleet", "team-cm/edge", leaf(t, issuer, "team-cm", "edge", "uid-cm"), ""},
		{"Flotilla's CA once cert-manager issues", "team-cm/edge", leaf(t, builtin, "team-cm", "edge", "uid-cm"), server.ReasonUntrustedIssuer},
		{"Flotilla's next CA once cert-manager issues", "team-cm/edge", leaf(t, next, "team-cm", "edge", "uid-cm"), server.ReasonUntrustedIssuer},
		{"an issuer for another class's fleet", "team-a/web", leaf(t, issuer, "team-a", "web", "uid-a"), server.ReasonUntrustedIssuer},
		{"no issuer trusted: nothing is", "team-empty/edge", leaf(t, builtin, "team-empty", "edge", "uid-e"), server.ReasonUntrustedIssuer},
		{"a deleted Gateway's certificate", "team-a/web", leaf(t, builtin, "team-a", "web", "uid-old"), server.ReasonInstanceMismatch},
		{"a certificate bound to no instance", "team-a/web", leaf(t, builtin, "team-a", "web", ""), server.ReasonInstanceMismatch},
		{"a fleet that is not admitted", "team-b/web", leaf(t, builtin, "team-b", "web", "uid-b"), server.ReasonUnknownFleet},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := trust.AuthorizeFleet(c.fleet, c.chain)
			var r *server.Refusal
			switch {
			case c.reason == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.reason != "" && (!errors.As(err, &r) || r.Reason != c.reason):
				t.Errorf("err = %v, want a refusal with reason %s", err, c.reason)
			}
		})
	}

	pool, err := trust.ClientCAs()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pool.Subjects()); n != 3 { //nolint:staticcheck // counting the pool's CAs
		t.Errorf("client CA pool has %d CAs, want Flotilla's two (a rotation's) and the class's issuer", n)
	}

	// A new instance of the same Gateway replaces the old one (whose streams the caller closes);
	// re-admitting the same instance replaces nothing.
	if trust.Admit("team-a/web", "uid-a", false, nil) {
		t.Error("re-admitting the same instance reported a replacement")
	}
	if !trust.Admit("team-a/web", "uid-a2", false, nil) {
		t.Error("admitting a new instance did not report the replacement")
	}
	if err := trust.AuthorizeFleet("team-a/web", leaf(t, builtin, "team-a", "web", "uid-a")); err == nil {
		t.Error("the replaced instance's certificate is still admitted")
	}
	trust.Revoke("team-a/web")
	if err := trust.AuthorizeFleet("team-a/web", leaf(t, builtin, "team-a", "web", "uid-a2")); err == nil {
		t.Error("a revoked fleet's certificate is still admitted")
	}
}
