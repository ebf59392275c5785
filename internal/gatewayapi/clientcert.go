package gatewayapi

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// backendClientCertificate resolves the Gateway's spec.tls.backend.clientCertificateRef (the
// certificate its Envoys present to TLS backends): the model Secret name when usable, or the
// Gateway ResolvedRefs reason and message saying why not. A cross-namespace Secret needs a
// ReferenceGrant, as a listener certificate does.
func (r *resolver) backendClientCertificate() (string, gwapiv1.GatewayConditionReason, string) {
	tls := r.gw.Spec.TLS
	if tls == nil || tls.Backend == nil || tls.Backend.ClientCertificateRef == nil {
		// A certificate Flotilla has cert-manager issue is used once cert-manager filled it.
		if id := r.in.ManagedBackendClientCertificate; id != "" && r.secrets[id].ValidTLS {
			return id, "", ""
		}
		return "", "", ""
	}
	ref := tls.Backend.ClientCertificateRef
	ns := refNamespace(r.gw.Namespace, ref.Namespace)
	id := ns + "/" + string(ref.Name)
	switch {
	case ref.Group != nil && *ref.Group != "" || ref.Kind != nil && *ref.Kind != kindSecret:
		return "", gwapiv1.GatewayReasonInvalidClientCertificateRef,
			fmt.Sprintf("spec.tls.backend.clientCertificateRef %s: kind %s/%s is not supported (only core Secret is)",
				id, ptrOrZero(ref.Group), ptrOrZero(ref.Kind))
	case ns != r.gw.Namespace && !r.granted(gwapiv1.GroupName, kindGateway, r.gw.Namespace, "", kindSecret, ns, string(ref.Name)):
		return "", gwapiv1.GatewayReasonRefNotPermitted,
			fmt.Sprintf("spec.tls.backend.clientCertificateRef: no ReferenceGrant allows the reference to Secret %s", id)
	}
	s, ok := r.secrets[id]
	switch {
	case !ok:
		return "", gwapiv1.GatewayReasonInvalidClientCertificateRef, fmt.Sprintf("spec.tls.backend.clientCertificateRef: Secret %s does not exist", id)
	case !s.ValidTLS:
		return "", gwapiv1.GatewayReasonInvalidClientCertificateRef,
			fmt.Sprintf("spec.tls.backend.clientCertificateRef: Secret %s has no valid tls.crt/tls.key pair", id)
	}
	return id, "", ""
}

// gatewayResolvedRefs is the Gateway's own ResolvedRefs condition: False when the backend client
// certificate cannot be used (its reason), else False with ListenersNotResolved when one of the
// Gateway's listeners has ResolvedRefs False, else True.
func (r *resolver) gatewayResolvedRefs(listeners []gwapiv1.ListenerStatus) metav1.Condition {
	c := conds{gen: r.gw.Generation}
	t := string(gwapiv1.GatewayConditionResolvedRefs)
	if r.clientCertReason != "" {
		c.set(t, false, string(r.clientCertReason), r.clientCertMsg)
		return c.list[0]
	}
	var bad []string
	for _, l := range listeners {
		for _, lc := range l.Conditions {
			if lc.Type == string(gwapiv1.ListenerConditionResolvedRefs) && lc.Status != metav1.ConditionTrue {
				bad = append(bad, string(l.Name))
			}
		}
	}
	if len(bad) > 0 {
		c.set(t, false, string(gwapiv1.GatewayReasonListenersNotResolved), "Listeners with unresolved references: "+strings.Join(bad, ", "))
	} else {
		c.set(t, true, string(gwapiv1.GatewayReasonResolvedRefs), "References resolved")
	}
	return c.list[0]
}
