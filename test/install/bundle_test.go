// Package install checks what platform teams install: the OLM bundle passes the OperatorHub
// validators, and (in test/integration) the kustomize output is valid against a real API server.
package install

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/operator-framework/api/pkg/manifests"
	"github.com/operator-framework/api/pkg/validation"
	"github.com/operator-framework/api/pkg/validation/errors"
	interfaces "github.com/operator-framework/api/pkg/validation/interfaces"

	"github.com/flotilla-dev/flotilla/test/cluster"
)

// The bundle passes the default bundle validators plus OperatorHubV2, StandardCapabilities,
// StandardCategories, GoodPractices and AlphaDeprecatedAPIs (for Kubernetes 1.37) with no errors
// and no warnings.
func TestBundlePassesOperatorHubValidators(t *testing.T) {
	bundle, err := manifests.GetBundleFromDir(filepath.Join(cluster.RepoRoot(), "bundle"))
	if err != nil {
		t.Fatalf("reading bundle/ (run make bundle): %v", err)
	}
	want, err := cluster.FlotillaCRDCount()
	if err != nil {
		t.Fatal(err)
	}
	if bundle.CSV == nil || len(bundle.V1CRDs) != want {
		t.Fatalf("bundle has CSV %v and %d CRDs, want a CSV and Flotilla's %d CRDs (config/crd/bases)", bundle.CSV != nil, len(bundle.V1CRDs), want)
	}
	for _, crd := range bundle.V1CRDs {
		if crd.Spec.Group != "gateway.flotilla.dev" {
			t.Errorf("bundle carries %s: only Flotilla's own CRDs belong in it", crd.Name)
		}
	}
	// registry+v1 bundles cannot carry admission policies (operator-registry supports a fixed list
	// of kinds); config/admission is installed beside an OLM install instead (README).
	for _, o := range bundle.Objects {
		if strings.HasPrefix(o.GetKind(), "ValidatingAdmissionPolicy") {
			t.Errorf("bundle carries %s %s: registry+v1 cannot install it", o.GetKind(), o.GetName())
		}
	}
	validators := interfaces.Validators{}
	validators = append(validators, validation.DefaultBundleValidators...)
	validators = append(validators, validation.OperatorHubV2Validator, validation.StandardCapabilitiesValidator,
		validation.StandardCategoriesValidator, validation.GoodPracticesValidator, validation.AlphaDeprecatedAPIsValidator)
	objs := append(bundle.ObjectsToValidate(), map[string]string{"k8s-version": "1.37"})
	var problems []string
	for _, result := range validators.Validate(objs...) {
		for _, e := range append(append([]errors.Error{}, result.Errors...), result.Warnings...) {
			problems = append(problems, fmt.Sprintf("%s %s: %s", e.Level, result.Name, e.Error()))
		}
	}
	if len(problems) > 0 {
		t.Fatalf("bundle validation reported %d problems:\n%s", len(problems), strings.Join(problems, "\n"))
	}
}
