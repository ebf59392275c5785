package pki

import (
	"crypto/tls"
	"fmt"
	"sync"
	"time"
)

// ServerCredentials gives a TLS server (the xDS server) its certificate, issued by the CA that
// Load returns: on first use, again once it passes RenewAt, and again when Load returns another
// CA (a rotation), so a long-running server rotates without a restart.
type ServerCredentials struct {
	// Load returns the CA that signs now (read from its Secret, or made, by the caller); it is
	// called on every handshake and must be cheap.
	Load     func() (*CA, error)
	DNSNames []string
	Lifetime time.Duration
	Now      func() time.Time

	mu      sync.Mutex
	ca      *CA
	cert    *tls.Certificate
	renewAt time.Time
}

// GetCertificate suits tls.Config.GetCertificate.
func (s *ServerCredentials) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	ca, err := s.Load()
	if err != nil {
		if s.cert != nil && now.Before(s.renewAt) {
			return s.cert, nil // the CA Secret is unreadable for now: keep serving what we have
		}
		return nil, fmt.Errorf("loading the CA: %w", err)
	}
	if s.cert != nil && now.Before(s.renewAt) && s.ca != nil && s.ca.Cert.Equal(ca.Cert) {
		return s.cert, nil
	}
	certPEM, keyPEM, err := ca.IssueServer(s.DNSNames, now, s.Lifetime)
	if err != nil {
		return nil, fmt.Errorf("issuing the server certificate: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	s.ca, s.cert, s.renewAt = ca, &pair, RenewAt(pair.Leaf)
	return s.cert, nil
}
