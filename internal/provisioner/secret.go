package provisioner

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Secret is the skeleton of the fleet Secret: name, namespace, labels, annotations and type
// kubernetes.io/tls (the type cert-manager writes), with an empty, non-nil Data. The certificate
// material is not this package's: internal/pki fills SecretKeyCertificate, SecretKeyPrivateKey and
// SecretKeyCA before the controller applies it (or cert-manager fills a Secret of this name).
func Secret(gw *gwapiv1.Gateway, p Params) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(gw, p),
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{},
	}
}
