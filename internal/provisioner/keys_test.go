package provisioner

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestMergeInfrastructureKeys(t *testing.T) {
	prefixes := func(labels []string, annotations ...string) *flotillav1alpha1.FleetClass {
		return classWith(&flotillav1alpha1.OverrideBounds{LabelKeyPrefixes: labels, AnnotationKeyPrefixes: annotations})
	}
	tests := []struct {
		name            string
		class           *flotillav1alpha1.FleetClass
		labels          map[string]string
		annotations     map[string]string
		want            []string
		wantLabels      map[string]string
		wantAnnotations map[string]string
	}{
		{name: "no FleetClass: any unreserved key", labels: map[string]string{"team": "a", "example.com/env": "prod"},
			annotations: map[string]string{"example.com/owner": "me"},
			wantLabels:  map[string]string{"team": "a", "example.com/env": "prod"}, wantAnnotations: map[string]string{"example.com/owner": "me"}},
		{name: "FleetClass without tenancy: any unreserved key", class: classWith(nil), labels: map[string]string{"team": "a"},
			wantLabels: map[string]string{"team": "a"}},
		{name: "reserved keys refused without a FleetClass",
			labels:      map[string]string{"app.kubernetes.io/name": "x", "gateway.flotilla.dev/fleet": "y", "kubernetes.io/z": "z", "team": "ok"},
			annotations: map[string]string{"x.k8s.io/a": "b", "notkubernetes.io/fine": "c"},
			want: []string{
				`spec.infrastructure.labels["app.kubernetes.io/name"]: key is reserved for Kubernetes (kubernetes.io, k8s.io): only a FleetClass prefix naming it explicitly allows it`,
				`spec.infrastructure.labels["gateway.flotilla.dev/fleet"]: key is reserved: Flotilla sets it on every fleet object`,
				`spec.infrastructure.labels["kubernetes.io/z"]: key is reserved for Kubernetes (kubernetes.io, k8s.io): only a FleetClass prefix naming it explicitly allows it`,
				`spec.infrastructure.annotations["x.k8s.io/a"]: key is reserved for Kubernetes (kubernetes.io, k8s.io): only a FleetClass prefix naming it explicitly allows it`,
			},
			wantLabels: map[string]string{"team": "ok"}, wantAnnotations: map[string]string{"notkubernetes.io/fine": "c"}},
		{name: "class prefixes govern", class: prefixes([]string{"team.example.com/"}, "x.io/"),
			labels:      map[string]string{"team.example.com/a": "1", "other": "2"},
			annotations: map[string]string{"x.io/y": "1", "y.io/x": "2"},
			want: []string{
				`spec.infrastructure.labels["other"]: key is not under an allowed prefix ["team.example.com/"] (tenancy.overrides.labelKeyPrefixes; a prefix without '/' names a domain and its subdomains)`,
				`spec.infrastructure.annotations["y.io/x"]: key is not under an allowed prefix ["x.io/"] (tenancy.overrides.annotationKeyPrefixes; a prefix without '/' names a domain and its subdomains)`,
			},
			wantLabels: map[string]string{"team.example.com/a": "1"}, wantAnnotations: map[string]string{"x.io/y": "1"}},
		{name: "prefix \"\" allows all but reserved keys", class: prefixes([]string{""}),
			labels: map[string]string{"anything": "1", "app.kubernetes.io/name": "x"},
			want: []string{
				`spec.infrastructure.labels["app.kubernetes.io/name"]: key is reserved for Kubernetes (kubernetes.io, k8s.io): only a FleetClass prefix naming it explicitly allows it`,
			},
			wantLabels: map[string]string{"anything": "1"}},
		{name: "an explicit prefix allows a Kubernetes key, never a Flotilla one",
			class:       prefixes(nil, "service.beta.kubernetes.io/aws-", "gateway.flotilla.dev/"),
			annotations: map[string]string{"service.beta.kubernetes.io/aws-x": "1", "gateway.flotilla.dev/bootstrap-checksum": "forged"},
			want: []string{
				`spec.infrastructure.annotations["gateway.flotilla.dev/bootstrap-checksum"]: key is reserved: Flotilla sets the keys of the flotilla.dev domain itself`,
			},
			wantAnnotations: map[string]string{"service.beta.kubernetes.io/aws-x": "1"}},
		{name: "an explicit prefix never allows the labels Flotilla sets", class: prefixes([]string{"app.kubernetes.io/"}),
			labels: map[string]string{"app.kubernetes.io/managed-by": "me", "app.kubernetes.io/part-of": "shop"},
			want: []string{
				`spec.infrastructure.labels["app.kubernetes.io/managed-by"]: key is reserved: Flotilla sets it on every fleet object`,
			},
			wantLabels: map[string]string{"app.kubernetes.io/part-of": "shop"}},
		{name: "a prefix without '/' is a domain: it never opens a reserved domain that merely starts with it",
			class:       prefixes([]string{"example"}, "example"),
			labels:      map[string]string{"example.kubernetes.io/x": "1", "example/ok": "2", "a.example/ok": "3", "example-tier": "4"},
			annotations: map[string]string{"example.k8s.io/y": "1", "examplecorp.com/z": "2"},
			want: []string{
				`spec.infrastructure.labels["example.kubernetes.io/x"]: key is reserved for Kubernetes (kubernetes.io, k8s.io): only a FleetClass prefix naming it explicitly allows it`,
				`spec.infrastructure.annotations["example.k8s.io/y"]: key is reserved for Kubernetes (kubernetes.io, k8s.io): only a FleetClass prefix naming it explicitly allows it`,
				`spec.infrastructure.annotations["examplecorp.com/z"]: key is not under an allowed prefix ["example"] (tenancy.overrides.annotationKeyPrefixes; a prefix without '/' names a domain and its subdomains)`,
			},
			wantLabels: map[string]string{"example/ok": "2", "a.example/ok": "3", "example-tier": "4"}},
		{name: "overrides without label prefixes allow no labels", class: prefixes(nil, ""),
			labels: map[string]string{"team": "a"},
			want: []string{
				`spec.infrastructure.labels["team"]: cannot be set: the class allows no override of it (tenancy.overrides.labelKeyPrefixes)`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, refusals := Merge(withInfra(tt.labels, tt.annotations), tt.class, nil, testDefaults)
			if got := messages(refusals); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("refusals:\n got %q\nwant %q", got, tt.want)
			}
			for _, r := range refusals {
				if r.Object != "Gateway web" || !strings.Contains(r.Field, fmt.Sprintf("[%q]", r.Value)) {
					t.Errorf("refusal %+v: want object %q and the key as value", r, "Gateway web")
				}
			}
			if !reflect.DeepEqual(p.InfrastructureLabels, tt.wantLabels) {
				t.Errorf("labels %v, want %v", p.InfrastructureLabels, tt.wantLabels)
			}
			if !reflect.DeepEqual(p.InfrastructureAnnotations, tt.wantAnnotations) {
				t.Errorf("annotations %v, want %v", p.InfrastructureAnnotations, tt.wantAnnotations)
			}
		})
	}
}

