package controller

import (
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

// fleetState is what the reconciler learned about one Gateway's fleet; gatewayStatus turns it into
// the Gateway's status. Pure, so every branch is unit-tested.
type fleetState struct {
	// refused is the InvalidParameters message (bad parametersRef, bounds, namespace, quota); empty
	// when the Gateway is accepted.
	refused string
	// unsupportedAddress is the UnsupportedAddress message; empty when every address type is supported.
	unsupportedAddress string
	// fleetExists says a Deployment from an earlier accepted spec is running.
	fleetExists bool
	// pending says why the fleet cannot run yet (a certificate cert-manager has not issued).
	pending string
	// addressProblems are spec.addresses the Service cannot honour (AddressNotUsable).
	addressProblems []provisioner.AddressProblem
	deployment      *appsv1.Deployment
	service         *corev1.Service
}

// gatewayStatus computes the Gateway's conditions, addresses and listener entries into st.
func gatewayStatus(gw *gwapiv1.Gateway, fs fleetState, st *gwapiv1.GatewayStatus) {
	gen := gw.Generation
	set := func(t gwapiv1.GatewayConditionType, s metav1.ConditionStatus, r gwapiv1.GatewayConditionReason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: string(t), Status: s, Reason: string(r),
			Message: msg, ObservedGeneration: gen})
	}
	fleetNote := "; no fleet is provisioned"
	if fs.fleetExists {
		fleetNote = "; the running fleet is left as it was"
	}
	switch {
	case fs.refused != "":
		set(gwapiv1.GatewayConditionAccepted, metav1.ConditionFalse, gwapiv1.GatewayReasonInvalidParameters, fs.refused+fleetNote)
	case fs.unsupportedAddress != "":
		set(gwapiv1.GatewayConditionAccepted, metav1.ConditionFalse, gwapiv1.GatewayReasonUnsupportedAddress, fs.unsupportedAddress+fleetNote)
	default:
		set(gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonAccepted, "Gateway accepted; its Envoy fleet is provisioned")
	}

	st.Addresses = serviceAddresses(fs.service)
	accepted := fs.refused == "" && fs.unsupportedAddress == ""
	programmed, reason, msg := programmedState(fs, accepted)
	set(gwapiv1.GatewayConditionProgrammed, programmed, reason, msg)
	st.Listeners = listenerStatuses(gw, st.Listeners, programmed == metav1.ConditionTrue)
}

func programmedState(fs fleetState, accepted bool) (metav1.ConditionStatus, gwapiv1.GatewayConditionReason, string) {
	switch {
	case !accepted && !fs.fleetExists:
		return metav1.ConditionFalse, gwapiv1.GatewayReasonInvalid, "The Gateway is not accepted"
	case fs.pending != "":
		return metav1.ConditionFalse, gwapiv1.GatewayReasonPending, fs.pending
	case len(fs.addressProblems) > 0:
		msgs := make([]string, 0, len(fs.addressProblems))
		for _, p := range fs.addressProblems {
			msgs = append(msgs, p.Message)
		}
		return metav1.ConditionFalse, gwapiv1.GatewayReasonAddressNotUsable, strings.Join(msgs, "; ")
	case fs.deployment == nil || !deploymentAvailable(fs.deployment):
		return metav1.ConditionFalse, gwapiv1.GatewayReasonPending, "Waiting for the Envoy Deployment to become available"
	case len(serviceAddresses(fs.service)) == 0:
		return metav1.ConditionFalse, gwapiv1.GatewayReasonAddressNotAssigned, addressWait(fs.service)
	}
	return metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed,
		fmt.Sprintf("%d of %d Envoy replicas available", fs.deployment.Status.AvailableReplicas, fs.deployment.Status.Replicas)
}

