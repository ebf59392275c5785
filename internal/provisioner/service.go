package provisioner

import (
	"cmp"
	"fmt"
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
// p. The Gateway's static addresses that GatewayAddresses lets through go where the class's
// staticAddresses.carrier says: spec.clusterIP, spec.externalIPs, spec.loadBalancerIP or its
// annotation (comma-separated), which Flotilla owns: a value for that annotation from anywhere
// else is dropped. The Service is nil when the Gateway has no port to expose: the API server
// refuses a Service without ports.
func Service(gw *gwapiv1.Gateway, p Params) (*corev1.Service, *Addresses) {
	ports := fleetPorts(gw)
	addrs := GatewayAddresses(gw, p.Service)
	if len(ports) == 0 {
		return nil, addrs
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
	}
	ips := addrs.StaticIPs()
	switch addrs.Carrier {
	case flotillav1alpha1.StaticAddressClusterIP:
		if len(ips) > 0 {
			svc.Spec.ClusterIP = ips[0]
		}
	case flotillav1alpha1.StaticAddressExternalIPs:
		svc.Spec.ExternalIPs = ips
	case flotillav1alpha1.StaticAddressLoadBalancerIP:
		if len(ips) > 0 {
			svc.Spec.LoadBalancerIP = ips[0]
		}
	case flotillav1alpha1.StaticAddressAnnotation:
		delete(svc.Annotations, addrs.AnnotationKey)
		if len(ips) > 0 {
			if svc.Annotations == nil {
				svc.Annotations = map[string]string{}
			}
			svc.Annotations[addrs.AnnotationKey] = strings.Join(ips, ",")
		}
		if len(svc.Annotations) == 0 {
			svc.Annotations = nil
		}
	}
	return svc, addrs
}
