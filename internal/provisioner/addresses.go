package provisioner

import (
	"fmt"
	"net/netip"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// AddressProblem is a Gateway spec.addresses entry the fleet's Service cannot honour.
type AddressProblem struct {
	// Index of the entry in spec.addresses.
	Index int                 `json:"index"`
	Type  gwapiv1.AddressType `json:"type"`
	Value string              `json:"value"`
	// Reason is UnsupportedAddress (for Accepted) for an address type Flotilla does not support,
	// AddressNotUsable (for Programmed) for an address it cannot use.
	Reason gwapiv1.GatewayConditionReason `json:"reason"`
	// Message says which address and why, for the condition message.
	Message string `json:"message"`
}

// StaticAddress is a spec.addresses entry the Service carries.
type StaticAddress struct {
	// Index of the entry in spec.addresses.
	Index int `json:"index"`
	// IP in canonical form.
	IP string `json:"ip"`
}

// Addresses is what a Gateway's spec.addresses ask of its fleet's Service, checked against its class.
type Addresses struct {
	// Carrier is how the Service carries Static: the class's staticAddresses.carrier, "" when the
	// class allows no static addresses.
	Carrier flotillav1alpha1.StaticAddressCarrier `json:"carrier,omitempty"`
	// AnnotationKey is the annotation of carrier Annotation.
	AnnotationKey string `json:"annotationKey,omitempty"`
	// Static are the requested addresses the Service carries, in request order.
	Static []StaticAddress `json:"static,omitempty"`
	// AnyIP and AnyHostname say an entry of that type with no value asks for any address of it.
	AnyIP       bool `json:"anyIP,omitempty"`
	AnyHostname bool `json:"anyHostname,omitempty"`
	// Problems are the entries that cannot be honoured.
	Problems []AddressProblem `json:"problems,omitempty"`
}

// StaticIPs are the canonical IPs of a.Static.
func (a *Addresses) StaticIPs() []string {
	if a == nil {
		return nil
	}
	out := make([]string, len(a.Static))
	for i, s := range a.Static {
		out[i] = s.IP
	}
	return out
}

// maxAddresses is how many static addresses one Gateway may have with sa.
func maxAddresses(sa *flotillav1alpha1.StaticAddresses) int {
	switch {
	case sa.MaxAddresses != nil:
		return int(*sa.MaxAddresses)
	case sa.Carrier == flotillav1alpha1.StaticAddressClusterIP, sa.Carrier == flotillav1alpha1.StaticAddressLoadBalancerIP:
		return 1
	}
	return 16
}

// GatewayAddresses checks the Gateway's spec.addresses against the class's Service parameters.
// An entry of a type other than IPAddress and Hostname is UnsupportedAddress; an entry with no
// value asks for any address of its type and is always allowed; a Hostname with a value cannot be
// requested from a Service; an IP address is used only when the class's staticAddresses allows
// it: inside its CIDRs, on a Service type the carrier works with, within maxAddresses. Everything
// else is AddressNotUsable, naming the entry and why; the entries that pass are in Static.
func GatewayAddresses(gw *gwapiv1.Gateway, sp ServiceParams) *Addresses {
	out := &Addresses{}
	sa := sp.StaticAddresses
	var prefixes []netip.Prefix
	if sa != nil {
		out.Carrier, out.AnnotationKey = sa.Carrier, sa.AnnotationKey
		for _, c := range sa.CIDRs {
			if pfx, err := netip.ParsePrefix(string(c)); err == nil {
				prefixes = append(prefixes, pfx.Masked())
			}
		}
	}
	for i, a := range gw.Spec.Addresses {
		t := gwapiv1.IPAddressType
		if a.Type != nil {
			t = *a.Type
		}
		problem := func(reason gwapiv1.GatewayConditionReason, format string, args ...any) {
			out.Problems = append(out.Problems, AddressProblem{Index: i, Type: t, Value: a.Value, Reason: reason,
				Message: fmt.Sprintf("spec.addresses[%d] (%s %q): ", i, t, a.Value) + fmt.Sprintf(format, args...)})
		}
		switch {
		case t != gwapiv1.IPAddressType && t != gwapiv1.HostnameAddressType:
			problem(gwapiv1.GatewayReasonUnsupportedAddress, "address type %s is not supported: Flotilla supports %s and %s addresses",
				t, gwapiv1.IPAddressType, gwapiv1.HostnameAddressType)
			continue
		case a.Value == "" && t == gwapiv1.IPAddressType:
			out.AnyIP = true
			continue
		case a.Value == "":
			out.AnyHostname = true
			continue
		case t == gwapiv1.HostnameAddressType:
			problem(gwapiv1.GatewayReasonAddressNotUsable, "a Service cannot be asked for a host name; leave the value empty to take the load balancer's host name")
			continue
		}
		ip, err := netip.ParseAddr(a.Value)
		if err != nil || ip.Zone() != "" {
			problem(gwapiv1.GatewayReasonAddressNotUsable, "is not a valid IP address")
			continue
		}
		ip = ip.Unmap()
		if sa == nil {
			problem(gwapiv1.GatewayReasonAddressNotUsable, "the GatewayClass's FleetClass does not let Gateways choose their addresses "+
				"(its spec.service.staticAddresses is not set); remove the value to get any address, or ask the platform admin")
			continue
		}
		if !inPrefixes(ip, prefixes) {
			problem(gwapiv1.GatewayReasonAddressNotUsable, "is outside the addresses the FleetClass allows (%s)", joinCIDRs(sa.CIDRs))
			continue
		}
		if dup := duplicateOf(out.Static, ip.String()); dup >= 0 {
			problem(gwapiv1.GatewayReasonAddressNotUsable, "is the same address as spec.addresses[%d]", dup)
			continue
		}
		if (sa.Carrier == flotillav1alpha1.StaticAddressLoadBalancerIP || sa.Carrier == flotillav1alpha1.StaticAddressAnnotation) &&
			sp.Type != flotillav1alpha1.ServiceTypeLoadBalancer {
			problem(gwapiv1.GatewayReasonAddressNotUsable, "the class gives static addresses to a load balancer (carrier %s), and the fleet's Service is of type %s",
				sa.Carrier, sp.Type)
			continue
		}
		if n := maxAddresses(sa); len(out.Static) >= n {
			problem(gwapiv1.GatewayReasonAddressNotUsable, "the FleetClass allows %d static address(es) per Gateway, and %s is used",
				n, strings.Join(out.StaticIPs(), ", "))
			continue
		}
		out.Static = append(out.Static, StaticAddress{Index: i, IP: ip.String()})
	}
	return out
}

func inPrefixes(ip netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func duplicateOf(static []StaticAddress, ip string) int {
	for _, s := range static {
		if s.IP == ip {
			return s.Index
		}
	}
	return -1
}

func joinCIDRs(cidrs []flotillav1alpha1.IPPrefix) string {
	out := make([]string, len(cidrs))
	for i, c := range cidrs {
		out[i] = string(c)
	}
	return strings.Join(out, ", ")
}
