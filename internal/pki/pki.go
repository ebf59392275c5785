// Package pki is Flotilla's built-in certificate authority: it makes and loads the CA, issues each
// fleet its client certificate (URI SAN naming the fleet) and the xDS server its serving certificate.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"
)

// Secret data keys, as kubernetes.io/tls Secrets and cert-manager name them.
const (
	KeyCert = "tls.crt"
	KeyKey  = "tls.key"
	KeyCA   = "ca.crt"
)

// fleetURIPrefix is the URI SAN prefix of fleet identities: spiffe://flotilla/fleet/<ns>/<name>.
const fleetURIPrefix = "spiffe://flotilla/fleet/"

// clockSkew backdates NotBefore so a freshly issued certificate is valid on nodes whose clocks lag:
// by 5 minutes, or a tenth of the lifetime when that is shorter, so that the renewal time
// (RenewAt, two thirds from NotBefore) stays in the future for short lifetimes too.
const clockSkew = 5 * time.Minute

func skew(lifetime time.Duration) time.Duration { return min(clockSkew, lifetime/10) }

// CA signs fleet and server certificates.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     crypto.Signer
}

// NewCA makes a self-signed CA valid for lifetime and returns it with its PEM key.
func NewCA(now time.Time, lifetime time.Duration) (*CA, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "flotilla-ca", Organization: []string{"Flotilla"}},
		NotBefore:             now.Add(-skew(lifetime)),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing CA certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	ca, err := LoadCA(encodeCert(der), keyPEM)
	return ca, keyPEM, err
}

// LoadCA reads a CA from PEM certificate and key.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("CA certificate is not a CA")
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("CA key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("CA key cannot sign")
	}
	return &CA{Cert: cert, CertPEM: certPEM, key: signer}, nil
}

// instanceURIPrefix is the URI SAN prefix that binds a fleet certificate to one Gateway instance:
// urn:uuid:<Gateway UID> (Kubernetes UIDs are RFC 4122 UUIDs). A Gateway deleted and re-created
// under the same name has a new UID, so the old instance's certificates no longer open its fleet.
const instanceURIPrefix = "urn:uuid:"

// InstanceURI is the URI SAN binding a certificate to the Gateway instance with this UID.
func InstanceURI(uid string) string { return instanceURIPrefix + uid }

// InstanceFromCert returns the Gateway UID a certificate is bound to ("" and false when none).
// A certificate naming two instances is bound to none.
func InstanceFromCert(cert *x509.Certificate) (string, bool) {
	var uid string
	for _, u := range cert.URIs {
		if rest, ok := strings.CutPrefix(u.String(), instanceURIPrefix); ok && rest != "" {
			if uid != "" && uid != rest {
				return "", false
			}
			uid = rest
		}
	}
	return uid, uid != ""
}

// FleetURI is the identity of the fleet of Gateway namespace/name.
func FleetURI(namespace, name string) string {
	return fleetURIPrefix + namespace + "/" + name
}

// FleetFromCert returns the fleet key (namespace/name) a certificate's URI SAN names.
func FleetFromCert(cert *x509.Certificate) (string, bool) {
	for _, u := range cert.URIs {
		s := u.String()
		if rest, ok := strings.CutPrefix(s, fleetURIPrefix); ok {
			if ns, name, ok := strings.Cut(rest, "/"); ok && ns != "" && name != "" && !strings.Contains(name, "/") {
				return ns + "/" + name, true
			}
		}
	}
	return "", false
}

// IssueFleet issues the client certificate of the fleet of Gateway namespace/name, bound to the
// Gateway instance uid (an empty uid binds it to none, which the xDS server refuses).
func (ca *CA) IssueFleet(namespace, name, uid string, now time.Time, lifetime time.Duration) (certPEM, keyPEM []byte, err error) {
	uris := []string{FleetURI(namespace, name)}
	if uid != "" {
		uris = append(uris, InstanceURI(uid))
	}
	var parsed []*url.URL
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			return nil, nil, err
		}
		parsed = append(parsed, u)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: namespace + "/" + name, Organization: []string{"Flotilla fleet"}},
		URIs:        parsed,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.issue(tmpl, now, lifetime)
}

// IssueServer issues a serving certificate for the given DNS names (the xDS server's).
func (ca *CA) IssueServer(dnsNames []string, now time.Time, lifetime time.Duration) (certPEM, keyPEM []byte, err error) {
	if len(dnsNames) == 0 {
		return nil, nil, errors.New("a server certificate needs at least one DNS name")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: dnsNames[0], Organization: []string{"Flotilla"}},
		DNSNames:    dnsNames,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return ca.issue(tmpl, now, lifetime)
}

func (ca *CA) issue(tmpl *x509.Certificate, now time.Time, lifetime time.Duration) ([]byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	if tmpl.SerialNumber, err = serialNumber(); err != nil {
		return nil, nil, err
	}
	tmpl.NotAfter = now.Add(lifetime)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter // never outlive the CA
	}
	tmpl.NotBefore = now.Add(-skew(tmpl.NotAfter.Sub(now)))
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

// RenewAt is when a certificate should be replaced: two thirds into its validity.
func RenewAt(cert *x509.Certificate) time.Time {
	return cert.NotBefore.Add(cert.NotAfter.Sub(cert.NotBefore) * 2 / 3)
}

// ParseCert parses the first certificate of a PEM bundle.
func ParseCert(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// Verify checks that certPEM was signed by the CA, is valid at now, names the expected fleet
// (empty fleet: any) and is bound to the Gateway instance uid (empty uid: any). It is how a holder
// of a certificate decides whether to keep it.
func (ca *CA) Verify(certPEM []byte, now time.Time, fleet, uid string) error {
	cert, err := ParseCert(certPEM)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return err
	}
	if fleet != "" {
		if got, ok := FleetFromCert(cert); !ok || got != fleet {
			return fmt.Errorf("certificate names fleet %q, want %q", got, fleet)
		}
	}
	if uid != "" {
		if got, _ := InstanceFromCert(cert); got != uid {
			return fmt.Errorf("certificate is bound to Gateway instance %q, want %q", got, uid)
		}
	}
	return nil
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return n, nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseCertificates parses the CERTIFICATE blocks of PEM data and skips other blocks (a CRL, a
// key: Envoy skips them too). Every certificate must parse, and there must be one at least.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d does not parse: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("holds no PEM certificate")
	}
	return out, nil
}

// EncodeCertificates is the PEM bundle of certs, in order.
func EncodeCertificates(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, encodeCert(c.Raw)...)
	}
	return out
}
