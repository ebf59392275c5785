package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The Secret cache keeps only the keys Flotilla reads.
func TestTransformSecretKeepsWhatFlotillaReads(t *testing.T) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "s", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}}},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k"), "ca.crt": []byte("ca"),
			"release": []byte("a Helm release"), "token": []byte("t")}}
	out, err := TransformSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Secret)
	if len(got.Data) != 3 || string(got.Data["tls.crt"]) != "c" || string(got.Data["ca.crt"]) != "ca" || got.ManagedFields != nil || got.Type != corev1.SecretTypeTLS {
		t.Errorf("transformed %+v", got)
	}
}
