package controller

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/xds/server"
)

// FleetTrust says whom the xDS server trusts to speak for which fleet. Its only sources are what
// the platform admin controls:
//
//   - Flotilla's built-in CA (a Secret in the operator's namespace), for fleets whose class names no
//     cert-manager issuer: every CA of its trust bundle, which during a rotation holds the next or
//     the previous CA too (CARotation);
//   - the CABundle of the FleetClass's cert-manager issuer, for the fleets of that class alone.
//
// Nothing in a team's namespace (the fleet Secret's ca.crt, its annotations) is ever a source of
// trust. A fleet is served only while its Gateway is admitted (Admit: Flotilla's class, within its
// tenancy limits), and only to certificates bound to that Gateway instance (its UID, as a
// urn:uuid: URI SAN), so a deleted Gateway's certificates open nothing, not even a re-created
// Gateway of the same name.
type FleetTrust struct {
	// Trusted is Flotilla's built-in CA's trust bundle: the signing CA and, during a rotation, the
	// next or previous one.
	Trusted func() ([]*x509.Certificate, error)

	mu     sync.RWMutex
	fleets map[string]fleetAdmission // fleet key → what may speak for it
}

// fleetAdmission is what may speak for one admitted fleet.
type fleetAdmission struct {
	uid string
	// certManager says the class names a cert-manager issuer: only issuers are trusted (an empty
	// list trusts nothing), never Flotilla's CA.
	certManager bool
	issuers     []*x509.Certificate
}

// Admit records that the Gateway instance uid may have its fleet served, to certificates issued by
// Flotilla's CA or, when certManager, by one of issuers (the FleetClass's caBundle). It reports
// whether the fleet was admitted for another instance before: that instance's open streams must be
// closed (the caller forgets the fleet's snapshot, which ends them).
func (t *FleetTrust) Admit(fleet, uid string, certManager bool, issuers []*x509.Certificate) (replaced bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fleets == nil {
		t.fleets = map[string]fleetAdmission{}
	}
	prev, had := t.fleets[fleet]
	t.fleets[fleet] = fleetAdmission{uid: uid, certManager: certManager, issuers: issuers}
	return had && prev.uid != uid
}

// Revoke stops trusting anything for the fleet: its Gateway is gone, refused or not Flotilla's.
func (t *FleetTrust) Revoke(fleet string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fleets, fleet)
}

// ClientCAs is every CA a fleet certificate may chain to (for the TLS handshake): Flotilla's CA and
// the issuers of admitted cert-manager fleets. Which CA may speak for which fleet is
// AuthorizeFleet's decision.
func (t *FleetTrust) ClientCAs() (*x509.CertPool, error) {
	builtin, err := t.Trusted()
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range builtin {
		pool.AddCert(c)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, a := range t.fleets {
		for _, c := range a.issuers {
			pool.AddCert(c)
		}
	}
	return pool, nil
}

// AuthorizeFleet accepts a verified chain (leaf first) for a fleet only when the fleet is admitted,
// the chain ends at a CA trusted for that fleet, and the leaf is bound to the admitted Gateway
// instance. Refusals are *server.Refusal with the reason the server logs and counts.
func (t *FleetTrust) AuthorizeFleet(fleet string, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("empty certificate chain")
	}
	leaf, root := chain[0], chain[len(chain)-1]
	t.mu.RLock()
	a, ok := t.fleets[fleet]
	t.mu.RUnlock()
	if !ok {
		return &server.Refusal{Reason: server.ReasonUnknownFleet,
			Err: fmt.Errorf("fleet %s is not served: no Gateway of a Flotilla class by that name is admitted", fleet)}
	}
	if a.certManager {
		trusted := false
		for _, c := range a.issuers {
			trusted = trusted || root.Equal(c)
		}
		if !trusted {
			return &server.Refusal{Reason: server.ReasonUntrustedIssuer,
				Err: fmt.Errorf("fleet %s's certificate must chain to its FleetClass's cert-manager caBundle; it chains to %q", fleet, root.Subject)}
		}
	} else {
		builtin, err := t.Trusted()
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(builtin, root.Equal) {
			return &server.Refusal{Reason: server.ReasonUntrustedIssuer,
				Err: fmt.Errorf("fleet %s's certificate must be issued by Flotilla's CA; it chains to %q", fleet, root.Subject)}
		}
	}
	if uid, _ := pki.InstanceFromCert(leaf); uid != a.uid {
		return &server.Refusal{Reason: server.ReasonInstanceMismatch,
			Err: fmt.Errorf("certificate (serial %s) is bound to Gateway instance %q, the fleet's Gateway is %q", leaf.SerialNumber, uid, a.uid)}
	}
	return nil
}
