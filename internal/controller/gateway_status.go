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

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

// ReasonFleetObjectConflict is the Gateway's Programmed=False reason when an object Flotilla did
// not create holds the name of one of the fleet's objects.
const ReasonFleetObjectConflict gwapiv1.GatewayConditionReason = "FleetObjectConflict"

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
	// conflict says which object holds the name of a fleet object without Flotilla having created
	// it for this Gateway: nothing is provisioned (ReasonFleetObjectConflict).
	conflict string
	// addressProblems are spec.addresses the Service cannot honour (AddressNotUsable).
	addressProblems []provisioner.AddressProblem
	// addresses are the spec.addresses the Service was given; nil when nothing was provisioned.
	addresses  *provisioner.Addresses
	deployment *appsv1.Deployment
	service    *corev1.Service
	// listeners, invalidListeners and attachedListenerSets are what resolve decided.
	listeners            []gwapiv1.ListenerStatus
	invalidListeners     []gwapiv1.SectionName
	attachedListenerSets int32
	// dataPlane is the Gateway's ConditionDataPlaneAccepted, when the fleet is served.
	dataPlane *metav1.Condition
	// resolvedRefs is the Gateway's own ResolvedRefs condition, as resolve decided it.
	resolvedRefs *metav1.Condition
	// insecureFrontend is the InsecureFrontendValidationMode condition resolve decided (nil:
	// the condition is removed).
	insecureFrontend *metav1.Condition
	// tracing is the gateway.flotilla.dev/Tracing condition resolve decided (nil: the class
	// configures no tracing, and the condition is removed).
	tracing *metav1.Condition
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
		fleetNote = "; the running fleet is left as it was (its Envoys keep the configuration they have and are sent nothing until the Gateway is accepted again)"
	}
	switch {
	case fs.refused != "":
		set(gwapiv1.GatewayConditionAccepted, metav1.ConditionFalse, gwapiv1.GatewayReasonInvalidParameters, fs.refused+fleetNote)
	case fs.unsupportedAddress != "":
		set(gwapiv1.GatewayConditionAccepted, metav1.ConditionFalse, gwapiv1.GatewayReasonUnsupportedAddress, fs.unsupportedAddress+fleetNote)
	case len(fs.invalidListeners) > 0 && len(fs.invalidListeners) >= len(gw.Spec.Listeners):
		set(gwapiv1.GatewayConditionAccepted, metav1.ConditionFalse, gwapiv1.GatewayReasonListenersNotValid,
			"No listener is valid: "+joinNames(fs.invalidListeners))
	case len(fs.invalidListeners) > 0:
		set(gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonListenersNotValid,
			"Gateway accepted; these listeners are not valid: "+joinNames(fs.invalidListeners))
	default:
		set(gwapiv1.GatewayConditionAccepted, metav1.ConditionTrue, gwapiv1.GatewayReasonAccepted, "Gateway accepted; its Envoy fleet is provisioned")
	}

	st.Addresses, _ = gatewayAddresses(fs.service, fs.addresses)
	accepted := fs.refused == "" && fs.unsupportedAddress == "" &&
		(len(fs.invalidListeners) == 0 || len(fs.invalidListeners) < len(gw.Spec.Listeners))
	programmed, reason, msg := programmedState(fs, accepted)
	set(gwapiv1.GatewayConditionProgrammed, programmed, reason, msg)
	st.Listeners = listenerStatuses(fs.listeners, st.Listeners, programmed == metav1.ConditionTrue)
	if fs.resolvedRefs != nil {
		meta.SetStatusCondition(&st.Conditions, *fs.resolvedRefs)
	}
	if fs.insecureFrontend != nil {
		meta.SetStatusCondition(&st.Conditions, *fs.insecureFrontend)
	} else {
		meta.RemoveStatusCondition(&st.Conditions, string(gwapiv1.GatewayConditionInsecureFrontendValidationMode))
	}
	if fs.tracing != nil && accepted {
		meta.SetStatusCondition(&st.Conditions, *fs.tracing)
	} else {
		meta.RemoveStatusCondition(&st.Conditions, gatewayapi.ConditionTracing)
	}
	if fs.dataPlane != nil {
		meta.SetStatusCondition(&st.Conditions, *fs.dataPlane)
	} else {
		meta.RemoveStatusCondition(&st.Conditions, ConditionDataPlaneAccepted)
	}
	if gw.Spec.AllowedListeners != nil || fs.attachedListenerSets > 0 {
		st.AttachedListenerSets = &fs.attachedListenerSets
	}
}

func joinNames(names []gwapiv1.SectionName) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = string(n)
	}
	return strings.Join(out, ", ")
}

func programmedState(fs fleetState, accepted bool) (metav1.ConditionStatus, gwapiv1.GatewayConditionReason, string) {
	switch {
	case !accepted:
		// Even with a fleet running from an earlier accepted spec: Flotilla serves it nothing.
		return metav1.ConditionFalse, gwapiv1.GatewayReasonInvalid, "The Gateway is not accepted"
	case fs.conflict != "":
		return metav1.ConditionFalse, ReasonFleetObjectConflict, fs.conflict
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
	}
	switch addrs, waiting := gatewayAddresses(fs.service, fs.addresses); {
	case waiting != "":
		return metav1.ConditionFalse, gwapiv1.GatewayReasonAddressNotAssigned, waiting
	case len(addrs) == 0:
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

// listenerStatuses takes resolve's listener entries, keeps lastTransitionTime of conditions that did
// not change, and says Pending instead of Programmed while the fleet itself is not programmed.
func listenerStatuses(resolved, prev []gwapiv1.ListenerStatus, programmed bool) []gwapiv1.ListenerStatus {
	out := make([]gwapiv1.ListenerStatus, 0, len(resolved))
	for _, r := range resolved {
		var before []metav1.Condition
		for _, p := range prev {
			if p.Name == r.Name {
				before = p.Conditions
			}
		}
		want := slices.Clone(r.Conditions)
		for i, c := range want {
			if c.Type == string(gwapiv1.ListenerConditionProgrammed) && c.Status == metav1.ConditionTrue && !programmed {
				want[i].Status, want[i].Reason, want[i].Message = metav1.ConditionFalse, string(gwapiv1.ListenerReasonPending), "Waiting for the fleet to be programmed"
			}
		}
		r.Conditions = mergeConditions(before, want)
		out = append(out, r)
	}
	return out
}

// mergeConditions returns want, with the lastTransitionTime of each condition whose status did
// not change taken from before; conditions of before that want lacks are dropped.
func mergeConditions(before, want []metav1.Condition) []metav1.Condition {
	out := slices.Clone(before)
	if out == nil {
		out = []metav1.Condition{}
	}
	for _, c := range before {
		if meta.FindStatusCondition(want, c.Type) == nil {
			meta.RemoveStatusCondition(&out, c.Type)
		}
	}
	for _, c := range want {
		meta.SetStatusCondition(&out, c)
	}
	return out
}
