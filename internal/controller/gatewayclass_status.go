package controller

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/version"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/consts"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// ControllerName is the GatewayClass spec.controllerName Flotilla serves.
const ControllerName gwapiv1.GatewayController = "gateway.flotilla.dev/controller"

// gatewayAPIGroups are the API groups whose CRDs carry Gateway API's bundle-version annotation.
var gatewayAPIGroups = []string{gwapiv1.GroupName, "gateway.networking.x-k8s.io"}

// paramsLookup is what the reconciler found for a GatewayClass's parametersRef.
type paramsLookup struct {
	fleetClass *flotillav1alpha1.FleetClass // nil when not found
}

// acceptedCondition decides the GatewayClass Accepted condition from its parametersRef and what the
// lookup found. It is pure: the reconciler does the reading.
func acceptedCondition(gc *gwapiv1.GatewayClass, found paramsLookup) metav1.Condition {
	invalid := func(format string, args ...any) metav1.Condition {
		return metav1.Condition{
			Type: string(gwapiv1.GatewayClassConditionStatusAccepted), Status: metav1.ConditionFalse,
			Reason: string(gwapiv1.GatewayClassReasonInvalidParameters), Message: fmt.Sprintf(format, args...),
			ObservedGeneration: gc.Generation,
		}
	}
	accepted := metav1.Condition{
		Type: string(gwapiv1.GatewayClassConditionStatusAccepted), Status: metav1.ConditionTrue,
		Reason: string(gwapiv1.GatewayClassReasonAccepted), ObservedGeneration: gc.Generation,
		Message: "Flotilla provisions an Envoy fleet for each Gateway of this class with the default parameters",
	}
	ref := gc.Spec.ParametersRef
	if ref == nil {
		return accepted
	}
	if string(ref.Group) != flotillav1alpha1.GroupVersion.Group || string(ref.Kind) != flotillav1alpha1.KindFleetClass {
		return invalid("parametersRef must refer to group %q kind %q, not group %q kind %q",
			flotillav1alpha1.GroupVersion.Group, flotillav1alpha1.KindFleetClass, ref.Group, ref.Kind)
	}
	if ref.Namespace != nil {
		return invalid("parametersRef.namespace must not be set: FleetClass %q is cluster-scoped (got namespace %q)",
			ref.Name, *ref.Namespace)
	}
	if found.fleetClass == nil {
		return invalid("FleetClass %q not found", ref.Name)
	}
	if errs := found.fleetClass.Validate(); len(errs) > 0 {
		return invalid("FleetClass %q is invalid: %s", ref.Name, errs.ToAggregate().Error())
	}
	accepted.Message = fmt.Sprintf("Flotilla provisions an Envoy fleet for each Gateway of this class with the parameters of FleetClass %q", ref.Name)
	return accepted
}

// withUnserved names, on an Accepted=True condition, the kinds Flotilla cannot serve because their
// CRDs were missing at start-up.
func withUnserved(c metav1.Condition, unserved []string) metav1.Condition {
	if len(unserved) > 0 && c.Status == metav1.ConditionTrue {
		c.Message += "; not served because their CRDs were not installed when Flotilla started: " + strings.Join(unserved, ", ")
	}
	return c
}

// supportedVersionCondition checks the bundle-version annotation of every installed Gateway API CRD
// against the version Flotilla is built with: the same minor release is supported.
func supportedVersionCondition(crds []metav1.PartialObjectMetadata, generation int64) metav1.Condition {
	cond := metav1.Condition{
		Type: string(gwapiv1.GatewayClassConditionStatusSupportedVersion), ObservedGeneration: generation,
	}
	want := version.MustParseSemantic(consts.BundleVersion)
	supported := fmt.Sprintf("v%d.%d.x", want.Major(), want.Minor())
	var bad, seen []string
	versions := map[string]bool{}
	for _, crd := range crds {
		v := crd.Annotations[consts.BundleVersionAnnotation]
		seen = append(seen, crd.Name)
		got, err := version.ParseSemantic(v)
		if err != nil || got.Major() != want.Major() || got.Minor() != want.Minor() {
			if v == "" {
				v = "no bundle-version annotation"
			}
			bad = append(bad, fmt.Sprintf("%s (%s)", crd.Name, v))
			continue
		}
		versions[v] = true
	}
	sort.Strings(bad)
	switch {
	case len(seen) == 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, string(gwapiv1.GatewayClassReasonUnsupportedVersion)
		cond.Message = fmt.Sprintf("no Gateway API CRDs found; Flotilla supports Gateway API %s", supported)
	case len(bad) > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, string(gwapiv1.GatewayClassReasonUnsupportedVersion)
		cond.Message = fmt.Sprintf("Gateway API CRDs of an unsupported version: %s; Flotilla supports Gateway API %s",
			strings.Join(bad, ", "), supported)
	default:
		vs := make([]string, 0, len(versions))
		for v := range versions {
			vs = append(vs, v)
		}
		sort.Strings(vs)
		cond.Status, cond.Reason = metav1.ConditionTrue, string(gwapiv1.GatewayClassReasonSupportedVersion)
		cond.Message = fmt.Sprintf("Gateway API %s installed; Flotilla supports Gateway API %s", strings.Join(vs, ", "), supported)
	}
	return cond
}

// isGatewayAPICRD says whether a CRD name belongs to one of Gateway API's groups.
func isGatewayAPICRD(name string) bool {
	for _, g := range gatewayAPIGroups {
		if strings.HasSuffix(name, "."+g) {
			return true
		}
	}
	return false
}
