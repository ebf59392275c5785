package provisioner

import (
	"testing"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func pct(s string) *flotillav1alpha1.Percent {
	p := flotillav1alpha1.Percent(s)
	return &p
}

// TestMergeTracing: the class's tracing is the fleet's; a team's sampling is taken within the
// class's tracingSampling bounds and refused outside them (never clamped), a team's collector
// only when the class allows it, and nothing of tracing when the class has none.
func TestMergeTracing(t *testing.T) {
	traced := func(bounds *flotillav1alpha1.OverrideBounds) *flotillav1alpha1.FleetClass {
		return classWith(bounds, func(s *flotillav1alpha1.FleetClassSpec) {
			s.Telemetry.Tracing = &flotillav1alpha1.Tracing{
				Collector:       flotillav1alpha1.TracingCollector{Service: &flotillav1alpha1.CollectorServiceRef{Name: "otel", Namespace: "observability"}},
				SamplingPercent: pct("5"),
			}
		})
	}
	sampling := &flotillav1alpha1.OverrideBounds{TracingSampling: &flotillav1alpha1.SamplingBounds{MinPercent: "0.5", MaxPercent: "20"}}
	teamCollector := &flotillav1alpha1.TracingCollector{Service: &flotillav1alpha1.CollectorServiceRef{Name: "mine"}}
	cases := []struct {
		name      string
		class     *flotillav1alpha1.FleetClass
		tracing   *flotillav1alpha1.FleetConfigTracing
		sampling  float64
		fromTeam  bool
		refusal   string
		noTracing bool
	}{
		{name: "class only", class: traced(nil), sampling: 5},
		{name: "class default sampling", class: classWith(nil, func(s *flotillav1alpha1.FleetClassSpec) {
			s.Telemetry.Tracing = &flotillav1alpha1.Tracing{Collector: flotillav1alpha1.TracingCollector{Address: "otel.example.com:4317"}}
		}), sampling: DefaultSamplingPercent},
		{name: "within bounds", class: traced(sampling), tracing: &flotillav1alpha1.FleetConfigTracing{SamplingPercent: pct("20")}, sampling: 20},
		{name: "lower bound", class: traced(sampling), tracing: &flotillav1alpha1.FleetConfigTracing{SamplingPercent: pct("0.5")}, sampling: 0.5},
		{name: "above the bound", class: traced(sampling), tracing: &flotillav1alpha1.FleetConfigTracing{SamplingPercent: pct("20.5")}, sampling: 5,
			refusal: `FleetConfig cfg spec.telemetry.tracing.samplingPercent: "20.5" is outside the class's bounds [0.5, 20] (tenancy.overrides.tracingSampling)`},
		{name: "below the bound", class: traced(sampling), tracing: &flotillav1alpha1.FleetConfigTracing{SamplingPercent: pct("0")}, sampling: 5,
			refusal: `FleetConfig cfg spec.telemetry.tracing.samplingPercent: "0" is outside the class's bounds [0.5, 20] (tenancy.overrides.tracingSampling)`},
		{name: "no sampling bound", class: traced(&flotillav1alpha1.OverrideBounds{}), tracing: &flotillav1alpha1.FleetConfigTracing{SamplingPercent: pct("1")}, sampling: 5,
			refusal: `FleetConfig cfg spec.telemetry.tracing.samplingPercent: "1" cannot be set: the class allows no override of it (tenancy.overrides.tracingSampling)`},
		{name: "collector not allowed", class: traced(sampling), tracing: &flotillav1alpha1.FleetConfigTracing{Collector: teamCollector}, sampling: 5,
			refusal: `FleetConfig cfg spec.telemetry.tracing.collector: cannot be set: the class allows no override of it (tenancy.overrides.tracingCollector)`},
		{name: "collector allowed", class: traced(&flotillav1alpha1.OverrideBounds{TracingCollector: true}),
			tracing: &flotillav1alpha1.FleetConfigTracing{Collector: teamCollector}, sampling: 5, fromTeam: true},
		{name: "class without tracing", class: classWith(sampling), tracing: &flotillav1alpha1.FleetConfigTracing{SamplingPercent: pct("1")}, noTracing: true,
			refusal: `FleetConfig cfg spec.telemetry.tracing: cannot be set: the class configures no tracing (telemetry.tracing)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cfg *flotillav1alpha1.FleetConfig
			if tc.tracing != nil {
				cfg = config(flotillav1alpha1.FleetConfigSpec{Telemetry: &flotillav1alpha1.FleetConfigTelemetry{Tracing: tc.tracing}})
			}
			p, refusals := Merge(testGateway(), tc.class, cfg, Defaults{})
			got := RefusalMessage(refusals)
			if got != tc.refusal {
				t.Fatalf("refusals %q, want %q", got, tc.refusal)
			}
			if tc.noTracing {
				if p.Tracing != nil {
					t.Fatalf("tracing %+v without the class's", p.Tracing)
				}
				return
			}
			if p.Tracing == nil || p.Tracing.SamplingPercent != tc.sampling || p.Tracing.CollectorFromTeam != tc.fromTeam {
				t.Fatalf("tracing %+v, want sampling %v, from team %t", p.Tracing, tc.sampling, tc.fromTeam)
			}
			if tc.fromTeam && (p.Tracing.Collector.Service.Name != "mine" || p.Tracing.CollectorOwner != "FleetConfig cfg") {
				t.Fatalf("collector %+v from %s, want the team's", p.Tracing.Collector, p.Tracing.CollectorOwner)
			}
		})
	}
}

// TestValidateSamplingBounds: a FleetClass whose tracingSampling bounds are inverted is not
// accepted (the API server's CEL rule says the same).
func TestValidateSamplingBounds(t *testing.T) {
	c := classWith(&flotillav1alpha1.OverrideBounds{TracingSampling: &flotillav1alpha1.SamplingBounds{MinPercent: "30", MaxPercent: "10"}})
	errs := c.Validate()
	if len(errs) != 1 || errs[0].Field != "spec.tenancy.overrides.tracingSampling" {
		t.Fatalf("errors %v, want one on spec.tenancy.overrides.tracingSampling", errs)
	}
	if ok := classWith(&flotillav1alpha1.OverrideBounds{TracingSampling: &flotillav1alpha1.SamplingBounds{MinPercent: "0", MaxPercent: "100"}}).Validate(); len(ok) != 0 {
		t.Fatalf("errors %v for [0, 100]", ok)
	}
	if p, err := flotillav1alpha1.Percent("0.125").Value(); err != nil || p != 0.125 {
		t.Fatalf("Percent 0.125: %v, %v", p, err)
	}
	for _, bad := range []string{"101", "-1", "x"} {
		if _, err := flotillav1alpha1.Percent(bad).Value(); err == nil {
			t.Errorf("Percent %q parsed", bad)
		}
	}
}