func addressWait(svc *corev1.Service) string {
	if svc == nil {
		return "The Gateway has no listener port to expose, so no Service and no address"
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		return fmt.Sprintf("Waiting for a load balancer to assign Service %s an address", svc.Name)
	}
	return fmt.Sprintf("Waiting for Service %s to get a cluster IP", svc.Name)
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	if d.Status.ObservedGeneration < d.Generation {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// serviceAddresses are the Gateway's addresses: the load balancer's IPs and hostnames for a
// LoadBalancer Service, the cluster IPs otherwise.
func serviceAddresses(svc *corev1.Service) []gwapiv1.GatewayStatusAddress {
	if svc == nil {
		return nil
	}
	var out []gwapiv1.GatewayStatusAddress
	ip, host := gwapiv1.IPAddressType, gwapiv1.HostnameAddressType
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, in := range svc.Status.LoadBalancer.Ingress {
			switch {
			case in.IP != "":
				out = append(out, gwapiv1.GatewayStatusAddress{Type: &ip, Value: in.IP})
			case in.Hostname != "":
				out = append(out, gwapiv1.GatewayStatusAddress{Type: &host, Value: in.Hostname})
			}
		}
		return out
	}
	for _, c := range svc.Spec.ClusterIPs {
		if c != "" && c != corev1.ClusterIPNone {
			out = append(out, gwapiv1.GatewayStatusAddress{Type: &ip, Value: c})
		}
	}
	return out
}

// routeKindsFor is what each listener protocol can carry.
var routeKindsFor = map[gwapiv1.ProtocolType][]gwapiv1.Kind{
	gwapiv1.HTTPProtocolType:  {"HTTPRoute", "GRPCRoute"},
	gwapiv1.HTTPSProtocolType: {"HTTPRoute", "GRPCRoute"},
	gwapiv1.TLSProtocolType:   {"TLSRoute"},
	gwapiv1.TCPProtocolType:   {"TCPRoute"},
	gwapiv1.UDPProtocolType:   {"UDPRoute"},
}

// listenerStatuses gives each listener its entry: supported kinds and conditions. Route attachment
// counts stay as they were (routes are resolved elsewhere).
func listenerStatuses(gw *gwapiv1.Gateway, prev []gwapiv1.ListenerStatus, programmed bool) []gwapiv1.ListenerStatus {
	out := make([]gwapiv1.ListenerStatus, 0, len(gw.Spec.Listeners))
	for _, l := range gw.Spec.Listeners {
		ls := gwapiv1.ListenerStatus{Name: l.Name, SupportedKinds: []gwapiv1.RouteGroupKind{}}
		for _, p := range prev {
			if p.Name == l.Name {
				ls.Conditions, ls.AttachedRoutes = slices.Clone(p.Conditions), p.AttachedRoutes
			}
		}
		set := func(t gwapiv1.ListenerConditionType, s metav1.ConditionStatus, r gwapiv1.ListenerConditionReason, msg string) {
			meta.SetStatusCondition(&ls.Conditions, metav1.Condition{Type: string(t), Status: s, Reason: string(r),
				Message: msg, ObservedGeneration: gw.Generation})
		}
		kinds, ok := routeKindsFor[l.Protocol]
		if !ok {
			set(gwapiv1.ListenerConditionAccepted, metav1.ConditionFalse, gwapiv1.ListenerReasonUnsupportedProtocol,
				fmt.Sprintf("Protocol %q is not supported", l.Protocol))
			set(gwapiv1.ListenerConditionProgrammed, metav1.ConditionFalse, gwapiv1.ListenerReasonInvalid, "The listener is not accepted")
			// Conditions of an earlier, supported protocol no longer say anything true.
			meta.RemoveStatusCondition(&ls.Conditions, string(gwapiv1.ListenerConditionResolvedRefs))
			meta.RemoveStatusCondition(&ls.Conditions, string(gwapiv1.ListenerConditionConflicted))
			out = append(out, ls)
			continue
		}
		invalidKinds := filterKinds(l, kinds, &ls)
		set(gwapiv1.ListenerConditionAccepted, metav1.ConditionTrue, gwapiv1.ListenerReasonAccepted, "Listener accepted")
		set(gwapiv1.ListenerConditionConflicted, metav1.ConditionFalse, gwapiv1.ListenerReasonNoConflicts, "No conflicts")
		if len(invalidKinds) > 0 {
			set(gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionFalse, gwapiv1.ListenerReasonInvalidRouteKinds,
				fmt.Sprintf("Route kinds not supported on a %s listener: %s", l.Protocol, strings.Join(invalidKinds, ", ")))
		} else {
			set(gwapiv1.ListenerConditionResolvedRefs, metav1.ConditionTrue, gwapiv1.ListenerReasonResolvedRefs, "References resolved")
		}
		if programmed {
			set(gwapiv1.ListenerConditionProgrammed, metav1.ConditionTrue, gwapiv1.ListenerReasonProgrammed, "Listener programmed")
		} else {
			set(gwapiv1.ListenerConditionProgrammed, metav1.ConditionFalse, gwapiv1.ListenerReasonPending, "Waiting for the fleet")
		}
		out = append(out, ls)
	}
	return out
}

// filterKinds fills the listener's supportedKinds from allowedRoutes.kinds (or the protocol's
// kinds) and returns the requested kinds the protocol cannot carry.
func filterKinds(l gwapiv1.Listener, kinds []gwapiv1.Kind, ls *gwapiv1.ListenerStatus) []string {
	group := gwapiv1.Group(gwapiv1.GroupName)
	if l.AllowedRoutes == nil || len(l.AllowedRoutes.Kinds) == 0 {
		for _, k := range kinds {
			ls.SupportedKinds = append(ls.SupportedKinds, gwapiv1.RouteGroupKind{Group: &group, Kind: k})
		}
		return nil
	}
	var invalid []string
	for _, rk := range l.AllowedRoutes.Kinds {
		g := gwapiv1.Group(gwapiv1.GroupName)
		if rk.Group != nil {
			g = *rk.Group
		}
		ok := false
		for _, k := range kinds {
			ok = ok || (g == gwapiv1.GroupName && rk.Kind == k)
		}
		if ok {
			ls.SupportedKinds = append(ls.SupportedKinds, gwapiv1.RouteGroupKind{Group: &group, Kind: rk.Kind})
		} else {
			invalid = append(invalid, fmt.Sprintf("%s/%s", g, rk.Kind))
		}
	}
	return invalid
}
