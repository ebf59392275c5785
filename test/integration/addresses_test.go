package integration

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The test cluster's Service range is 10.96.0.0/16; its lower band (10.96.0.0/24) is where the API
// server allocates dynamic cluster IPs last, so these static ones do not collide with other tests'.
const (
	usableClusterIP   = "10.96.0.200" // inside the class's 10.96.0.192/26
	unusableClusterIP = "10.96.0.100" // in the Service range, outside the class's CIDRs
)

func setAddresses(t *testing.T, gw *gwapiv1.Gateway, addrs []gwapiv1.GatewaySpecAddress) {
	t.Helper()
	eventually(t, 10*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.Gateway{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(gw), cur); err != nil {
			return err
		}
		cur.Spec.Addresses = addrs
		return k8s.Update(ctx, cur)
	})
}

func statusAddresses(as []gwapiv1.GatewayStatusAddress) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s=%s", ptr.Deref(a.Type, "<nil>"), a.Value))
	}
	return out
}

// GatewayStaticAddresses as the conformance test walks it, on the real API server: an unsupported
// type refuses the Gateway, an address outside the class's CIDRs keeps it from being programmed
// (with a Warning Event naming it), and the usable address alone becomes the Service's cluster IP
// and the Gateway's only status address.
func TestStaticAddresses(t *testing.T) {
	tenantClass(t, "static", func(s *flotillav1alpha1.FleetClassSpec) {
		s.Service.StaticAddresses = &flotillav1alpha1.StaticAddresses{
			Carrier: flotillav1alpha1.StaticAddressClusterIP, CIDRs: []flotillav1alpha1.IPPrefix{"10.96.0.192/26"}}
	})
	namespace(t, "team-static", nil)
	invalid := gwapiv1.GatewaySpecAddress{Type: ptr.To(gwapiv1.AddressType("test/fake-invalid-type")), Value: "fake address"}
	unusable := gwapiv1.GatewaySpecAddress{Type: ptr.To(gwapiv1.IPAddressType), Value: unusableClusterIP}
	usable := gwapiv1.GatewaySpecAddress{Type: ptr.To(gwapiv1.IPAddressType), Value: usableClusterIP}
	gw := gateway("team-static", "fixed", "static", func(gw *gwapiv1.Gateway) {
		gw.Spec.Addresses = []gwapiv1.GatewaySpecAddress{invalid, unusable, usable}
	})
	create(t, gw)
	c, _ := gatewayCondition(t, gw, gwapiv1.GatewayConditionAccepted, metav1.ConditionFalse, gwapiv1.GatewayReasonUnsupportedAddress)
	if !strings.Contains(c.Message, "spec.addresses[0]") || !strings.Contains(c.Message, "test/fake-invalid-type") {
		t.Errorf("Accepted message %q does not name the entry", c.Message)
	}
	waitForNamespacedEvent(t, gw, corev1.EventTypeWarning, string(gwapiv1.GatewayReasonUnsupportedAddress), "test/fake-invalid-type")

	setAddresses(t, gw, []gwapiv1.GatewaySpecAddress{unusable, usable})
	gatewayCondition(t, gw, gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonAccepted)
	c, cur := gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionFalse, gwapiv1.GatewayReasonAddressNotUsable)
	if !strings.Contains(c.Message, `spec.addresses[0] (IPAddress "10.96.0.100")`) || !strings.Contains(c.Message, "10.96.0.192/26") {
		t.Errorf("Programmed message %q does not name the entry and the allowed CIDRs", c.Message)
	}
	if got := statusAddresses(cur.Status.Addresses); len(got) > 1 || (len(got) == 1 && got[0] != "IPAddress="+usableClusterIP) {
		t.Errorf("status.addresses %v: only the usable address may be there", got)
	}
	waitForNamespacedEvent(t, gw, corev1.EventTypeWarning, string(gwapiv1.GatewayReasonAddressNotUsable), unusableClusterIP)

	setAddresses(t, gw, []gwapiv1.GatewaySpecAddress{usable})
	_, cur = gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)
	if got, want := statusAddresses(cur.Status.Addresses), []string{"IPAddress=" + usableClusterIP}; !reflect.DeepEqual(got, want) {
		t.Errorf("status.addresses %v, want %v", got, want)
	}
	svc := &corev1.Service{}
	get(t, fleetName(gw), svc)
	if svc.Spec.ClusterIP != usableClusterIP {
		t.Errorf("Service cluster IP %q, want %s", svc.Spec.ClusterIP, usableClusterIP)
	}
	waitForNamespacedEvent(t, gw, corev1.EventTypeNormal, string(gwapiv1.GatewayReasonProgrammed), "Every requested address is usable now")
}

// GatewayAddressEmpty: an IPAddress entry without a value gets any address. And the default is
// closed: a class without staticAddresses puts no requested IP on the Service.
func TestEmptyAddressAndStaticAddressesOffByDefault(t *testing.T) {
	tenantClass(t, "nostatic", nil)
	namespace(t, "team-nostatic", nil)
	anyIP := gateway("team-nostatic", "any", "nostatic", func(gw *gwapiv1.Gateway) {
		gw.Spec.Addresses = []gwapiv1.GatewaySpecAddress{{Type: ptr.To(gwapiv1.IPAddressType)}}
	})
	create(t, anyIP)
	_, cur := gatewayCondition(t, anyIP, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)
	svc := &corev1.Service{}
	get(t, fleetName(anyIP), svc)
	if got, want := statusAddresses(cur.Status.Addresses), []string{"IPAddress=" + svc.Spec.ClusterIP}; svc.Spec.ClusterIP == "" || !reflect.DeepEqual(got, want) {
		t.Errorf("status.addresses %v, want the Service's cluster IP %v", got, want)
	}

	claim := gateway("team-nostatic", "claim", "nostatic", func(gw *gwapiv1.Gateway) {
		gw.Spec.Addresses = []gwapiv1.GatewaySpecAddress{{Value: "10.96.0.201"}}
	})
	create(t, claim)
	gatewayCondition(t, claim, gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonAccepted)
	c, _ := gatewayCondition(t, claim, gwapiv1.GatewayConditionProgrammed, metav1.ConditionFalse, gwapiv1.GatewayReasonAddressNotUsable)
	if !strings.Contains(c.Message, "spec.service.staticAddresses is not set") {
		t.Errorf("Programmed message %q does not say the class allows no static addresses", c.Message)
	}
	waitForNamespacedEvent(t, claim, corev1.EventTypeWarning, string(gwapiv1.GatewayReasonAddressNotUsable), "10.96.0.201")
	get(t, fleetName(claim), svc)
	if svc.Spec.ClusterIP == "10.96.0.201" || len(svc.Spec.ExternalIPs) > 0 {
		t.Errorf("Service spec %+v carries the address the class does not allow", svc.Spec)
	}
	// The other Gateway of the namespace is untouched.
	gatewayCondition(t, anyIP, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)
}
