package translate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/golden"
	"github.com/flotilla-dev/flotilla/internal/ingress"
)

// goldenCase is a golden input: what Resolve reads, and the Secrets' data.
type goldenCase struct {
	in      gatewayapi.Input
	secrets map[string]TLSSecret
}

// decodeCase reads a golden input the way the gatewayapi goldens do: TLS termination on.
func decodeCase(data []byte, dir string) (goldenCase, error) {
	d, err := gatewayapi.Decode(data, dir)
	if err != nil {
		return goldenCase{}, err
	}
	d.ControllerName, d.TLSTerminate = "gateway.flotilla.dev/controller", true
	ingress.ForGateway(&d.Input, d.IngressClasses, d.IngressClassConfigs, d.Ingresses)
	return goldenCase{in: d.Input, secrets: secretData(d.SecretData)}, nil
}

func loadCase(t testing.TB, path string) goldenCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeCase(data, filepath.Dir(path))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

// missingData is the annotation that makes a golden Secret valid for Resolve but absent from
// the data handed to Translate (a Secret the controller could not read, say).
const missingData = "test.flotilla.dev/translate-data"

// secretData is what the controller hands Translate: tls.crt and tls.key by "<ns>/<name>".
func secretData(ss []*corev1.Secret) map[string]TLSSecret {
	out := map[string]TLSSecret{}
	for _, s := range ss {
		if s.Annotations[missingData] == "missing" {
			continue
		}
		out[s.Namespace+"/"+s.Name] = TLSSecret{Cert: s.Data[corev1.TLSCertKey], Key: s.Data[corev1.TLSPrivateKeyKey]}
	}
	return out
}

func (c goldenCase) translate(t testing.TB) *Resources {
	t.Helper()
	res := gatewayapi.Resolve(c.in)
	out, err := Translate(&res.Fleet, c.secrets)
	if err != nil {
		t.Fatalf("Translate: %v", err)
	}
	return out
}

// render is the golden form of Resources: RenderYAML with every section and the warnings.
func render(t testing.TB, r *Resources) []byte {
	t.Helper()
	warnings := r.Warnings
	if warnings == nil {
		warnings = []string{}
	}
	out, err := RenderYAML(r.Messages(), warnings)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	// The InferencePool cases of resolve's goldens, translated: the xDS each pool case gives.
	shared, err := filepath.Glob("../../gatewayapi/testdata/inference-*.in.yaml")
	if err != nil || len(shared) == 0 {
		t.Fatalf("no InferencePool cases in resolve's goldens: %v", err)
	}
	// And the RouteFilter case: route status there, the protection filters here.
	shared = append(shared, "../../gatewayapi/testdata/routefilters.in.yaml")
	for _, in := range append(ins, shared...) {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			got := render(t, loadCase(t, in).translate(t))
			golden.Check(t, filepath.Join("testdata", name+".out.yaml"), got)
		})
	}
}
