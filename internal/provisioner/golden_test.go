package provisioner

import (
	"bytes"
	"encoding/json"
	"github.com/flotilla-dev/flotilla/internal/golden"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

var testDefaults = Defaults{
	EnvoyImage:        "docker.io/envoyproxy/envoy:distroless-v1.36.2",
	XDSAddress:        "flotilla-xds.flotilla-system.svc",
	XDSPort:           18000,
	OperatorNamespace: "flotilla-system",
	XDSTrust:          []byte("-----BEGIN CERTIFICATE-----\n(Flotilla's CA)\n-----END CERTIFICATE-----\n"),
}

// goldenInput is one testdata/<case>.in.yaml: a Gateway, and optionally a FleetClass and a
// FleetConfig, as YAML documents in any order.
type goldenInput struct {
	gateway *gwapiv1.Gateway
	class   *flotillav1alpha1.FleetClass
	config  *flotillav1alpha1.FleetConfig
}

func readInput(t *testing.T, path string) goldenInput {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var in goldenInput
	for _, doc := range splitDocuments(data) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var target any
		switch meta.Kind {
		case "Gateway":
			in.gateway = &gwapiv1.Gateway{}
			target = in.gateway
		case flotillav1alpha1.KindFleetClass:
			in.class = &flotillav1alpha1.FleetClass{}
			target = in.class
		case flotillav1alpha1.KindFleetConfig:
			in.config = &flotillav1alpha1.FleetConfig{}
			target = in.config
		default:
			t.Fatalf("%s: unexpected kind %q", path, meta.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, target); err != nil {
			t.Fatalf("%s: %s: %v", path, meta.Kind, err)
		}
	}
	if in.gateway == nil {
		t.Fatalf("%s: no Gateway", path)
	}
	return in
}

func splitDocuments(data []byte) [][]byte {
	var out [][]byte
	for _, doc := range bytes.Split(data, []byte("\n---")) {
		if len(bytes.TrimSpace(doc)) > 0 {
			out = append(out, doc)
		}
	}
	return out
}

// render is what the controller would do with the input: refuse with the refusals, or apply the
// fleet's objects and report how its spec.addresses are carried.
func render(t *testing.T, in goldenInput) []byte {
	t.Helper()
	p, refusals := Merge(in.gateway, in.class, in.config, testDefaults)
	var docs []any
	if len(refusals) > 0 {
		var msgs []string
		for _, r := range refusals {
			msgs = append(msgs, r.Object+" "+r.Message)
		}
		docs = append(docs, map[string]any{"refusals": msgs})
	} else {
		fleet, err := Build(in.gateway, p)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		for _, o := range fleet.Objects {
			docs = append(docs, o)
		}
		if len(in.gateway.Spec.Addresses) > 0 {
			docs = append(docs, map[string]any{"addresses": fleet.Addresses})
		}
	}
	var buf bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(cleanYAML(t, d))
	}
	return buf.Bytes()
}

// cleanYAML renders an object without the fields a typed object always carries but nobody set
// (creationTimestamp: null, status: {}), so the golden files show what is applied.
func cleanYAML(t *testing.T, obj any) []byte {
	t.Helper()
	j, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "status") // builders never set it
	prune(m)
	out, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// prune drops null values (creationTimestamp: null) at any depth.
func prune(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			prune(e)
		}
	case []any:
		for _, e := range x {
			prune(e)
		}
	}
}

func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) < 9 {
		t.Fatalf("found %d golden cases, want at least 9", len(inputs))
	}
	for _, inPath := range inputs {
		name := strings.TrimSuffix(filepath.Base(inPath), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			got := render(t, readInput(t, inPath))
			golden.Check(t, strings.TrimSuffix(inPath, ".in.yaml")+".out.yaml", got)
			// The output must not depend on map iteration or protojson's randomised spacing.
			if again := render(t, readInput(t, inPath)); !bytes.Equal(got, again) {
				t.Errorf("two renders of %s differ", inPath)
			}
		})
	}
}

func TestGoldenSDSFiles(t *testing.T) {
	files := SDSFiles()
	got := cleanYAML(t, files)
	golden.Check(t, "testdata/sds-files.golden.yaml", got)
}
