package offline

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// SyntheticSliceSuffix ends the name of the EndpointSlice made up for a Service that has none.
const SyntheticSliceSuffix = "-flotillactl-synthetic"

// synthesizeEndpoints gives every Service without an EndpointSlice in the input one synthetic
// EndpointSlice: its clusterIP, ready, on each of the Service's ports (Envoy then connects to the
// clusterIP, and kube-proxy picks a Pod). A Service without a clusterIP (headless, ExternalName, or
// never applied) gets none. Either way a note says so.
func (s *Set) synthesizeEndpoints() {
	hasSlice := map[string]bool{}
	for _, es := range s.Docs.EndpointSlices {
		if svc := es.Labels[discoveryv1.LabelServiceName]; svc != "" {
			hasSlice[es.Namespace+"/"+svc] = true
		}
	}
	s.endpoints = map[string]string{}
	for _, svc := range s.Docs.Services {
		key := svc.Namespace + "/" + svc.Name
		if hasSlice[key] || s.endpoints[key] != "" {
			continue
		}
		es, note := syntheticSlice(svc)
		s.endpoints[key] = note
		if es != nil {
			s.Docs.EndpointSlices = append(s.Docs.EndpointSlices, es)
		}
	}
}

// syntheticSlice is the EndpointSlice standing in for a Service's missing ones (nil when it has
// no clusterIP), and the note that says so.
func syntheticSlice(svc *corev1.Service) (*discoveryv1.EndpointSlice, string) {
	key := svc.Namespace + "/" + svc.Name
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		return nil, fmt.Sprintf("Service %s is of type ExternalName: no endpoints", key)
	case svc.Spec.ClusterIP == corev1.ClusterIPNone:
		return nil, fmt.Sprintf("Service %s is headless and the input has no EndpointSlice for it: its clusters have no endpoints", key)
	case svc.Spec.ClusterIP == "":
		return nil, fmt.Sprintf("Service %s has no EndpointSlice and no clusterIP in the input: its clusters have no endpoints "+
			"(give spec.clusterIP, or its EndpointSlices, to see some)", key)
	case err != nil:
		return nil, fmt.Sprintf("Service %s: clusterIP %q is not an IP address: its clusters have no endpoints", key, svc.Spec.ClusterIP)
	}
	family := discoveryv1.AddressTypeIPv4
	if ip.Is6() && !ip.Is4In6() {
		family = discoveryv1.AddressTypeIPv6
	}
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name + SyntheticSliceSuffix,
			Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name}},
		AddressType: family,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip.String()}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
	ports := make([]int32, 0, len(svc.Spec.Ports))
	for _, sp := range svc.Spec.Ports {
		es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: ptr.To(sp.Name), Port: ptr.To(sp.Port),
			Protocol: ptr.To(cmp.Or(sp.Protocol, corev1.ProtocolTCP))})
		ports = append(ports, sp.Port)
	}
	slices.Sort(ports)
	list := make([]string, 0, len(ports))
	for _, p := range slices.Compact(ports) {
		list = append(list, strconv.Itoa(int(p)))
	}
	return es, fmt.Sprintf("Service %s has no EndpointSlice in the input: synthetic endpoint %s (its clusterIP), ready, on port(s) %s",
		key, ip, strings.Join(list, ", "))
}
