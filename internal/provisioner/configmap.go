package provisioner

import (
	"fmt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// ConfigMap holds the fleet's Envoy bootstrap under BootstrapKey, which the Deployment mounts at
// BootstrapDir, and the two SDS files (SDSFiles), which it projects into SDSDir. The checksum returned is the one Deployment puts on the Pod template, so that a
// changed bootstrap rolls the Pods. An error is a bug (see Bootstrap).
func ConfigMap(gw *gwapiv1.Gateway, p Params) (*corev1.ConfigMap, string, error) {
	bootstrap, checksum, err := Bootstrap(gw, p)
	if err != nil {
		return nil, "", err
	}
	if len(p.XDSTrust) == 0 {
		return nil, "", fmt.Errorf("fleet %s: no CA to verify the xDS server with", FleetKey(gw))
	}
	sds := SDSFiles()
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(gw, p),
		Data: map[string]string{
			BootstrapKey:            bootstrap,
			KeySDSCertificate:       sds[KeySDSCertificate],
			KeySDSValidationContext: sds[KeySDSValidationContext],
			KeyXDSTrust:             string(p.XDSTrust),
		},
	}, checksum, nil
}
