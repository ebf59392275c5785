package provisioner

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// ContainerPort is the port Envoy binds for a Gateway listener port, and the Service's
// targetPort for it: the same number. Envoy may bind ports below 1024 without NET_BIND_SERVICE
// because the Pod sets net.ipv4.ip_unprivileged_port_start=0 (see the package doc). The xDS
// translator uses this function for its listener addresses.
func ContainerPort(listenerPort int32) int32 { return listenerPort }

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

// fleetPort is one distinct (port, protocol) the fleet listens on.
type fleetPort struct {
	port     int32
	protocol corev1.Protocol
}

func (fp fleetPort) name() string {
	return fmt.Sprintf("%s-%d", strings.ToLower(string(fp.protocol)), fp.port)
}

// fleetPorts are the distinct (port, protocol) pairs of the Gateway's listeners, sorted: TCP for
// HTTP, HTTPS, TLS and TCP listeners, UDP for UDP ones. Listeners with another protocol or on a
// reserved port are left out; the resolver reports them on the listener status.
func fleetPorts(gw *gwapiv1.Gateway) []fleetPort {
	var out []fleetPort
	for _, l := range gw.Spec.Listeners {
		var proto corev1.Protocol
		switch l.Protocol {
		case gwapiv1.HTTPProtocolType, gwapiv1.HTTPSProtocolType, gwapiv1.TLSProtocolType, gwapiv1.TCPProtocolType:
			proto = corev1.ProtocolTCP
		case gwapiv1.UDPProtocolType:
			proto = corev1.ProtocolUDP
		default:
			continue
		}
		port := int32(l.Port)
		if IsReservedPort(ContainerPort(port)) {
			continue
		}
		out = append(out, fleetPort{port: port, protocol: proto})
	}
	slices.SortFunc(out, func(a, b fleetPort) int {
		return cmp.Or(cmp.Compare(a.port, b.port), cmp.Compare(a.protocol, b.protocol))
	})
	return slices.Compact(out)
}

// Service exposes the fleet: one port per distinct listener port and protocol, named like
// "tcp-443" or "udp-53", with targetPort ContainerPort(port). Type, annotations,
// externalTrafficPolicy (not for ClusterIP) and loadBalancerClass (LoadBalancer only) come from
// p. Gateway spec.addresses of type IPAddress become spec.externalIPs (LoadBalancer, NodePort) or
// spec.clusterIP (ClusterIP, one address; note that the API server never changes a Service's
// clusterIP, so a changed address needs the Service recreated); the others are returned as
// AddressProblems. The Service is nil when the Gateway has no port to expose: the API server
// refuses a Service without ports.
func Service(gw *gwapiv1.Gateway, p Params) (*corev1.Service, []AddressProblem) {
	ports := fleetPorts(gw)
	ips, problems := gatewayIPs(gw, p.Service.Type)
	if len(ports) == 0 {
		return nil, problems
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(gw, p, p.Service.Annotations),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceType(p.Service.Type),
			Selector: SelectorLabels(gw),
		},
	}
	for _, fp := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name:       fp.name(),
			Protocol:   fp.protocol,
			Port:       fp.port,
			TargetPort: intstr.FromInt32(ContainerPort(fp.port)),
		})
	}
	switch p.Service.Type {
	case flotillav1alpha1.ServiceTypeLoadBalancer:
		svc.Spec.LoadBalancerClass = copyPtr(p.Service.LoadBalancerClass)
		fallthrough
	case flotillav1alpha1.ServiceTypeNodePort:
		if etp := p.Service.ExternalTrafficPolicy; etp != nil {
			svc.Spec.ExternalTrafficPolicy = *etp
		}
		svc.Spec.ExternalIPs = ips
	case flotillav1alpha1.ServiceTypeClusterIP:
		if len(ips) > 0 {
			svc.Spec.ClusterIP = ips[0]
		}
	}
	return svc, problems
}

// gatewayIPs returns the IP addresses of spec.addresses the Service can carry, canonicalised, and
// a problem for each entry it cannot. An IPAddress entry without a value asks for any address,
// which the Service gets anyway.
func gatewayIPs(gw *gwapiv1.Gateway, serviceType flotillav1alpha1.ServiceType) ([]string, []AddressProblem) {
	var ips []string
	var problems []AddressProblem
	for i, a := range gw.Spec.Addresses {
		t := gwapiv1.IPAddressType
		if a.Type != nil {
			t = *a.Type
		}
		problem := func(reason gwapiv1.GatewayConditionReason, format string, args ...any) {
			problems = append(problems, AddressProblem{Index: i, Type: t, Value: a.Value, Reason: reason,
				Message: fmt.Sprintf("spec.addresses[%d] (%s %q): ", i, t, a.Value) + fmt.Sprintf(format, args...)})
		}
		if t != gwapiv1.IPAddressType {
			problem(gwapiv1.GatewayReasonUnsupportedAddress, "address type %s is not supported: Flotilla supports %s addresses only", t, gwapiv1.IPAddressType)
			continue
		}
		if a.Value == "" {
			continue
		}
		ip, err := netip.ParseAddr(a.Value)
		if err != nil || ip.Zone() != "" {
			problem(gwapiv1.GatewayReasonAddressNotUsable, "is not a valid IP address")
			continue
		}
		if serviceType == flotillav1alpha1.ServiceTypeClusterIP && len(ips) == 1 {
			problem(gwapiv1.GatewayReasonAddressNotUsable, "a ClusterIP Service takes one address, and %s is used", ips[0])
			continue
		}
		ips = append(ips, ip.String())
	}
	return ips, problems
}