func TestMergeParametersRef(t *testing.T) {
	ref := func(group, kind string) *gwapiv1.Gateway {
		gw := testGateway()
		gw.Spec.Infrastructure = &gwapiv1.GatewayInfrastructure{ParametersRef: &gwapiv1.LocalParametersReference{
			Group: gwapiv1.Group(group), Kind: gwapiv1.Kind(kind), Name: "cfg"}}
		return gw
	}
	tests := []struct {
		name string
		gw   *gwapiv1.Gateway
		cfg  *flotillav1alpha1.FleetConfig
		want []string
	}{
		{name: "found", gw: ref("gateway.flotilla.dev", "FleetConfig"), cfg: config(flotillav1alpha1.FleetConfigSpec{})},
		{name: "missing FleetConfig", gw: ref("gateway.flotilla.dev", "FleetConfig"),
			want: []string{`spec.infrastructure.parametersRef: FleetConfig "cfg" not found in namespace "team-a"`}},
		{name: "other kind", gw: ref("example.com", "Thing"),
			want: []string{`spec.infrastructure.parametersRef: example.com/Thing "cfg" is not supported: only gateway.flotilla.dev/FleetConfig is`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, refusals := Merge(tt.gw, nil, tt.cfg, testDefaults)
			if got := messages(refusals); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("refusals:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestRefusalMessage(t *testing.T) {
	got := RefusalMessage([]Refusal{
		{Object: "FleetConfig cfg", Message: "spec.replicas: 12 is outside the class's bounds [1, 5]"},
		{Object: "Gateway web", Message: `spec.infrastructure.labels["a"]: x`},
	})
	want := `FleetConfig cfg spec.replicas: 12 is outside the class's bounds [1, 5]; Gateway web spec.infrastructure.labels["a"]: x`
	if got != want {
		t.Errorf("RefusalMessage = %q, want %q", got, want)
	}
}

func TestKeyHasPrefix(t *testing.T) {
	for _, c := range []struct {
		key, prefix string
		want        bool
	}{
		// A prefix with '/': exactly that domain, then a name prefix.
		{"service.beta.kubernetes.io/aws-load-balancer-type", "service.beta.kubernetes.io/aws-load-balancer-", true},
		{"service.beta.kubernetes.io/azure-dns-label-name", "service.beta.kubernetes.io/aws-load-balancer-", false},
		{"x.service.beta.kubernetes.io/aws-load-balancer-type", "service.beta.kubernetes.io/aws-load-balancer-", false},
		{"team.example.com/a", "team.example.com/", true},
		{"team.example.com.evil.io/a", "team.example.com/", false},
		{"a.team.example.com/a", "team.example.com/", false},
		{"team.example.com", "team.example.com/", false},
		// A prefix without '/': the domain and its subdomains, or an unqualified name prefix.
		{"example/x", "example", true},
		{"a.example/x", "example", true},
		{"example.kubernetes.io/x", "example", false},
		{"examplecorp.com/x", "example", false},
		{"example-tier", "example", true},
		{"tier", "example", false},
		{"app.kubernetes.io/name", "kubernetes.io", true},
		{"kubernetes.io.evil.com/x", "kubernetes.io", false},
	} {
		if got := keyHasPrefix(c.key, c.prefix); got != c.want {
			t.Errorf("keyHasPrefix(%q, %q) = %v, want %v", c.key, c.prefix, got, c.want)
		}
	}
}
