package controller

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"sync"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

// DefaultCALifetime is the built-in CA's lifetime. At two thirds of it (pki.RenewAt) the CA is
// rotated (CARotation).
const DefaultCALifetime = 5 * 365 * 24 * time.Hour

// Keys of the CA Secret besides tls.crt and tls.key (the CA that signs).
const (
	// KeyTrustBundle is every CA that fleets and the xDS server trust (PEM): the signing CA and,
	// during a rotation, the next one or the previous one. Absent: the signing CA alone.
	KeyTrustBundle = "ca-bundle.crt"
	// KeyNextCert and KeyNextKey hold the next CA while the trust bundle that names it reaches
	// the fleets (phase TrustDistributing).
	KeyNextCert = "next.crt"
	KeyNextKey  = "next.key"
)

// Certificates gives fleets their client certificates: from Flotilla's built-in CA (kept in a
// Secret in the operator's namespace, made on first use and reused after), or through cert-manager
// when the FleetClass names an issuer. The CA Secret is read once and again on Refresh (every
// replica refreshes it periodically, see CARefresh), so a rotation the leader writes reaches every
// replica's xDS server and fleets.
type Certificates struct {
	Client client.Client
	// Reader reads the CA Secret uncached (the cache may not watch the operator namespace yet).
	Reader client.Reader
	// Namespace and SecretName locate the CA Secret.
	Namespace  string
	SecretName string
	Now        func() time.Time
	// Lifetime is the lifetime of the CAs it makes; zero is DefaultCALifetime.
	Lifetime time.Duration

	mu    sync.Mutex
	state *caState
}

// caState is what the CA Secret says: the CA that signs, and every CA that is trusted.
type caState struct {
	signer   *pki.CA
	trust    []*x509.Certificate
	trustPEM []byte
	// resourceVersion is the Secret's, so that Refresh parses only what changed.
	resourceVersion string
}

func (c *Certificates) lifetime() time.Duration {
	if c.Lifetime > 0 {
		return c.Lifetime
	}
	return DefaultCALifetime
}

// CA returns the built-in CA that signs, creating its Secret on first use.
func (c *Certificates) CA(ctx context.Context) (*pki.CA, error) {
	st, err := c.load(ctx)
	if err != nil {
		return nil, err
	}
	return st.signer, nil
}

// Trusted returns every CA trusted now (the trust bundle) and its PEM, which fleets verify the
// xDS server against and the xDS server verifies fleets against.
func (c *Certificates) Trusted(ctx context.Context) ([]*x509.Certificate, []byte, error) {
	st, err := c.load(ctx)
	if err != nil {
		return nil, nil, err
	}
	return st.trust, st.trustPEM, nil
}

// TrustPEM is Trusted's PEM alone.
func (c *Certificates) TrustPEM(ctx context.Context) ([]byte, error) {
	_, pem, err := c.Trusted(ctx)
	return pem, err
}

func (c *Certificates) load(ctx context.Context) (*caState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != nil {
		return c.state, nil
	}
	if _, err := c.refreshLocked(ctx); err != nil {
		return nil, err
	}
	return c.state, nil
}

// Refresh reads the CA Secret again and reports whether the signing CA or the trust bundle
// changed.
func (c *Certificates) Refresh(ctx context.Context) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refreshLocked(ctx)
}

