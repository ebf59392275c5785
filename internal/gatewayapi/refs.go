package gatewayapi

import (
	infv1 "sigs.k8s.io/gateway-api-inference-extension/api/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The references of Gateway API objects, named the one way field indexes, map functions and
// Resolve all use: a reference's namespace defaults to the referring object's, and only the
// group and kind Flotilla reads give a key. A drift between what an index thinks an object
// refers to and what Resolve reads would need a second spelling of these.

// refNamespace is a reference's namespace, defaulted to the referring object's.
func refNamespace[N ~string](from string, ns *N) string {
	if ns != nil && *ns != "" {
		return string(*ns)
	}
	return from
}

// ParentKey names a route's (or ListenerSet's) parentRef: "Gateway/<ns>/<name>" or
// "ListenerSet/<ns>/<name>"; "" for parents of other groups or kinds.
func ParentKey(from string, ref gwapiv1.ParentReference) string {
	if ref.Group != nil && *ref.Group != gwapiv1.GroupName {
		return ""
	}
	kind := kindGateway
	if ref.Kind != nil {
		kind = *ref.Kind
	}
	if kind != kindGateway && kind != kindListenerSet {
		return ""
	}
	return string(kind) + "/" + refNamespace(from, ref.Namespace) + "/" + string(ref.Name)
}

// AncestorKey names a policy ancestor (a Gateway): "<ns>/<name>".
func AncestorKey(from string, ref gwapiv1.ParentReference) string {
	return refNamespace(from, ref.Namespace) + "/" + string(ref.Name)
}

// ServiceKey names a backendRef's Service, "<ns>/<name>"; "" for other kinds.
func ServiceKey(from string, ref gwapiv1.BackendObjectReference) string {
	if (ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != kindService) {
		return ""
	}
	return refNamespace(from, ref.Namespace) + "/" + string(ref.Name)
}

// PoolKey names a backendRef's InferencePool, "<ns>/<name>"; "" for other kinds.
func PoolKey(from string, ref gwapiv1.BackendObjectReference) string {
	if ref.Group == nil || *ref.Group != groupInference || ref.Kind == nil || *ref.Kind != kindInferencePool {
		return ""
	}
	return refNamespace(from, ref.Namespace) + "/" + string(ref.Name)
}

// PoolParentKey names an InferencePool status parent (a Gateway): "<ns>/<name>".
func PoolParentKey(from string, ref infv1.ParentReference) string {
	return refNamespace(from, &ref.Namespace) + "/" + string(ref.Name)
}

// SecretKey names a Secret reference, "<ns>/<name>"; "" for other kinds.
func SecretKey(from string, ref gwapiv1.SecretObjectReference) string {
	if (ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != kindSecret) {
		return ""
	}
	return refNamespace(from, ref.Namespace) + "/" + string(ref.Name)
}

// CertificateKeys are the Secrets a listener's tls.certificateRefs name.
func CertificateKeys(from string, tls *gwapiv1.ListenerTLSConfig) []string {
	if tls == nil {
		return nil
	}
	var keys []string
	for _, ref := range tls.CertificateRefs {
		if k := SecretKey(from, ref); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// BackendClientCertificateKeys is the Secret a Gateway's spec.tls.backend.clientCertificateRef
// names, if any.
func BackendClientCertificateKeys(gw *gwapiv1.Gateway) []string {
	if gw.Spec.TLS == nil || gw.Spec.TLS.Backend == nil || gw.Spec.TLS.Backend.ClientCertificateRef == nil {
		return nil
	}
	if k := SecretKey(gw.Namespace, *gw.Spec.TLS.Backend.ClientCertificateRef); k != "" {
		return []string{k}
	}
	return nil
}
