package gatewayapi

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// A ListenerSet whose only listener references a Secret it may not use is not accepted
// (conformance ListenerSetReferenceGrant): an unresolvable listener is not a valid one.
func TestListenerSetWithUnpermittedCertificateIsNotAccepted(t *testing.T) {
	same := gwapiv1.NamespacesFromSame
	gw := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "gw", Generation: 1},
		Spec: gwapiv1.GatewaySpec{
			AllowedListeners: &gwapiv1.AllowedListeners{Namespaces: &gwapiv1.ListenerNamespaces{From: &same}},
			Listeners:        []gwapiv1.Listener{{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType}},
		}}
	ls := &gwapiv1.ListenerSet{ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "ls", Generation: 1},
		Spec: gwapiv1.ListenerSetSpec{ParentRef: gwapiv1.ParentGatewayReference{Name: "gw"},
			Listeners: []gwapiv1.ListenerEntry{{Name: "https", Port: 443, Protocol: gwapiv1.HTTPSProtocolType,
				TLS: &gwapiv1.ListenerTLSConfig{CertificateRefs: []gwapiv1.SecretObjectReference{
					{Name: "cert", Namespace: ptr(gwapiv1.Namespace("elsewhere"))}}}}}}}
	res := Resolve(Input{Gateway: gw, ControllerName: "gateway.flotilla.dev/controller", ListenerSets: []*gwapiv1.ListenerSet{ls},
		Secrets: []SecretInfo{{Namespace: "elsewhere", Name: "cert", ValidTLS: true}}})
	if len(res.ListenerSets) != 1 {
		t.Fatalf("ListenerSet status %+v", res.ListenerSets)
	}
	st := res.ListenerSets[0]
	for _, typ := range []gwapiv1.ListenerSetConditionType{gwapiv1.ListenerSetConditionAccepted, gwapiv1.ListenerSetConditionProgrammed} {
		c := meta.FindStatusCondition(st.Conditions, string(typ))
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != string(gwapiv1.ListenerSetReasonListenersNotValid) {
			t.Errorf("%s = %+v, want False/ListenersNotValid", typ, c)
		}
	}
	lc := meta.FindStatusCondition(st.Listeners[0].Conditions, string(gwapiv1.ListenerConditionResolvedRefs))
	if lc == nil || lc.Reason != string(gwapiv1.ListenerReasonRefNotPermitted) {
		t.Errorf("listener ResolvedRefs = %+v, want RefNotPermitted", lc)
	}
}
