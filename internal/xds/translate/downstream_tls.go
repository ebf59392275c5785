package translate

import (
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// clientValidation makes a chain's DownstreamTlsContext ask clients for a certificate and verify
// it against the chain's trust bundle, delivered over SDS (the validation context secret named
// after the bundle, which translateTrustBundles publishes): a rotated CA is a change of that
// secret alone. AllowValidOnly requires a certificate that verifies; AllowInsecureFallback asks
// for one and verifies it, but accepts a connection without one or with one that does not verify
// (trust_chain_verification ACCEPT_UNTRUSTED, merged with the SDS context). A bundle that is not
// in the fleet or holds no usable certificate leaves the chain out (false): never HTTPS without
// the validation asked for.
func (b *builder) clientValidation(l *model.Listener, c *model.FilterChain, cv *model.ClientValidation, ctx *tlsv3.DownstreamTlsContext) bool {
	if err := b.checkTrust(cv.TrustBundle); err != nil {
		b.warnf("listener %s chain %s: client certificate validation: %v; chain left out", l.Name, c.Name, err)
		return false
	}
	b.trustUsed[cv.TrustBundle] = true
	sds := &tlsv3.SdsSecretConfig{Name: cv.TrustBundle, SdsConfig: b.ads}
	if !cv.InsecureFallback {
		ctx.RequireClientCertificate = wrapperspb.Bool(true)
		ctx.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: sds}
		return true
	}
	ctx.RequireClientCertificate = wrapperspb.Bool(false)
	ctx.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{
		CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext: &tlsv3.CertificateValidationContext{
				TrustChainVerification: tlsv3.CertificateValidationContext_ACCEPT_UNTRUSTED,
			},
			ValidationContextSdsSecretConfig: sds,
		},
	}
	return true
}
