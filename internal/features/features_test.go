package features

import (
	"slices"
	"testing"

	"sigs.k8s.io/gateway-api/pkg/features"
)

// Every listed feature is a real Gateway API feature, and the status list is sorted and unique as the
// GatewayClass API requires.
func TestSupportedIsSortedUniqueAndKnown(t *testing.T) {
	got := Supported()
	names := Names()
	if len(got) != len(names)+len(extensions) {
		t.Fatalf("Supported() has %d entries, Names() %d and extensions %d", len(got), len(names), len(extensions))
	}
	for _, f := range got {
		if slices.Contains(extensions, features.FeatureName(f.Name)) == slices.Contains(names, features.FeatureName(f.Name)) {
			t.Errorf("%s must be in exactly one of Names() and the extensions", f.Name)
		}
	}
	if !Has(SupportInferencePool) || !Has(features.SupportHTTPRoute) {
		t.Error("Has does not see an extension feature or a Gateway API one")
	}
	if !slices.IsSorted(names) {
		t.Errorf("not sorted: %v", names)
	}
	if len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("duplicates: %v", names)
	}
	for _, n := range names {
		if features.GetFeature(n).Name != n {
			t.Errorf("%s is not a Gateway API feature", n)
		}
	}
}
