package provisioner

import (
	"fmt"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// DefaultSamplingPercent is the tracing sampling percentage when the class sets none.
const DefaultSamplingPercent = 1.0

// DefaultCollectorPort is the port of a collector Service when its reference names none: OTLP's
// gRPC port.
const DefaultCollectorPort int32 = 4317

// Tracing is a fleet's effective OpenTelemetry tracing (FleetClass telemetry.tracing, with a
// team's FleetConfig overrides). Resolve checks the collector; the translator configures Envoy.
type Tracing struct {
	// Collector is where spans (and OTLP access logs) go.
	Collector flotillav1alpha1.TracingCollector
	// CollectorFromTeam says the FleetConfig named the collector: a Service outside the Gateway's
	// namespace needs a ReferenceGrant (the class's reference is the admin's, and trusted).
	CollectorFromTeam bool
	// CollectorOwner names who set the collector, for status messages ("FleetClass x",
	// "FleetConfig y").
	CollectorOwner string
	// SamplingPercent is Envoy's random_sampling, 0 to 100.
	SamplingPercent float64
	// ServiceName is the spans' service.name; "" gives the fleet key.
	ServiceName string
	// ResourceAttributes are the class's extra resource attributes.
	ResourceAttributes map[string]string
}

// applyClassTracing lays the class's telemetry.tracing over p.
func applyClassTracing(p *Params, className string, t *flotillav1alpha1.Tracing) {
	if t == nil {
		return
	}
	tr := &Tracing{Collector: *t.Collector.DeepCopy(), CollectorOwner: "FleetClass " + className,
		SamplingPercent: DefaultSamplingPercent, ServiceName: t.ServiceName, ResourceAttributes: cloneMap(t.ResourceAttributes)}
	if s := t.SamplingPercent; s != nil {
		if v, err := s.Value(); err == nil { // FleetClass.Validate refuses the class otherwise
			tr.SamplingPercent = v
		}
	}
	p.Tracing = tr
}

// applyConfigTracing lays a FleetConfig's telemetry.tracing over p, within the class's bounds.
func applyConfigTracing(rs *refusals, p *Params, cfgName string, t *flotillav1alpha1.FleetConfigTracing, b *flotillav1alpha1.OverrideBounds) {
	if t == nil || (t.SamplingPercent == nil && t.Collector == nil) {
		return
	}
	if p.Tracing == nil {
		rs.list = append(rs.list, Refusal{Object: rs.object, Field: "spec.telemetry.tracing",
			Message: "spec.telemetry.tracing: cannot be set: the class configures no tracing (telemetry.tracing)"})
		return
	}
	if s := t.SamplingPercent; s != nil {
		field := "spec.telemetry.tracing.samplingPercent"
		v, err := s.Value()
		switch sb := b.TracingSampling; {
		case err != nil:
			rs.outside(field, fmt.Sprintf("%q", string(*s)), "", "is not a percentage between 0 and 100")
		case sb == nil:
			rs.notAllowed(field, fmt.Sprintf("%q", string(*s)), "tracingSampling")
		default:
			lo, errLo := sb.MinPercent.Value()
			hi, errHi := sb.MaxPercent.Value()
			bound := fmt.Sprintf("[%s, %s]", sb.MinPercent, sb.MaxPercent)
			if errLo != nil || errHi != nil || v < lo || v > hi {
				rs.outside(field, fmt.Sprintf("%q", string(*s)), bound, "is outside the class's bounds "+bound+" (tenancy.overrides.tracingSampling)")
			} else {
				p.Tracing.SamplingPercent = v
			}
		}
	}
	if c := t.Collector; c != nil {
		if !b.TracingCollector {
			rs.notAllowed("spec.telemetry.tracing.collector", "", "tracingCollector")
		} else {
			p.Tracing.Collector, p.Tracing.CollectorFromTeam = *c.DeepCopy(), true
			p.Tracing.CollectorOwner = "FleetConfig " + cfgName
		}
	}
}
