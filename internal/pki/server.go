package pki

import (
	"crypto/tls"
	"fmt"
	"sync"
	"time"
)

// ServerCredentials gives a TLS server (the xDS server) its certificate, issued by the CA that
// Load returns: on first use, and again once it passes RenewAt, so a long-running server rotates
// without a restart.
type ServerCredentials struct {
	// Load returns the CA (read from its Secret, or made, by the caller).
	Load     func() (*CA, error)
	DNSNames []string
	Lifetime time.Duration
	Now      func() time.Time

	mu      sync.Mutex
	ca      *CA
	cert    *tls.Certificate
	renewAt time.Time
}

func (s *ServerCredentials) loadCA() (*CA, error) {
	if s.ca == nil {
		ca, err := s.Load()
		if err != nil {
			return nil, fmt.Errorf("loading the CA: %w", err)
		}
		s.ca = ca
	}
	return s.ca, nil
}

// GetCertificate suits tls.Config.GetCertificate.
func (s *ServerCredentials) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	if s.cert != nil && now.Before(s.renewAt) {
		return s.cert, nil
	}
	ca, err := s.loadCA()
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.IssueServer(s.DNSNames, now, s.Lifetime)
	if err != nil {
		return nil, fmt.Errorf("issuing the server certificate: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	s.cert, s.renewAt = &pair, RenewAt(pair.Leaf)
	return s.cert, nil
}
