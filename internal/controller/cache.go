package controller

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
)

// secretKeys are the Secret data keys Flotilla reads: certificates, keys, CA bundles, and
// basic-auth htpasswd files.
var secretKeys = []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey, "ca.crt", gatewayapi.HTPasswdKey}

// TransformSecret keeps of a Secret its metadata (without managedFields) and the data keys
// Flotilla reads (tls.crt, tls.key, ca.crt, auth), or all of a basic-auth user map (a Secret each
// of whose values is a password hash of a form htpasswd writes): everything else a cluster keeps
// in Secrets (Helm releases, tokens, application credentials) never reaches the manager's memory.
func TransformSecret(o any) (any, error) {
	s, ok := o.(*corev1.Secret)
	if !ok {
		return o, nil
	}
	s.ManagedFields = nil
	s.StringData = nil
	if _, users := gatewayapi.ParseUserMap(s.Data); users {
		return s, nil // a basic-auth user map: every key is a user, every value a password hash
	}
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
