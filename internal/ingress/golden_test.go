package ingress_test

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/golden"
	"github.com/flotilla-dev/flotilla/internal/ingress"
)

// What a team sees about its Ingresses (the Events Flotilla emits) for the translator's Ingress
// golden inputs, whose xDS internal/xds/translate/testdata/<name>.out.yaml holds and whose
// request decisions internal/xds/explain's TestIngressNginx and TestIngressCanary check.
func TestGoldenStatus(t *testing.T) {
	for _, name := range []string{"ingress-nginx", "ingress-alias-passthrough", "ingress-cors-affinity", "ingress-canary", "ingress-protections"} {
		t.Run(name, func(t *testing.T) {
			dir := "../xds/translate/testdata"
			data, err := os.ReadFile(filepath.Join(dir, name+".in.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			d, err := gatewayapi.Decode(data, dir)
			if err != nil {
				t.Fatal(err)
			}
			d.ControllerName, d.TLSTerminate = "gateway.flotilla.dev/controller", true
			conv := ingress.ForGateway(&d.Input, d.IngressClasses, d.IngressClassConfigs, d.Ingresses)
			res := gatewayapi.Resolve(d.Input)
			out, err := yaml.Marshal(map[string]any{"refused": conv.Refused, "notes": conv.Notes, "ingresses": res.Ingresses})
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", name+".status.yaml"), out)
		})
	}
}
