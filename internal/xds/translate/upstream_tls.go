package translate

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/flotilla-dev/flotilla/internal/pki"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// SystemTrustBundle is the CA bundle a cluster with model.UpstreamTLS.SystemTrust verifies its
// backends with (BackendTLSPolicy wellKnownCACertificates: System): the Envoy image's own trust
// store. The envoyproxy/envoy:distroless-* images are built on gcr.io/distroless/base-nossl,
// whose ca-certificates layer is this one PEM file (the Ubuntu-based images have it at the same
// path). An image without it makes Envoy reject the clusters that use it.
const SystemTrustBundle = "/etc/ssl/certs/ca-certificates.crt"

// Subject alternative name types, as model.SubjectAltName.Type names them (Gateway API's).
const (
	sanHostname = "Hostname"
	sanURI      = "URI"
)

// maxSNIBytes is the longest SNI Envoy's UpstreamTlsContext accepts.
const maxSNIBytes = 255

// ALPN protocols offered to TLS backends; HTTP/2 clusters keep their explicit HTTP/2 options.
var (
	alpnH2     = []string{"h2"}
	alpnHTTP11 = []string{"http/1.1"}
)

// indexTrust indexes the fleet's trust bundles by name. An empty or duplicate name, or a Secret's
// name (trust bundles and Secrets share SDS names), is a model bug.
func (b *builder) indexTrust() error {
	b.trust = make(map[string]*model.TrustBundle, len(b.fleet.TrustBundles))
	for i := range b.fleet.TrustBundles {
		tb := &b.fleet.TrustBundles[i]
		if _, dup := b.trust[tb.Name]; dup || tb.Name == "" {
			return fmt.Errorf("trust bundle %q: empty or duplicate name", tb.Name)
		}
		b.trust[tb.Name] = tb
	}
	for _, s := range b.fleet.Secrets {
		if b.trust[s.Name] != nil {
			return fmt.Errorf("trust bundle %q: a Secret has the same name (they share SDS names)", s.Name)
		}
	}
	return nil
}

// upstreamTLS is the transport socket that makes Envoy originate TLS to a cluster's endpoints,
// or why it cannot be built. The caller fails the cluster closed on any reason: no endpoints,
// never plaintext.
func (b *builder) upstreamTLS(mc *model.Cluster) (*corev3.TransportSocket, error) {
	t := mc.TLS
	if t.Invalid != "" {
		return nil, fmt.Errorf("the policy is invalid: %s", t.Invalid)
	}
	if mc.Protocol == model.ClusterUDP {
		return nil, errors.New("TLS cannot be originated over UDP")
	}
	common := &tlsv3.CommonTlsContext{
		TlsParams:     &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2},
		AlpnProtocols: upstreamALPN(mc.Protocol),
	}
	var err error
	if t.Unverified {
		err = b.unverified(mc)
	} else {
		err = b.verify(t, common)
	}
	if err != nil {
		return nil, err
	}
	if s := t.ClientCertificate; s != "" {
		if !b.available[s] {
			return nil, fmt.Errorf("client certificate Secret %s has no certificate data", s)
		}
		common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{{Name: s, SdsConfig: b.ads}}
	}
	a, err := pack(&tlsv3.UpstreamTlsContext{CommonTlsContext: common, Sni: t.SNI})
	if err != nil {
		return nil, fmt.Errorf("the TLS context cannot be expressed: %w", err)
	}
	if t.TrustBundle != "" {
		b.trustUsed[t.TrustBundle] = true
	}
	return &corev3.TransportSocket{Name: nameTLSSocket, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}, nil
}

// verify makes common verify the backend's certificate: a trust bundle (from SDS) or the system
// trust store, and the subject alternative names (see sanMatchers). The SNI is required.
func (b *builder) verify(t *model.UpstreamTLS, common *tlsv3.CommonTlsContext) error {
	if !validSNI(t.SNI) {
		return fmt.Errorf("SNI %q is not a server name", t.SNI)
	}
	sans, err := sanMatchers(t)
	if err != nil {
		return err
	}
	check := &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sans}
	switch {
	case t.SystemTrust && t.TrustBundle != "":
		return fmt.Errorf("both the system trust store and trust bundle %s are named", t.TrustBundle)
	case t.SystemTrust:
		// A combined validation context needs an SDS secret: a plain one carries the file.
		check.TrustedCa = &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: SystemTrustBundle}}
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: check}
	case t.TrustBundle == "":
		return errors.New("no CA certificates to verify the backend with")
	default:
		if err := b.checkTrust(t.TrustBundle); err != nil {
			return err
		}
		common.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         check,
				ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: t.TrustBundle, SdsConfig: b.ads},
			}}
	}
	return nil
}