func (c *Certificates) refreshLocked(ctx context.Context) (bool, error) {
	key := client.ObjectKey{Namespace: c.Namespace, Name: c.SecretName}
	s := &corev1.Secret{}
	err := c.Reader.Get(ctx, key, s)
	if apierrors.IsNotFound(err) {
		ca, caKey, err := pki.NewCA(c.Now(), c.lifetime())
		if err != nil {
			return false, err
		}
		s = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: c.SecretName, Namespace: c.Namespace,
				Labels: map[string]string{provisioner.LabelManagedBy: provisioner.ManagedByValue}},
			Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{pki.KeyCert: ca.CertPEM, pki.KeyKey: caKey},
		}
		if err := c.Client.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
			return false, fmt.Errorf("creating CA Secret %s: %w", key, err)
		} else if err != nil {
			if err := c.Reader.Get(ctx, key, s); err != nil { // another replica made it first
				return false, fmt.Errorf("reading CA Secret %s: %w", key, err)
			}
		}
	} else if err != nil {
		return false, fmt.Errorf("reading CA Secret %s: %w", key, err)
	}
	if c.state != nil && s.ResourceVersion != "" && s.ResourceVersion == c.state.resourceVersion {
		return false, nil
	}
	st, err := caStateOf(s)
	if err != nil {
		return false, fmt.Errorf("CA Secret %s: %w", key, err)
	}
	changed := c.state == nil || !c.state.signer.Cert.Equal(st.signer.Cert) || string(c.state.trustPEM) != string(st.trustPEM)
	c.state = st
	observeCertificate(CertKindCA, "", st.signer.Cert)
	return changed, nil
}

// caStateOf reads a CA Secret: the signing CA from tls.crt/tls.key, the trust bundle from
// KeyTrustBundle (the signing CA alone when absent; always including it).
func caStateOf(s *corev1.Secret) (*caState, error) {
	signer, err := pki.LoadCA(s.Data[pki.KeyCert], s.Data[pki.KeyKey])
	if err != nil {
		return nil, err
	}
	st := &caState{signer: signer, resourceVersion: s.ResourceVersion}
	if b := s.Data[KeyTrustBundle]; len(b) > 0 {
		if st.trust, err = pki.ParseCertificates(b); err != nil {
			return nil, fmt.Errorf("%s: %w", KeyTrustBundle, err)
		}
	}
	if !slices.ContainsFunc(st.trust, signer.Cert.Equal) {
		st.trust = append([]*x509.Certificate{signer.Cert}, st.trust...)
	}
	st.trustPEM = pki.EncodeCertificates(st.trust)
	return st, nil
}

// FleetSecret returns the desired fleet Secret for the built-in CA: the certificate already in the
// live Secret when it is still good (signed by the CA, names this fleet, not yet two thirds
// through its life, bound to this Gateway instance), else a new one. renewAt is when to look again.
func (c *Certificates) FleetSecret(ctx context.Context, gw *gwapiv1.Gateway, p provisioner.Params) (*corev1.Secret, time.Time, error) {
	ca, err := c.CA(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := c.Now()
	fleet := provisioner.FleetKey(gw)
	desired := provisioner.Secret(gw, p)
	live := &corev1.Secret{}
	if err := c.Client.Get(ctx, client.ObjectKeyFromObject(desired), live); err == nil {
		certPEM := live.Data[pki.KeyCert]
		if ca.Verify(certPEM, now, fleet, string(gw.UID)) == nil {
			if cert, err := pki.ParseCert(certPEM); err == nil && now.Before(pki.RenewAt(cert)) {
				desired.Data[pki.KeyCert], desired.Data[pki.KeyKey] = certPEM, live.Data[pki.KeyKey]
				desired.Data[pki.KeyCA] = ca.CertPEM
				observeCertificate(CertKindFleet, fleet, cert)
				return desired, pki.RenewAt(cert), nil
			}
		}
	} else if !apierrors.IsNotFound(err) {
		return nil, time.Time{}, err
	}
	certPEM, keyPEM, err := ca.IssueFleet(gw.Namespace, gw.Name, string(gw.UID), now, p.CertificateLifetime)
	if err != nil {
		return nil, time.Time{}, err
	}
	cert, err := pki.ParseCert(certPEM)
	if err != nil {
		return nil, time.Time{}, err
	}
	desired.Data[pki.KeyCert], desired.Data[pki.KeyKey], desired.Data[pki.KeyCA] = certPEM, keyPEM, ca.CertPEM
	observeCertificate(CertKindFleet, fleet, cert)
	return desired, pki.RenewAt(cert), nil
}

// FleetCertificate is the cert-manager Certificate that fills the fleet Secret when the FleetClass
// names an issuer. cert-manager renews it itself at two thirds of its life.
func FleetCertificate(gw *gwapiv1.Gateway, p provisioner.Params) *cmapi.Certificate {
	secret := provisioner.Secret(gw, p)
	ref := p.CertManager.IssuerRef
	return &cmapi.Certificate{
		TypeMeta: metav1.TypeMeta{APIVersion: cmapi.SchemeGroupVersion.String(), Kind: cmapi.CertificateKind},
		ObjectMeta: metav1.ObjectMeta{Name: secret.Name, Namespace: secret.Namespace, Labels: secret.Labels,
			Annotations: secret.Annotations},
		Spec: cmapi.CertificateSpec{
			SecretName:     secret.Name,
			SecretTemplate: &cmapi.CertificateSecretTemplate{Labels: secret.Labels},
			CommonName:     provisioner.FleetKey(gw),
			// The fleet's identity, and the Gateway instance it is bound to (see FleetTrust).
			URIs:        []string{pki.FleetURI(gw.Namespace, gw.Name), pki.InstanceURI(string(gw.UID))},
			Duration:    &metav1.Duration{Duration: p.CertificateLifetime},
			RenewBefore: &metav1.Duration{Duration: p.CertificateLifetime / 3},
			Usages:      []cmapi.KeyUsage{cmapi.UsageDigitalSignature, cmapi.UsageClientAuth},
			PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256,
				RotationPolicy: cmapi.RotationPolicyAlways},
			IssuerRef: cmmeta.IssuerReference{Name: ref.Name, Kind: ref.Kind, Group: ref.Group},
		},
	}
}

