package gatewayapi

import (
	"encoding/json"
	"github.com/flotilla-dev/flotilla/internal/golden"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// loadInput reads a multi-document YAML file of Kubernetes objects into an Input. The first
// Gateway is the one resolved; other Gateways only exist to be referenced. Secret stringData
// values of the form "@file" are read from testdata/file.
func loadInput(t testing.TB, path string) Input {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	in, err := parseInput(data, filepath.Dir(path))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return in
}

func parseInput(data []byte, dir string) (Input, error) {
	d, err := Decode(data, dir)
	// The goldens show the full model, TLS termination included.
	d.ControllerName, d.TLSTerminate = "gateway.flotilla.dev/controller", true
	return d.Input, err
}

// render is the golden form of a Result: YAML without the (always empty) lastTransitionTime.
func render(t testing.TB, res Result) []byte {
	t.Helper()
	j, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(j, &v); err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(dropNullTimes(v))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func dropNullTimes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if t, ok := x["lastTransitionTime"]; ok && t == nil {
			delete(x, "lastTransitionTime")
		}
		for k, e := range x {
			x[k] = dropNullTimes(e)
		}
	case []any:
		for i, e := range x {
			x[i] = dropNullTimes(e)
		}
	}
	return v
}

func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			got := render(t, Resolve(loadInput(t, in)))
			golden.Check(t, strings.TrimSuffix(in, ".in.yaml")+".out.yaml", got)
		})
	}
}
