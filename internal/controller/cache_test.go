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

// Basic-auth Secrets keep their users: the htpasswd key of any Secret, and every key of a user
// map; an application's credentials (values that are no password hash) are still dropped.
func TestTransformSecretKeepsBasicAuthUsers(t *testing.T) {
	for _, tc := range []struct {
		name string
		data map[string][]byte
		keep []string
	}{
		{"htpasswd", map[string][]byte{"auth": []byte("alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"), "db-password": []byte("hunter2")}, []string{"auth"}},
		{"user map", map[string][]byte{"alice": []byte("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="), "bob": []byte("$apr1$x$y")}, []string{"alice", "bob"}},
		{"credentials", map[string][]byte{"username": []byte("admin"), "password": []byte("hunter2")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := TransformSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "s"}, Data: tc.data})
			if err != nil {
				t.Fatal(err)
			}
			got := out.(*corev1.Secret).Data
			if len(got) != len(tc.keep) {
				t.Fatalf("kept %d keys, want %v", len(got), tc.keep)
			}
			for _, k := range tc.keep {
				if string(got[k]) != string(tc.data[k]) {
					t.Errorf("key %s: %q, want %q", k, got[k], tc.data[k])
				}
			}
		})
	}
}
