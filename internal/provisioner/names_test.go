package provisioner

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func named(ns, name string) *gwapiv1.Gateway {
	return &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func TestFleetName(t *testing.T) {
	long63 := strings.Repeat("a", 60) + "-xy"
	long253 := strings.Repeat("abcdefghi.", 25) + "xyz"
	tests := []struct {
		gw   string
		want string // exact, or "" to check only validity
	}{
		{gw: "web", want: "flotilla-web"},
		{gw: "1st", want: "flotilla-1st"},                                          // the prefix makes it start with a letter
		{gw: strings.Repeat("b", 54), want: "flotilla-" + strings.Repeat("b", 54)}, // exactly 63
		{gw: strings.Repeat("b", 55)},
		{gw: long63},
		{gw: long253},
		{gw: "a.b"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := FleetName(named("ns", tt.gw))
		if tt.want != "" && got != tt.want {
			t.Errorf("FleetName(%q) = %q, want %q", tt.gw, got, tt.want)
		}
		if errs := validation.IsDNS1035Label(got); len(errs) > 0 {
			t.Errorf("FleetName(%q) = %q is not a DNS-1035 label: %v", tt.gw, got, errs)
		}
		if got != FleetName(named("other", tt.gw)) {
			t.Errorf("FleetName(%q) depends on the namespace", tt.gw)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("FleetName(%q) = FleetName(%q) = %q", tt.gw, prev, got)
		}
		seen[got] = tt.gw
		if v := gatewayNameLabel(named("ns", tt.gw)); len(validation.IsValidLabelValue(v)) > 0 {
			t.Errorf("gateway-name label %q of %q is not a valid label value", v, tt.gw)
		}
	}
	// Dots become dashes, so "a.b" must not take "a-b"'s name, and long names differing only at the
	// end must not collide.
	if FleetName(named("ns", "a.b")) == FleetName(named("ns", "a-b")) {
		t.Error(`"a.b" and "a-b" share a fleet name`)
	}
	if FleetName(named("ns", long63)) == FleetName(named("ns", strings.Repeat("a", 60)+"-xz")) {
		t.Error("63-character names differing in the last character share a fleet name")
	}
	if got := FleetName(named("ns", long63)); len(got) != 63 {
		t.Errorf("FleetName(%q) = %q has %d characters, want 63", long63, got, len(got))
	}
}

func TestFleetLabels(t *testing.T) {
	a, b := named("team-a", "web"), named("team-b", "web")
	if FleetKey(a) != "team-a/web" {
		t.Errorf("FleetKey = %q", FleetKey(a))
	}
	if FleetHash(a) == FleetHash(b) {
		t.Error("two namespaces' Gateways of one name share a fleet hash")
	}
	if FleetHash(a) != FleetHash(named("team-a", "web")) || len(FleetHash(a)) != 16 {
		t.Errorf("FleetHash not stable or not 16 hex digits: %q", FleetHash(a))
	}
	l := FleetLabels(a)
	if l[LabelGatewayName] != "web" || l[LabelManagedBy] != "flotilla" || l[LabelFleet] != FleetHash(a) || len(l) != 3 {
		t.Errorf("FleetLabels = %v", l)
	}
	sel := SelectorLabels(a)
	if _, ok := sel[LabelGatewayName]; ok || len(sel) != 2 {
		t.Errorf("SelectorLabels = %v: want only the fleet hash and managed-by", sel)
	}
}
