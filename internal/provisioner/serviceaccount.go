package provisioner

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// ServiceAccount is the identity of the fleet's Pods. Envoy never talks to the API server, so no
// token is mounted.
func ServiceAccount(gw *gwapiv1.Gateway, p Params) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta:                   objectMeta(gw, p),
		AutomountServiceAccountToken: ptr.To(false),
	}
}

// objectMeta is the metadata of a fleet object: FleetName in the Gateway's namespace, Flotilla's
// labels and the Gateway's infrastructure labels and annotations, plus extra annotations.
func objectMeta(gw *gwapiv1.Gateway, p Params, extraAnnotations ...map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:        FleetName(gw),
		Namespace:   gw.Namespace,
		Labels:      objectLabels(gw, p),
		Annotations: objectAnnotations(p, extraAnnotations...),
	}
}
