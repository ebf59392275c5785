package helm

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/flotilla-dev/flotilla/test/cluster"
)

var update = flag.Bool("update", false, "rewrite test/integration/testdata/gie-inferencepool.yaml from a fresh render")

// The Gateway API Inference Extension's own `inferencepool` chart, as the Inference Extension and
// Higress guides install it. The chart lives in config/charts/inferencepool of the extension's
// module at v1.5.0 (later versions moved it out of the module), so it is read from the Go module
// cache at that exact version; Flotilla's go.mod pins the v1.6.0 API module, whose InferencePool is
// the same inference.networking.k8s.io/v1 (TestGIEChartRender checks the apiVersion).
const (
	gieModule  = "sigs.k8s.io/gateway-api-inference-extension"
	gieVersion = "v1.5.0"
	// The guide's release: `helm install vllm-llama3-8b-instruct ... ` in the default namespace.
	gieRelease   = "vllm-llama3-8b-instruct"
	gieNamespace = "default"
)

// gieValues are the guide's --set flags.
var gieValues = []string{
	"inferencePool.modelServers.matchLabels.app=vllm-llama3-8b-instruct",
	"provider.name=none",
}

// gieGolden is where the main module's TestGIEGuideWalkthrough reads the rendered chart.
func gieGolden() string {
	return filepath.Join(cluster.RepoRoot(), "test", "integration", "testdata", "gie-inferencepool.yaml")
}

// gieModuleDir is the extension's module directory in the module cache; `go mod download` fetches it
// from the module proxy when it is not there yet.
func gieModuleDir(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", gieModule+"@"+gieVersion)
	cmd.Dir = t.TempDir() // outside any module: nothing to add to a go.sum
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s@%s: %v: %s", gieModule, gieVersion, err, stderr.String())
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		t.Fatalf("go mod download %s@%s: %v %s", gieModule, gieVersion, err, info.Error)
	}
	return info.Dir
}

// renderGIE is `helm template vllm-llama3-8b-instruct config/charts/inferencepool -n default --set
// ...` with the chart's file://../epplib dependency loaded beside it, as `helm dependency build`
// would vendor it (the module cache is read-only, so nothing is written into charts/).
func renderGIE(t *testing.T) string {
	t.Helper()
	charts := filepath.Join(gieModuleDir(t), "config", "charts")
	pool, err := loader.Load(filepath.Join(charts, "inferencepool"))
	if err != nil {
		t.Fatal(err)
	}
	lib, err := loader.Load(filepath.Join(charts, "epplib"))
	if err != nil {
		t.Fatal(err)
	}
	if err := action.CheckDependencies(pool, pool.Metadata.Dependencies); err == nil {
		t.Fatal("the inferencepool chart has its dependency vendored: load it as it is instead")
	}
	pool.AddDependency(lib)
	if err := action.CheckDependencies(pool, pool.Metadata.Dependencies); err != nil {
		t.Fatal(err)
	}

	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = gieRelease, gieNamespace
	install.KubeVersion = kubeVersion
	rel, err := install.Run(pool, values(t, gieValues...))
	if err != nil {
		t.Fatalf("helm template the inferencepool chart: %v", err)
	}
	return fmt.Sprintf("# The Gateway API Inference Extension's inferencepool chart (%s@%s, config/charts/inferencepool),\n"+
		"# rendered by test/helm's TestGIEChartRender as `helm template %s -n %s --set %s --set %s`.\n"+
		"# Do not edit: `cd test/helm && go test -run TestGIEChartRender . -update` rewrites it.\n",
		gieModule, gieVersion, gieRelease, gieNamespace, gieValues[0], gieValues[1]) + rel.Manifest
}

// The checked-in render the integration test applies is exactly what the chart renders today.
func TestGIEChartRender(t *testing.T) {
	got := renderGIE(t)
	if *update {
		if err := os.WriteFile(gieGolden(), []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(gieGolden())
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs from a fresh render of the chart; run `go test -run TestGIEChartRender . -update` in test/helm and review the diff", gieGolden())
	}

	// What the walkthrough relies on: provider none creates no provider objects; the pool is the
	// v1 API Flotilla serves, selecting the guide's model servers through the chart's EPP Service.
	objs := decodeManifests(t, []byte(got))
	t.Logf("rendered: %v", kinds(objs))
	p := find(t, objs, "InferencePool", gieRelease)
	if p.GetAPIVersion() != "inference.networking.k8s.io/v1" {
		t.Errorf("the chart's InferencePool is %s, Flotilla serves inference.networking.k8s.io/v1", p.GetAPIVersion())
	}
	find(t, objs, "Deployment", gieRelease+"-epp")
	find(t, objs, "Service", gieRelease+"-epp")
	for _, o := range objs {
		switch o.GetKind() {
		case "DestinationRule", "HealthCheckPolicy", "GCPBackendPolicy", "HTTPRoute":
			t.Errorf("provider none rendered %s", key(o))
		}
	}
}
