package provisioner

import (
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Merge computes the effective parameters of one fleet: the built-in and operator defaults, under
// the FleetClass (nil when the GatewayClass has no parametersRef), under the FleetConfig the
// Gateway references (nil when it references none), under the Gateway's spec.infrastructure
// labels and annotations.
//
// A team may set a FleetConfig field only when the class's spec.tenancy.overrides bounds it, and
// only within that bound; every other request is returned as a Refusal and left out of Params,
// never clamped. Without tenancy.overrides (or without a FleetClass) no FleetConfig field may be
// set, but infrastructure labels and annotations may use any key that is not reserved, as Gateway
// API's GatewayInfrastructure feature expects; with tenancy.overrides they must match its
// labelKeyPrefixes and annotationKeyPrefixes. Reserved keys (kubernetes.io, k8s.io, flotilla.dev
// domains, hence every label Flotilla sets) are always refused unless a non-empty class prefix
// names a Kubernetes-domain key explicitly; flotilla.dev keys never pass.
//
// A Gateway whose parametersRef names a FleetConfig while cfg is nil is refused (not found), as is
// a parametersRef to another kind. When refusals are returned the Gateway must not be provisioned.
func Merge(gw *gwapiv1.Gateway, class *flotillav1alpha1.FleetClass, cfg *flotillav1alpha1.FleetConfig, defaults Defaults) (Params, []Refusal) {
	p := defaultParams(defaults)
	var bounds *flotillav1alpha1.OverrideBounds
	var classTarget *int32
	if class != nil {
		applyClass(&p, class.Name, &class.Spec)
		if t := class.Spec.Tenancy; t != nil {
			bounds = t.Overrides
		}
		if a := class.Spec.Autoscaling; a != nil {
			classTarget = a.TargetCPUUtilizationPercentage
		}
	}

	gwRefusals := &refusals{object: "Gateway " + gw.Name}
	checkParametersRef(gwRefusals, gw, cfg)

	var all []Refusal
	if cfg != nil {
		cfgRefusals := &refusals{object: "FleetConfig " + cfg.Name}
		applyConfig(cfgRefusals, &p, &cfg.Spec, bounds, classTarget)
		if t := cfg.Spec.Telemetry; t != nil {
			b := bounds
			if b == nil {
				b = &flotillav1alpha1.OverrideBounds{}
			}
			applyConfigTracing(cfgRefusals, &p, cfg.Name, t.Tracing, b)
		}
		all = append(all, cfgRefusals.list...)
	}

	if infra := gw.Spec.Infrastructure; infra != nil {
		labelRule := keyRule{any: bounds == nil, boundField: "labelKeyPrefixes"}
		annotationRule := keyRule{any: bounds == nil, boundField: "annotationKeyPrefixes"}
		if bounds != nil {
			labelRule.prefixes = bounds.LabelKeyPrefixes
			annotationRule.prefixes = bounds.AnnotationKeyPrefixes
		}
		labels := make(map[string]string, len(infra.Labels))
		for k, v := range infra.Labels {
			labels[string(k)] = string(v)
		}
		annotations := make(map[string]string, len(infra.Annotations))
		for k, v := range infra.Annotations {
			annotations[string(k)] = string(v)
		}
		p.InfrastructureLabels = gwRefusals.checkKeys("spec.infrastructure.labels", labels, labelRule)
		p.InfrastructureAnnotations = gwRefusals.checkCarrierKey("spec.infrastructure.annotations",
			gwRefusals.checkKeys("spec.infrastructure.annotations", annotations, annotationRule), &p)
	}
	return p, append(gwRefusals.list, all...)
}

// checkParametersRef refuses a Gateway whose infrastructure.parametersRef names something other
// than a FleetConfig, or a FleetConfig that does not exist (cfg nil).
func checkParametersRef(rs *refusals, gw *gwapiv1.Gateway, cfg *flotillav1alpha1.FleetConfig) {
	if gw.Spec.Infrastructure == nil || gw.Spec.Infrastructure.ParametersRef == nil {
		return
	}
	ref := gw.Spec.Infrastructure.ParametersRef
	const field = "spec.infrastructure.parametersRef"
	switch {
	case string(ref.Group) != flotillav1alpha1.GroupVersion.Group || string(ref.Kind) != flotillav1alpha1.KindFleetConfig:
		rs.outside(field, fmt.Sprintf("%s/%s %q", ref.Group, ref.Kind, ref.Name), "",
			fmt.Sprintf("is not supported: only %s/%s is", flotillav1alpha1.GroupVersion.Group, flotillav1alpha1.KindFleetConfig))
	case cfg == nil:
		rs.outside(field, fmt.Sprintf("FleetConfig %q", ref.Name), "", fmt.Sprintf("not found in namespace %q", gw.Namespace))
	}
}

// applyConfig lays a FleetConfig's allowed fields over p and records the rest.
func applyConfig(rs *refusals, p *Params, s *flotillav1alpha1.FleetConfigSpec, b *flotillav1alpha1.OverrideBounds, classTarget *int32) {
	if b == nil {
		b = &flotillav1alpha1.OverrideBounds{}
	}
	if s.Replicas != nil {
		if inReplicaBounds(rs, "spec.replicas", *s.Replicas, b.Replicas) {
			p.Replicas, p.Autoscaling = copyPtr(s.Replicas), nil
		}
	}
	if a := s.Autoscaling; a != nil {
		if b.Replicas == nil {
			rs.notAllowed("spec.autoscaling", "", "replicas")
		} else {
			okMin := inReplicaBounds(rs, "spec.autoscaling.minReplicas", a.MinReplicas, b.Replicas)
			okMax := inReplicaBounds(rs, "spec.autoscaling.maxReplicas", a.MaxReplicas, b.Replicas)
			if okMin && okMax {
				p.Replicas, p.Autoscaling = nil, withTarget(a, classTarget)
			}
		}
	}
	if s.Resources != nil {
		applyResources(rs, p, s.Resources, b.Resources)
	}
	if sv := s.Service; sv != nil {
		if t := sv.Type; t != nil {
			switch {
			case len(b.ServiceTypes) == 0:
				rs.notAllowed("spec.service.type", fmt.Sprintf("%q", *t), "serviceTypes")
			case !slices.Contains(b.ServiceTypes, *t):
				bound := fmt.Sprint(b.ServiceTypes)
				rs.outside("spec.service.type", fmt.Sprintf("%q", *t), bound, "is not among the allowed service types "+bound)
			default:
				p.Service.Type = *t
			}
		}
		ok := rs.checkKeys("spec.service.annotations", sv.Annotations, keyRule{prefixes: b.AnnotationKeyPrefixes, boundField: "annotationKeyPrefixes"})
		p.Service.Annotations = overlay(p.Service.Annotations, rs.checkCarrierKey("spec.service.annotations", ok, p))
	}
	if pod := s.Pod; pod != nil {
		labels := rs.checkKeys("spec.pod.labels", pod.Labels, keyRule{prefixes: b.LabelKeyPrefixes, boundField: "labelKeyPrefixes"})
		annotations := rs.checkKeys("spec.pod.annotations", pod.Annotations, keyRule{prefixes: b.AnnotationKeyPrefixes, boundField: "annotationKeyPrefixes"})
		p.PodLabels = overlay(p.PodLabels, labels)
		p.PodAnnotations = overlay(p.PodAnnotations, annotations)
	}
	if e := s.Envoy; e != nil && e.LogLevel != nil {
		if b.LogLevel {
			p.LogLevel = *e.LogLevel
		} else {
			rs.notAllowed("spec.envoy.logLevel", fmt.Sprintf("%q", *e.LogLevel), "logLevel")
		}
	}
}

// inReplicaBounds reports whether n lies in the bounds, recording a refusal when it does not.
func inReplicaBounds(rs *refusals, field string, n int32, b *flotillav1alpha1.ReplicaBounds) bool {
	value := fmt.Sprint(n)
	if b == nil {
		rs.notAllowed(field, value, "replicas")
		return false
	}
	if n < b.Min || n > b.Max {
		bound := fmt.Sprintf("[%d, %d]", b.Min, b.Max)
		rs.outside(field, value, bound, "is outside the class's bounds "+bound)
		return false
	}
	return true
}

// applyResources lays a team's requests and limits over the class's, key by key, so that a team
// cannot drop a limit the class set by leaving it out. Each value must be at most the class's
// bound for that resource, and every resulting request at most its limit.
func applyResources(rs *refusals, p *Params, r *corev1.ResourceRequirements, b *flotillav1alpha1.ResourceBounds) {
	if b == nil {
		rs.notAllowed("spec.resources", "", "resources")
		return
	}
	before := len(rs.list)
	if len(r.Claims) > 0 {
		rs.notAllowed("spec.resources.claims", "", "resources")
	}
	bounded := slices.Sorted(maps.Keys(b.Max))
	for _, part := range []struct {
		name string
		list corev1.ResourceList
	}{{"requests", r.Requests}, {"limits", r.Limits}} {
		for _, name := range slices.Sorted(maps.Keys(part.list)) {
			q := part.list[name]
			field := fmt.Sprintf("spec.resources.%s[%s]", part.name, name)
			maxQ, ok := b.Max[name]
			switch {
			case !ok:
				bound := fmt.Sprint(bounded)
				rs.outside(field, q.String(), bound, "is not a resource the class lets teams set "+bound)
			case q.Cmp(maxQ) > 0:
				rs.outside(field, q.String(), maxQ.String(), "exceeds the class's bound "+maxQ.String())
			}
		}
	}
	if len(rs.list) > before {
		return
	}
	merged := *p.Resources.DeepCopy()
	merged.Requests = overlayResources(merged.Requests, r.Requests)
	merged.Limits = overlayResources(merged.Limits, r.Limits)
	for _, name := range slices.Sorted(maps.Keys(merged.Requests)) {
		req, lim := merged.Requests[name], merged.Limits[name]
		if _, hasLimit := merged.Limits[name]; hasLimit && req.Cmp(lim) > 0 {
			rs.outside(fmt.Sprintf("spec.resources.requests[%s]", name), req.String(), lim.String(),
				"exceeds the limit "+lim.String()+" it would run with")
		}
	}
	if len(rs.list) == before {
		p.Resources = merged
	}
}

func overlay(base, over map[string]string) map[string]string {
	if len(over) == 0 {
		return base
	}
	out := cloneMap(base)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, over)
	return out
}

