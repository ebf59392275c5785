package controller

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

// gatewayAddresses are the Gateway's status.addresses, and why Programmed must still wait for an
// address ("" when it need not). Without static addresses they are the Service's own
// (serviceAddresses). With them, they are the static addresses the Service carries — in its spec
// for carriers ClusterIP and ExternalIPs, in its load balancer's status for LoadBalancerIP and
// Annotation — and the Service's own addresses only when an entry without a value asks for any
// address as well: never an address the Gateway did not ask for.
func gatewayAddresses(svc *corev1.Service, a *provisioner.Addresses) ([]gwapiv1.GatewayStatusAddress, string) {
	own := serviceAddresses(svc)
	if svc == nil || a == nil {
		return own, ""
	}
	var out []gwapiv1.GatewayStatusAddress
	var missing []string
	carried := carriedIPs(svc, a.Carrier)
	ip := gwapiv1.IPAddressType
	for _, s := range a.Static {
		if slices.Contains(carried, s.IP) {
			out = append(out, gwapiv1.GatewayStatusAddress{Type: &ip, Value: s.IP})
		} else {
			missing = append(missing, s.IP)
		}
	}
	if len(a.Static) == 0 || a.AnyIP || a.AnyHostname {
		for _, o := range own {
			if !slices.ContainsFunc(out, func(x gwapiv1.GatewayStatusAddress) bool { return x.Value == o.Value }) {
				out = append(out, o)
			}
		}
	}
	switch {
	case len(missing) > 0:
		where := carrierField(a)
		if a.Carrier == flotillav1alpha1.StaticAddressLoadBalancerIP || a.Carrier == flotillav1alpha1.StaticAddressAnnotation {
			where = "the status of its load balancer (asked for in " + carrierField(a) + ")"
		}
		return out, fmt.Sprintf("Waiting for the requested address(es) %s to appear in %s of Service %s",
			strings.Join(missing, ", "), where, svc.Name)
	case a.AnyHostname && len(own) > 0 && !slices.ContainsFunc(own, func(x gwapiv1.GatewayStatusAddress) bool {
		return x.Type != nil && *x.Type == gwapiv1.HostnameAddressType
	}):
		return out, fmt.Sprintf("spec.addresses asks for a host name, and Service %s has only IP addresses: "+
			"only a load balancer that gives one can; remove the Hostname entry to use the IP addresses", svc.Name)
	}
	return out, ""
}

// carrierField is the Service field (or annotation) that carries a's static addresses.
func carrierField(a *provisioner.Addresses) string {
	switch a.Carrier {
	case flotillav1alpha1.StaticAddressClusterIP:
		return "spec.clusterIP"
	case flotillav1alpha1.StaticAddressExternalIPs:
		return "spec.externalIPs"
	case flotillav1alpha1.StaticAddressLoadBalancerIP:
		return "spec.loadBalancerIP"
	}
	return "metadata.annotations[" + a.AnnotationKey + "]"
}

// carriedIPs are the addresses, canonical, through which the Service is reachable by carrier.
func carriedIPs(svc *corev1.Service, carrier flotillav1alpha1.StaticAddressCarrier) []string {
	var raw []string
	switch carrier {
	case flotillav1alpha1.StaticAddressClusterIP:
		raw = svc.Spec.ClusterIPs
	case flotillav1alpha1.StaticAddressExternalIPs:
		raw = svc.Spec.ExternalIPs
	default:
		for _, in := range svc.Status.LoadBalancer.Ingress {
			raw = append(raw, in.IP)
		}
	}
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		if ip, err := netip.ParseAddr(r); err == nil {
			out = append(out, ip.Unmap().String())
		}
	}
	return out
}

// clusterIPProblem is the AddressNotUsable problem of a static cluster IP that differs from the
// one the live Service has (Kubernetes never changes it), with the desired Service set back to
// the live address so that the rest of the fleet is still applied; nil when there is none.
func clusterIPProblem(live, desired *corev1.Service, a *provisioner.Addresses) *provisioner.AddressProblem {
	if live == nil || desired == nil || a == nil || a.Carrier != flotillav1alpha1.StaticAddressClusterIP || len(a.Static) == 0 ||
		live.Spec.ClusterIP == "" || live.Spec.ClusterIP == corev1.ClusterIPNone || slices.Contains(carriedIPs(live, a.Carrier), a.Static[0].IP) {
		return nil
	}
	s := a.Static[0]
	desired.Spec.ClusterIP = live.Spec.ClusterIP
	return &provisioner.AddressProblem{Index: s.Index, Type: gwapiv1.IPAddressType, Value: s.IP, Reason: gwapiv1.GatewayReasonAddressNotUsable,
		Message: fmt.Sprintf("spec.addresses[%d] (%s %q): Service %s already has cluster IP %s, and Kubernetes never changes a Service's "+
			"cluster IP: delete Service %s/%s and Flotilla recreates it with %s", s.Index, gwapiv1.IPAddressType, s.IP, live.Name,
			live.Spec.ClusterIP, live.Namespace, live.Name, s.IP)}
}

// refusedServiceProblem is the AddressNotUsable problem of a Service with static addresses that
// the API server refused (a cluster IP outside its range or already allocated, externalIPs an
// admission plugin denies): the team's choice, so a condition rather than a reconcile error.
func refusedServiceProblem(svc *corev1.Service, a *provisioner.Addresses, err error) provisioner.AddressProblem {
	s := a.Static[0]
	return provisioner.AddressProblem{Index: s.Index, Type: gwapiv1.IPAddressType, Value: s.IP, Reason: gwapiv1.GatewayReasonAddressNotUsable,
		Message: fmt.Sprintf("spec.addresses (%s): the API server refused Service %s with them in %s: %v",
			strings.Join(a.StaticIPs(), ", "), svc.Name, carrierField(a), err)}
}
