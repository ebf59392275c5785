package integration

import (
	"bytes"
	"context"
	"github.com/flotilla-dev/flotilla/hack/manifests"
	"os"
	"os/exec"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/test/cluster"
)

// kustomizeBuild renders a kustomization with the pinned kustomize ($KUSTOMIZE, as `make test` sets
// it, or `go run` of the same version).
func kustomizeBuild(t *testing.T, dir string) []byte {
	t.Helper()
	cmd := exec.Command("go", "run", "sigs.k8s.io/kustomize/kustomize/v5@v5.8.2", "build", dir)
	if k := os.Getenv("KUSTOMIZE"); k != "" {
		cmd = exec.Command(k, "build", dir)
	}
	cmd.Dir = cluster.RepoRoot()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build %s: %v: %s", dir, err, stderr.String())
	}
	return out
}

// decodeManifests splits multi-document YAML into objects (hack/manifests, as the generators read it).
func decodeManifests(t *testing.T, b []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := manifests.DecodeAll(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// Every manifest `kustomize build config/default` produces is valid against the real API server's
// schemas (server-side apply, dry run).
func TestKustomizeInstallIsValidAgainstTheAPIServer(t *testing.T) {
	kinds := map[string]int{}
	for _, u := range decodeManifests(t, kustomizeBuild(t, "config/default")) {
		kinds[u.GetKind()]++
		if err := k8s.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u),
			client.FieldOwner("install-test"), client.ForceOwnership, client.DryRunAll); err != nil {
			t.Errorf("%s %s/%s is not valid: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	for _, want := range []string{"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		if kinds[want] == 0 {
			t.Errorf("the install has no %s (kinds: %v)", want, kinds)
		}
	}
	crds, err := cluster.FlotillaCRDCount()
	if err != nil {
		t.Fatal(err)
	}
	if kinds["Service"] != 2 || kinds["CustomResourceDefinition"] != crds {
		t.Errorf("want the metrics and xDS Services and Flotilla's %d CRDs (config/crd/bases), got %v", crds, kinds)
	}
}
