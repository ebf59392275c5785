// Package features is the one place that says which Gateway API features Flotilla implements: the
// GatewayClass status.supportedFeatures list and the conformance run both read it.
package features

import (
	"cmp"
	"slices"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/features"
)

// implemented lists the features whose behaviour Flotilla implements and tests end to end. A feature
// is added here in the change that makes it work, never earlier: conformance suites and users read
// the list as a promise.
var implemented = []features.Feature{
	// spec.infrastructure labels and annotations on every fleet object (internal/provisioner,
	// test/integration TestInfrastructureMetadataIsPropagated).
	features.GatewayInfrastructureFeature,

	// Everything below is resolved (internal/gatewayapi, status goldens and integration tests) and
	// translated to the xDS the fleet's Envoys receive (internal/xds/translate goldens, validated,
	// fuzzed; test/integration TestFleetsReceiveTheirOwnXDS with a real ADS client).
	features.GatewayFeature,
	features.GatewayPort8080Feature,
	features.ListenerSetFeature,
	features.ReferenceGrantFeature,
	features.HTTPRouteFeature,
	features.HTTPRouteParentRefPortFeature,
	features.HTTPRouteNamedRouteRule,
	features.HTTPRouteQueryParamMatchingFeature,
	features.HTTPRouteMethodMatchingFeature,
	features.HTTPRouteResponseHeaderModificationFeature,
	features.HTTPRouteBackendRequestHeaderModificationFeature,
	features.HTTPRouteHostRewriteFeature,
	features.HTTPRoutePathRewriteFeature,
	features.HTTPRouteSchemeRedirectFeature,
	features.HTTPRoutePortRedirectFeature,
	features.HTTPRoutePathRedirectFeature,
	features.HTTPRoute303RedirectStatusCodeFeature,
	features.HTTPRoute307RedirectStatusCodeFeature,
	features.HTTPRoute308RedirectStatusCodeFeature,
	features.HTTPRouteRequestMirrorFeature,
	features.HTTPRouteRequestMultipleMirrorsFeature,
	features.HTTPRouteRequestPercentageMirrorFeature,
	features.HTTPRouteRequestTimeoutFeature,
	features.HTTPRouteBackendTimeoutFeature,
	features.HTTPRouteRetryFeature,
	features.HTTPRouteRetryBackendTimeoutFeature,
	features.HTTPRouteRetryConnectionErrorFeature,
	features.HTTPRouteBackendProtocolH2CFeature,
	features.HTTPRouteBackendProtocolWebSocketFeature,
	features.HTTPRouteCORS,
	features.GRPCRouteFeature,
	features.GRPCRouteNamedRouteRule,
	features.TLSRouteFeature,
	features.TLSRouteModeTerminateFeature,
	features.TCPRouteFeature,
	features.UDPRouteFeature,

	// BackendTLSPolicy (resolve: internal/gatewayapi backendtls goldens; xDS: upstream TLS with
	// SDS trust bundles, translate goldens; test/integration TestBackendTLSPolicy and
	// TestBackendClientCertificate with a real ADS client).
	features.BackendTLSPolicyFeature,
	features.BackendTLSPolicySanValidationFeature,
	features.GatewayBackendClientCertificateFeature,
}

// Supported returns the implemented features as GatewayClass status.supportedFeatures wants them:
// unique and sorted by name.
func Supported() []gwapiv1.SupportedFeature {
	out := make([]gwapiv1.SupportedFeature, 0, len(implemented))
	for _, f := range implemented {
		out = append(out, gwapiv1.SupportedFeature{Name: gwapiv1.FeatureName(f.Name)})
	}
	slices.SortFunc(out, func(a, b gwapiv1.SupportedFeature) int { return cmp.Compare(a.Name, b.Name) })
	return slices.CompactFunc(out, func(a, b gwapiv1.SupportedFeature) bool { return a.Name == b.Name })
}

// Names returns the implemented feature names, sorted (for conformance options and logs).
func Names() []features.FeatureName {
	var out []features.FeatureName
	for _, f := range Supported() {
		out = append(out, features.FeatureName(f.Name))
	}
	return out
}

// Has says whether Flotilla implements a feature.
func Has(name features.FeatureName) bool {
	return slices.Contains(Names(), name)
}