// unverified says why a cluster may not have TLS without certificate verification: only an
// Endpoint Picker that no BackendTLSPolicy targets may (they serve self-signed certificates by
// default), or the backend of an Ingress whose backend-protocol asks for TLS (ingress-nginx does
// not verify either), and then without anything to verify with; its SNI, optional, must be a
// server name.
func (b *builder) unverified(mc *model.Cluster) error {
	t := mc.TLS
	switch {
	case !b.pickers[mc.Name] && !t.IngressBackendProtocol:
		return errors.New("TLS without certificate verification is only for an Endpoint Picker or an Ingress's backend-protocol")
	case t.SystemTrust || t.TrustBundle != "" || len(t.SubjectAltNames) > 0:
		return errors.New("TLS without certificate verification names what to verify with")
	case t.SNI != "" && !validSNI(t.SNI):
		return fmt.Errorf("SNI %q is not a server name", t.SNI)
	}
	return nil
}

// validSNI accepts a server name Envoy can send: a hostname, not a wildcard, not empty, at most
// 255 bytes, nothing a header could not carry.
func validSNI(s string) bool {
	return s != "" && len(s) <= maxSNIBytes && safe(s) && !strings.ContainsAny(s, "* /")
}

// upstreamALPN is what Envoy offers a TLS backend of protocol p: h2 to HTTP/2 backends (whose
// explicit HTTP/2 options stay), http/1.1 to HTTP/1.1 ones, nothing to TCP backends.
func upstreamALPN(p model.ClusterProtocol) []string {
	switch p {
	case model.ClusterH2C, model.ClusterGRPC:
		return alpnH2
	case model.ClusterHTTP, model.ClusterWebSocket:
		return alpnHTTP11
	}
	return nil
}

// sanMatchers are the names the backend's certificate must carry one of, sorted by type and
// value: the policy's subjectAltNames (Hostname → DNS, URI → URI, exact; a DNS matcher follows
// RFC 6125 wildcards in the certificate), or, when it gives none, the SNI as a DNS name, as
// Gateway API requires.
func sanMatchers(t *model.UpstreamTLS) ([]*tlsv3.SubjectAltNameMatcher, error) {
	if len(t.SubjectAltNames) == 0 {
		return []*tlsv3.SubjectAltNameMatcher{{SanType: tlsv3.SubjectAltNameMatcher_DNS, Matcher: exact(t.SNI)}}, nil
	}
	sans := slices.Clone(t.SubjectAltNames)
	slices.SortFunc(sans, func(x, y model.SubjectAltName) int {
		return cmp.Or(cmp.Compare(x.Type, y.Type), cmp.Compare(x.Value, y.Value))
	})
	sans = slices.Compact(sans)
	out := make([]*tlsv3.SubjectAltNameMatcher, 0, len(sans))
	for _, s := range sans {
		var typ tlsv3.SubjectAltNameMatcher_SanType
		switch s.Type {
		case sanHostname:
			typ = tlsv3.SubjectAltNameMatcher_DNS
		case sanURI:
			typ = tlsv3.SubjectAltNameMatcher_URI
		default:
			return nil, fmt.Errorf("subject alternative name type %q is not supported", s.Type)
		}
		if s.Value == "" || !utf8.ValidString(s.Value) || strings.ContainsRune(s.Value, 0) {
			return nil, fmt.Errorf("subject alternative name %s %q is not usable", s.Type, s.Value)
		}
		out = append(out, &tlsv3.SubjectAltNameMatcher{SanType: typ, Matcher: exact(s.Value)})
	}
	return out, nil
}

// checkTrust says why a trust bundle cannot be used, remembering the answer: it is not in the
// fleet, or its PEM holds no certificate that parses (Envoy would reject the secret, and the
// cluster would wait for it).
func (b *builder) checkTrust(name string) error {
	if err, ok := b.trustErr[name]; ok {
		return err
	}
	var err error
	switch tb, ok := b.trust[name]; {
	case !ok:
		err = fmt.Errorf("trust bundle %s is not in the fleet", name)
	default:
		if perr := checkPEM(tb.PEM); perr != nil {
			err = fmt.Errorf("trust bundle %s: %w", name, perr)
		}
	}
	b.trustErr[name] = err
	return err
}

// checkPEM accepts PEM data with at least one certificate, every certificate parsing. Other
// blocks (a CRL, say) are left to Envoy, which skips what is not a certificate.
func checkPEM(data string) error {
	_, err := pki.ParseCertificates([]byte(data))
	return err
}

// translateTrustBundles gives every trust bundle a valid cluster uses its SDS secret: a
// validation context with the bundle inline, named after the bundle. Clusters refer to it by
// name only, so a changed bundle changes this secret alone.
func (b *builder) translateTrustBundles() {
	for _, tb := range byName(b.fleet.TrustBundles, func(tb *model.TrustBundle) string { return tb.Name }) {
		if !b.trustUsed[tb.Name] {
			continue
		}
		b.res.Secrets = append(b.res.Secrets, &tlsv3.Secret{
			Name: tb.Name,
			Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: tb.PEM}},
			}},
		})
	}
}
