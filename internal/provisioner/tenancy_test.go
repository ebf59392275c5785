package provisioner

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestAdmitted(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"tier": "gold"}}}
	selecting := func(sel *metav1.LabelSelector) *flotillav1alpha1.FleetClass {
		c := classWith(nil)
		c.Spec.Tenancy = &flotillav1alpha1.Tenancy{NamespaceSelector: sel}
		return c
	}
	tests := []struct {
		name    string
		class   *flotillav1alpha1.FleetClass
		want    bool
		message string // substring
	}{
		{name: "no FleetClass", want: true},
		{name: "no tenancy", class: classWith(nil), want: true},
		{name: "no selector", class: selecting(nil), want: true},
		{name: "empty selector", class: selecting(&metav1.LabelSelector{}), want: true},
		{name: "matching", class: selecting(&metav1.LabelSelector{MatchLabels: map[string]string{"tier": "gold"}}), want: true},
		{name: "not matching", class: selecting(&metav1.LabelSelector{MatchLabels: map[string]string{"tier": "silver"}}),
			message: `namespace "team-a" is not admitted by FleetClass "shared": its labels do not match tenancy.namespaceSelector "tier=silver"`},
		{name: "expression not matching", class: selecting(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"gold"}}}}),
			message: `tenancy.namespaceSelector "tier notin (gold)"`},
		{name: "invalid selector", class: selecting(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: "Bogus"}}}),
			message: `FleetClass "shared" has an invalid tenancy.namespaceSelector`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, msg := Admitted(ns, tt.class)
			if got != tt.want {
				t.Errorf("Admitted = %v (%q), want %v", got, msg, tt.want)
			}
			if tt.want && msg != "" {
				t.Errorf("admitted with message %q", msg)
			}
			if !tt.want && !strings.Contains(msg, tt.message) {
				t.Errorf("message %q does not contain %q", msg, tt.message)
			}
		})
	}
}

func TestOverQuota(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gw := func(name string, minute int, deleting bool) *gwapiv1.Gateway {
		g := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team-a",
			CreationTimestamp: metav1.NewTime(base.Add(time.Duration(minute) * time.Minute))}}
		if deleting {
			g.DeletionTimestamp = ptr.To(metav1.NewTime(base))
		}
		return g
	}
	limited := func(n int32) *flotillav1alpha1.FleetClass {
		c := classWith(nil)
		c.Spec.Tenancy = &flotillav1alpha1.Tenancy{MaxGatewaysPerNamespace: &n}
		return c
	}
	// Given out of order: "b" and "a" share a timestamp, so the name decides; "old" is going away.
	gateways := []*gwapiv1.Gateway{gw("late", 9, false), gw("b", 1, false), gw("a", 1, false), gw("old", 0, true), gw("mid", 5, false)}

	tests := []struct {
		name  string
		class *flotillav1alpha1.FleetClass
		want  []string // names over quota
	}{
		{name: "no class"},
		{name: "no limit", class: classWith(nil)},
		{name: "within the limit", class: limited(4)},
		{name: "two over", class: limited(2), want: []string{"late", "mid"}},
		{name: "one allowed, ties by name", class: limited(1), want: []string{"b", "late", "mid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := OverQuota(gateways, tt.class)
			var names []string
			for _, g := range gateways {
				if _, ok := got[g.Name]; ok {
					names = append(names, g.Name)
				}
			}
			want := tt.want
			if len(want) == 0 {
				want = nil
			}
			slices.Sort(names)
			if !reflect.DeepEqual(names, want) {
				t.Errorf("over quota %v, want %v", names, want)
			}
		})
	}
	msg := OverQuota(gateways, limited(2))["late"]
	want := `namespace "team-a" is over its Gateway quota: FleetClass "shared" allows 2 Gateways per namespace (tenancy.maxGatewaysPerNamespace) and this is Gateway 4 of 4 by age`
	if msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
	if gateways[0].Name != "late" {
		t.Errorf("OverQuota reordered its input")
	}
}
