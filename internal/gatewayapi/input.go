package gatewayapi

import (
	"crypto/tls"
	"encoding/pem"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	infv1 "sigs.k8s.io/gateway-api-inference-extension/api/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

// Input is a read-only snapshot of everything one Gateway's resolution may read. The controller
// fills it from its cache (objects may be shared with the cache: Resolve never writes them); tests
// fill it from YAML. Objects that do not concern the Gateway are allowed and ignored.
type Input struct {
	Gateway *gwapiv1.Gateway
	// ControllerName is written into every route parent status.
	ControllerName gwapiv1.GatewayController
	// TLSTerminate says TLS listeners in mode Terminate are served (the TLSRouteModeTerminate
	// feature). When false such listeners are not accepted (UnsupportedValue) and carry no kinds.
	TLSTerminate bool

	ListenerSets    []*gwapiv1.ListenerSet
	HTTPRoutes      []*gwapiv1.HTTPRoute
	GRPCRoutes      []*gwapiv1.GRPCRoute
	TLSRoutes       []*gwapiv1.TLSRoute
	TCPRoutes       []*gwapiv1.TCPRoute
	UDPRoutes       []*gwapiv1.UDPRoute
	ReferenceGrants []*gwapiv1.ReferenceGrant
	Services        []*corev1.Service
	EndpointSlices  []*discoveryv1.EndpointSlice
	Secrets         []SecretInfo
	Namespaces      []*corev1.Namespace
	// ManagedBackendClientCertificate is "<ns>/<name>" of the Secret cert-manager fills with the
	// client certificate Flotilla has it issue for the Gateway (FleetClass
	// certificates.certManager.backendClientCertificates); it is presented to TLS backends when
	// the Gateway names no clientCertificateRef, once Secrets holds it as valid. Empty: none.
	ManagedBackendClientCertificate string
	// BackendTLSPolicies that may target the Services the routes use.
	BackendTLSPolicies []*gwapiv1.BackendTLSPolicy
	// InferencePools that routes may name in a backendRef (group inference.networking.k8s.io).
	InferencePools []*infv1.InferencePool
	// Pods that InferencePools may select: only their namespace, name, labels, deletion
	// timestamp, podIP and Ready condition are read (the controller's cache keeps nothing else).
	Pods []*corev1.Pod
	// CACertificates are the ConfigMaps and Secrets BackendTLSPolicies (and the Gateway's
	// spec.tls.frontend) name, reduced to their ca.crt (public data: the controller passes
	// nothing else).
	CACertificates []CACertificate
	// Ingresses are the Ingresses of the IngressClasses this Gateway serves, as the Ingress front
	// end converted them (internal/ingress).
	Ingresses []IngressRoute
	// RouteFilters that route rules may name in ExtensionRef filters.
	RouteFilters []*flotillav1alpha1.RouteFilter
	// TrustedForwardedHops is the FleetClass's clientAddress.trustedForwardedHops.
	TrustedForwardedHops uint32
	// Tracing is the fleet's effective tracing (provisioner.Params.Tracing); nil: none. Its
	// collector Service, when it names one, is in Services (see CollectorService).
	Tracing *provisioner.Tracing
	// AccessLogSink is the class's telemetry.accessLog.sink (OpenTelemetry: the access log goes
	// to the tracing collector).
	AccessLogSink flotillav1alpha1.AccessLogSink
}

// CACertificate is the ca.crt of a ConfigMap or Secret that a BackendTLSPolicy or the Gateway's
// spec.tls.frontend names.
type CACertificate struct {
	// Kind is "ConfigMap" or "Secret".
	Kind      string
	Namespace string
	Name      string
	// PEM is the ca.crt value; empty when the object has no ca.crt.
	PEM string
}

// SecretInfo is what resolution needs to know of a Secret: never its data.
type SecretInfo struct {
	Namespace string
	Name      string
	Type      corev1.SecretType
	// ValidTLS says tls.crt holds at least one PEM certificate and tls.key a PEM private key that
	// matches it.
	ValidTLS bool
	// HTPasswd are the basic-auth users of the key "auth" (nil without it); UserMap those of a
	// Secret each of whose keys is a user and value a password hash (nil when it is not one).
	HTPasswd, UserMap *Users
}

// HTPasswdKey is the Secret key of an htpasswd file (ingress-nginx's auth-file).
const HTPasswdKey = "auth"

// SecretInfoFrom summarises a Secret for Input: the controller calls it in a cache transform so
// that certificate data is parsed once per change.
func SecretInfoFrom(s *corev1.Secret) SecretInfo {
	info := SecretInfo{Namespace: s.Namespace, Name: s.Name, Type: s.Type}
	if auth, ok := s.Data[HTPasswdKey]; ok {
		info.HTPasswd = ParseHTPasswd(auth)
	}
	if u, ok := ParseUserMap(s.Data); ok {
		info.UserMap = u
	}
	crt, key := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
	if len(crt) == 0 || len(key) == 0 {
		return info
	}
	if b, _ := pem.Decode(crt); b == nil || b.Type != "CERTIFICATE" {
		return info
	}
	_, err := tls.X509KeyPair(crt, key)
	info.ValidTLS = err == nil
	return info
}
