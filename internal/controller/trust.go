package controller

import (
	"crypto/x509"
	"errors"
	"fmt"
	"sync"

	"github.com/flotilla-dev/flotilla/internal/pki"
)

// FleetTrust says whom the xDS server trusts to speak for which fleet: Flotilla's CA for the
// fleets it issues certificates to, and a fleet's cert-manager issuer (the CA cert-manager puts in
// the fleet Secret's ca.crt) for that fleet alone. A team's Issuer therefore cannot mint a
// certificate that opens another team's fleet, though the TLS handshake accepts every issuer.
type FleetTrust struct {
	// CA is Flotilla's built-in CA.
	CA func() (*pki.CA, error)

	mu      sync.RWMutex
	issuers map[string][]*x509.Certificate // fleet key → its cert-manager issuer's CA certificates
}

// SetIssuer records the CA bundle (PEM) of the cert-manager issuer of a fleet's certificate; an
// empty bundle means Flotilla's CA issues it.
func (t *FleetTrust) SetIssuer(fleet string, caPEM []byte) {
	// With no usable certificate the fleet falls back to Flotilla's CA, which its cert-manager
	// certificate then fails, as it should.
	certs, _ := pki.ParseCertificates(caPEM)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(certs) == 0 {
		delete(t.issuers, fleet)
		return
	}
	if t.issuers == nil {
		t.issuers = map[string][]*x509.Certificate{}
	}
	t.issuers[fleet] = certs
}

// ClientCAs is every CA a fleet certificate may chain to (for the TLS handshake).
func (t *FleetTrust) ClientCAs() (*x509.CertPool, error) {
	ca, err := t.CA()
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, certs := range t.issuers {
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	return pool, nil
}

// AuthorizeFleet accepts a verified chain (leaf first) for a fleet only when it ends at the CA
// trusted for that fleet.
func (t *FleetTrust) AuthorizeFleet(fleet string, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("empty certificate chain")
	}
	root := chain[len(chain)-1]
	t.mu.RLock()
	issuers, ok := t.issuers[fleet]
	t.mu.RUnlock()
	if ok {
		for _, c := range issuers {
			if root.Equal(c) {
				return nil
			}
		}
		return fmt.Errorf("fleet %s's certificate must be issued by its cert-manager issuer", fleet)
	}
	ca, err := t.CA()
	if err != nil {
		return err
	}
	if !root.Equal(ca.Cert) {
		return fmt.Errorf("fleet %s's certificate must be issued by Flotilla's CA", fleet)
	}
	return nil
}
