package helm

import (
	"bytes"
	"github.com/flotilla-dev/flotilla/hack/manifests"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/strvals"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/test/cluster"
)

const (
	releaseName      = "flotilla"
	releaseNamespace = "flotilla-system"
)

// kubeVersion is the Kubernetes version `helm template` and `helm lint` assume, the test cluster's
// (without it the SDK assumes 1.20, older than the chart's kubeVersion).
var kubeVersion = &chartutil.KubeVersion{Version: "v1.37.0", Major: "1", Minor: "37"}

// chartDir is charts/flotilla in this checkout.
func chartDir() string { return filepath.Join(cluster.RepoRoot(), "charts", "flotilla") }

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir())
	if err != nil {
		t.Fatalf("loading %s: %v", chartDir(), err)
	}
	return c
}

// values parses --set style assignments ("a.b=c") into a values map.
func values(t *testing.T, set ...string) map[string]any {
	t.Helper()
	v := map[string]any{}
	for _, s := range set {
		if err := strvals.ParseInto(s, v); err != nil {
			t.Fatalf("--set %s: %v", s, err)
		}
	}
	return v
}

// render is `helm template --include-crds` of the chart as release flotilla in flotilla-system; the
// error is Helm's (a schema violation, a failed template).
func render(t *testing.T, set ...string) ([]*unstructured.Unstructured, error) {
	t.Helper()
	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.ClientOnly, install.IncludeCRDs, install.Replace = true, true, true, true
	install.ReleaseName, install.Namespace = releaseName, releaseNamespace
	install.KubeVersion = kubeVersion
	rel, err := install.Run(loadChart(t), values(t, set...))
	if err != nil {
		return nil, err
	}
	return decodeManifests(t, []byte(rel.Manifest)), nil
}

func mustRender(t *testing.T, set ...string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := render(t, set...)
	if err != nil {
		t.Fatalf("helm template %v: %v", set, err)
	}
	return objs
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

// kustomizeBuild renders a kustomization with the pinned kustomize ($KUSTOMIZE, as `make test` sets
// it, or `go run` of the same version), as test/integration does.
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

func key(u *unstructured.Unstructured) string {
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}

func byKey(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	m := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		m[key(o)] = o
	}
	return m
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s in the rendered chart", kind, name)
	return nil
}

func kinds(objs []*unstructured.Unstructured) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, key(o))
	}
	sort.Strings(ks)
	return ks
}

// managerArgs is the manager container's args in a rendered chart.
func managerArgs(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	d := find(t, objs, "Deployment", "flotilla-controller-manager")
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	return strings.Join(args, " ")
}
