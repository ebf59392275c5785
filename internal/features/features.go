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

	// spec.addresses: static addresses within the FleetClass's spec.service.staticAddresses, and
	// entries without a value (any address) (internal/provisioner static-address* goldens,
	// internal/controller TestGatewayAddresses; test/integration TestStaticAddresses and
	// TestEmptyAddressAndStaticAddressesOffByDefault; conformance GatewayStaticAddresses and
	// GatewayOptionalAddressValue in `make conformance-local`).
	features.GatewayStaticAddressesFeature,
	features.GatewayEmptyAddressFeature,

	// Everything below is resolved (internal/gatewayapi, status goldens and integration tests) and
	// translated to the xDS the fleet's Envoys receive (internal/xds/translate goldens, validated,
	// fuzzed; test/integration TestFleetsReceiveTheirOwnXDS with a real ADS client).
	features.GatewayFeature,
	features.GatewayPort8080Feature,
	features.ListenerSetFeature,
	features.ReferenceGrantFeature,
	features.HTTPRouteFeature,
	features.HTTPRouteParentRefPortFeature,
	// GEP-957's parentRef port: every listener of the port (httproute-attachment golden, route
	// port-80; conformance HTTPRouteInvalidParentRefNotMatchingListenerPort).
	features.HTTPRouteDestinationPortMatchingFeature,
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
	// Both modes on one port (internal/gatewayapi listeners-tls-mixed golden; translate tls-mixed,
	// with passthrough clusters never originating TLS: checkPassthroughPlain; explain TestTLSMixed).
	features.TLSRouteModeMixedFeature,
	features.TCPRouteFeature,
	features.UDPRouteFeature,

	// Listener isolation and misdirected requests (internal/gatewayapi isolate; translate goldens
	// http-isolation and https-misdirected with the checkMisdirected invariant; explain
	// TestListenerIsolation and TestMisdirected walk the conformance tests' requests).
	features.GatewayHTTPListenerIsolationFeature,
	features.GatewayHTTPSListenerDetectMisdirectedRequestsFeature,

	// BackendTLSPolicy (resolve: internal/gatewayapi backendtls goldens; xDS: upstream TLS with
	// SDS trust bundles, translate goldens; test/integration TestBackendTLSPolicy and
	// TestBackendClientCertificate with a real ADS client).
	features.BackendTLSPolicyFeature,
	features.BackendTLSPolicySanValidationFeature,
	features.GatewayBackendClientCertificateFeature,

	// Client certificate validation, spec.tls.frontend default and perPort, AllowValidOnly and
	// AllowInsecureFallback (resolve: internal/gatewayapi frontend-mtls-* goldens; xDS:
	// DownstreamTlsContext with SDS validation contexts, translate golden frontend-mtls and
	// the invariants; test/integration TestFrontendClientCertificateValidation with a real ADS
	// client; conformance GatewayInvalidFrontendClientCertificateValidation on the local
	// control plane).
	features.GatewayFrontendClientCertificateValidationFeature,
	features.GatewayFrontendClientCertificateValidationInsecureFallbackFeature,
}

// SupportInferencePool is the Gateway API Inference Extension's feature (its conformance suite's
// core feature of the Gateway profile): InferencePools as HTTPRoute backends, with their Endpoint
// Picker, and pool status per Gateway.
const SupportInferencePool features.FeatureName = "SupportInferencePool"

// extensions lists the implemented features of Gateway API extensions (not in Gateway API's own
// feature list). InferencePool: internal/gatewayapi inference goldens, internal/xds/translate
// inference goldens, test/integration TestInferencePool* and TestEndpointPicker (the real
// conformance EPP).
var extensions = []features.FeatureName{SupportInferencePool}

// Supported returns the implemented features, Gateway API's and its extensions', as GatewayClass
// status.supportedFeatures wants them: unique and sorted by name.
func Supported() []gwapiv1.SupportedFeature {
	out := make([]gwapiv1.SupportedFeature, 0, len(implemented)+len(extensions))
	for _, f := range implemented {
		out = append(out, gwapiv1.SupportedFeature{Name: gwapiv1.FeatureName(f.Name)})
	}
	for _, f := range extensions {
		out = append(out, gwapiv1.SupportedFeature{Name: gwapiv1.FeatureName(f)})
	}
	slices.SortFunc(out, func(a, b gwapiv1.SupportedFeature) int { return cmp.Compare(a.Name, b.Name) })
	return slices.CompactFunc(out, func(a, b gwapiv1.SupportedFeature) bool { return a.Name == b.Name })
}

// Names returns the implemented Gateway API feature names, sorted (for the Gateway API
// conformance suite's options, which knows no extension features).
func Names() []features.FeatureName {
	var out []features.FeatureName
	for _, f := range Supported() {
		if !slices.Contains(extensions, features.FeatureName(f.Name)) {
			out = append(out, features.FeatureName(f.Name))
		}
	}
	return out
}

// Has says whether Flotilla implements a feature (Gateway API's or an extension's).
func Has(name features.FeatureName) bool {
	return slices.ContainsFunc(Supported(), func(f gwapiv1.SupportedFeature) bool { return string(f.Name) == string(name) })
}