// BackendClientCertificate is the cert-manager Certificate of the client certificate the fleet
// presents to TLS backends (FleetClass certificates.certManager.backendClientCertificates).
func BackendClientCertificate(gw *gwapiv1.Gateway, p provisioner.Params) *cmapi.Certificate {
	c := FleetCertificate(gw, p)
	name := provisioner.BackendClientSecretName(gw)
	c.Name, c.Spec.SecretName = name, name
	return c
}

// wantsManagedBackendClientCertificate says whether the fleet gets a cert-manager-issued backend
// client certificate: the class asks for them and the Gateway names none of its own.
func wantsManagedBackendClientCertificate(gw *gwapiv1.Gateway, p provisioner.Params) bool {
	return p.CertManager != nil && p.CertManager.BackendClientCertificates &&
		(gw.Spec.TLS == nil || gw.Spec.TLS.Backend == nil || gw.Spec.TLS.Backend.ClientCertificateRef == nil)
}

// certManagerSecretReady says whether cert-manager has filled the fleet Secret.
func certManagerSecretReady(ctx context.Context, c client.Client, gw *gwapiv1.Gateway, p provisioner.Params) (bool, string, error) {
	s := provisioner.Secret(gw, p)
	if err := c.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
		if apierrors.IsNotFound(err) {
			return false, fmt.Sprintf("waiting for cert-manager to issue the fleet certificate into Secret %s/%s (issuer %s %q)",
				s.Namespace, s.Name, p.CertManager.IssuerRef.Kind, p.CertManager.IssuerRef.Name), nil
		}
		return false, "", err
	}
	if len(s.Data[pki.KeyCert]) == 0 || len(s.Data[pki.KeyKey]) == 0 {
		return false, fmt.Sprintf("Secret %s/%s has no certificate yet (cert-manager issuer %q)", s.Namespace, s.Name, p.CertManager.IssuerRef.Name), nil
	}
	// cert-manager renews at two thirds of the life too (RenewBefore: a third of the lifetime).
	if cert, err := pki.ParseCert(s.Data[pki.KeyCert]); err == nil {
		observeCertificate(CertKindFleet, provisioner.FleetKey(gw), cert)
	}
	return true, "", nil
}
