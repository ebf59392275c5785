// Package conformance runs the Gateway API v1.6.3 conformance suite against Flotilla: the whole
// suite against the cluster in KUBECONFIG (`make conformance`), or the tests that need no data
// plane against the local control plane with the real manager (`make conformance-local`).
package conformance

// statusOnly are the conformance tests that check status and conditions only (no traffic through
// Envoy), so they can pass against the local control plane. From ../../../shared/reference, less
// three that reference lists but that send traffic after their status checks (their status subtests
// pass here; the traffic needs Envoy): TLSRouteInvalidBackendRefNonexistent,
// TLSRouteInvalidBackendRefUnknownKind (a TLS connection must be refused) and
// UDPRouteMultipleRoutesAttachment (UDP echo from the oldest route).
var statusOnly = []string{
	"BackendTLSPolicyObservedGenerationBump", "GatewayInfrastructureMetadata", "GatewayInvalidParametersRef",
	"GatewayListenerUnsupportedProtocol", "GatewayInvalidRouteKind", "GatewayInvalidTLSBackendConfiguration",
	"GatewayInvalidTLSConfiguration", "GatewayModifyListeners", "GatewayObservedGenerationBump",
	"GatewayOptionalAddressValue", "GatewaySecretInvalidReferenceGrant", "GatewaySecretMissingReferenceGrant",
	"GatewaySecretReferenceGrantAllInNamespace", "GatewaySecretReferenceGrantSpecific", "GatewayStaticAddresses",
	"GatewayWithAttachedRoutes", "GatewayWithAttachedRoutesWithPort8080",
	"GatewayInvalidFrontendClientCertificateValidation", "GatewayClassObservedGenerationBump",
	"HTTPRouteDisallowedKind", "HTTPRouteInvalidCrossNamespaceParentRef",
	"HTTPRouteInvalidParentRefNotMatchingListenerPort", "HTTPRouteInvalidParentRefNotMatchingSectionName",
	"HTTPRouteInvalidParentRefSectionNameNotMatchingPort", "HTTPRouteObservedGenerationBump",
	"ListenerSetAllowedNamespaceNone", "ListenerSetAllowedNamespaceSame", "ListenerSetAllowedNamespaceSelector",
	"ListenerSetAllowedRoutesSupportedKinds", "ListenerSetDefaultNotAllowed", "ListenerSetHostnameConflict",
	"ListenerSetProtocolConflict", "ListenerSetReferenceGrant", "ListenerSetRouteStatusScopedToParentRef",
	"TCPRouteInvalidBackendRefNonexistent", "TCPRouteInvalidCrossNamespaceBackendRef", "TCPRouteInvalidNonTCPListener",
	"TLSRouteInvalidNoMatchingListenerHostname", "TLSRouteInvalidNoMatchingListener", "TLSRouteInvalidReferenceGrant",
	"TLSRouteListenerMixedTerminationNotSupported", "TLSRouteListenerPassthroughSupportedKinds",
	"TLSRouteListenerTerminateNotSupported", "TLSRouteListenerTerminateSupportedKinds",
	"UDPRouteInvalidBackendRefNonexistent", "UDPRouteInvalidCrossNamespaceBackendRef",
	"UDPRouteNotAllowedByListeners",
}
