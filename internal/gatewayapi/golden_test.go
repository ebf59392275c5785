package gatewayapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/flotilla-dev/flotilla/internal/golden"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
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
	// The goldens show the full model, TLS termination included.
	in := Input{ControllerName: "gateway.flotilla.dev/controller", TLSTerminate: true}
	for i, doc := range bytes.Split(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var head struct{ Kind string }
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return in, fmt.Errorf("document %d: %w", i, err)
		}
		var err error
		switch head.Kind {
		case "Gateway":
			o := &gwapiv1.Gateway{}
			if err = yaml.UnmarshalStrict(doc, o); err == nil && in.Gateway == nil {
				in.Gateway = o
			}
		case "ListenerSet":
			err = decode(doc, &in.ListenerSets)
		case "HTTPRoute":
			err = decode(doc, &in.HTTPRoutes)
		case "GRPCRoute":
			err = decode(doc, &in.GRPCRoutes)
		case "TLSRoute":
			err = decode(doc, &in.TLSRoutes)
		case "TCPRoute":
			err = decode(doc, &in.TCPRoutes)
		case "UDPRoute":
			err = decode(doc, &in.UDPRoutes)
		case "ReferenceGrant":
			err = decode(doc, &in.ReferenceGrants)
		case "Service":
			err = decode(doc, &in.Services)
		case "EndpointSlice":
			err = decode(doc, &in.EndpointSlices)
		case "Namespace":
			err = decode(doc, &in.Namespaces)
		case "Secret":
			s := &corev1.Secret{}
			if err = yaml.UnmarshalStrict(doc, s); err == nil {
				err = fillSecret(s, dir)
				in.Secrets = append(in.Secrets, SecretInfoFrom(s))
			}
		default:
			err = fmt.Errorf("unexpected kind %q", head.Kind)
		}
		if err != nil {
			return in, fmt.Errorf("document %d (%s): %w", i, head.Kind, err)
		}
	}
	return in, nil
}

func decode[T any](doc []byte, into *[]*T) error {
	o := new(T)
	if err := yaml.UnmarshalStrict(doc, o); err != nil {
		return err
	}
	*into = append(*into, o)
	return nil
}

func fillSecret(s *corev1.Secret, dir string) error {
	for k, v := range s.StringData {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		if f, ok := strings.CutPrefix(v, "@"); ok {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				return err
			}
			v = string(b)
		}
		s.Data[k] = []byte(v)
	}
	return nil
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
