package ingress

import (
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Pairing does not depend on which Ingress came first (ingress-nginx's e2e: the mainline created
// after the canary), and a canary of the primary's own Service is not served.
func TestCanaryPairing(t *testing.T) {
	classes := []Class{{Name: "nginx", Spec: flotillav1alpha1.IngressClassConfigSpec{}}}
	pt := networkingv1.PathTypePrefix
	mk := func(name string, age int64, svc string, ann map[string]string) *networkingv1.Ingress {
		return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, Annotations: ann, CreationTimestamp: metav1.NewTime(time.Unix(age, 0))},
			Spec: networkingv1.IngressSpec{IngressClassName: &classes[0].Name, Rules: []networkingv1.IngressRule{{Host: "foo",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/info", PathType: &pt,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}}}
	}
	canary := map[string]string{"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-by-header": "CanaryByHeader"}
	for _, c := range []struct {
		name      string
		canarySvc string
		paths     int // routes on the primary's host (plain and secure are the same)
		refused   string
	}{
		{"canary older than the primary", "canary", 3, ""},
		{"canary of the primary's own Service", "web", 1, ReasonCanaryNotServed},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := Convert(classes, []*networkingv1.Ingress{mk("primary", 2, "web", nil), mk("canary", 1, c.canarySvc, canary)})
			var refused string
			for _, e := range res.Refused {
				refused = e.Reason
			}
			if refused != c.refused {
				t.Errorf("refused %q, want %q (%v)", refused, c.refused, res.Refused)
			}
			for _, ir := range res.Routes {
				if ir.Meta.Name == "primary" && len(ir.Hosts[0].Secure) != c.paths {
					t.Errorf("primary has %d routes, want %d: %+v", len(ir.Hosts[0].Secure), c.paths, ir.Hosts[0].Secure)
				}
			}
		})
	}
}
