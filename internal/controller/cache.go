package controller

import (
	corev1 "k8s.io/api/core/v1"
)

// secretKeys are the only Secret data keys Flotilla reads: certificates, keys and CA bundles.
var secretKeys = []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey, "ca.crt"}

// TransformSecret keeps of a Secret its metadata (without managedFields) and the data keys
// Flotilla reads (tls.crt, tls.key, ca.crt): everything else a cluster keeps in Secrets (Helm
// releases, tokens, application credentials) never reaches the manager's memory.
func TransformSecret(o any) (any, error) {
	s, ok := o.(*corev1.Secret)
	if !ok {
		return o, nil
	}
	s.ManagedFields = nil
	s.StringData = nil
	if len(s.Data) > 0 {
		kept := make(map[string][]byte, len(secretKeys))
		for _, k := range secretKeys {
			if v, ok := s.Data[k]; ok {
				kept[k] = v
			}
		}
		s.Data = kept
	}
	return s, nil
}