func overlayResources(base, over corev1.ResourceList) corev1.ResourceList {
	if len(over) == 0 {
		return base
	}
	out := base.DeepCopy()
	if out == nil {
		out = corev1.ResourceList{}
	}
	for k, v := range over {
		out[k] = v.DeepCopy()
	}
	return out
}

// checkCarrierKey refuses (and leaves out of m) the annotation that carries the Gateway's static
// addresses when the class's staticAddresses carrier is Annotation: Flotilla alone writes it, from
// spec.addresses the class admitted, so a team cannot claim an address through it.
func (rs *refusals) checkCarrierKey(field string, m map[string]string, p *Params) map[string]string {
	sa := p.Service.StaticAddresses
	if sa == nil || sa.Carrier != flotillav1alpha1.StaticAddressAnnotation || sa.AnnotationKey == "" {
		return m
	}
	if _, ok := m[sa.AnnotationKey]; !ok {
		return m
	}
	path := fmt.Sprintf("%s[%q]", field, sa.AnnotationKey)
	rs.list = append(rs.list, Refusal{Object: rs.object, Field: path, Value: sa.AnnotationKey,
		Message: path + ": the class carries static addresses in this annotation (service.staticAddresses.annotationKey); request addresses in the Gateway's spec.addresses"})
	out := maps.Clone(m)
	delete(out, sa.AnnotationKey)
	return out
}
