package offline

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
)

// The kinds Load hands to Decode are those Decode reads; the kinds it skips by name Decode refuses.
// When Decode learns a kind (Deployment, say), this fails: add it to decodable.
func TestDecodableMatchesDecode(t *testing.T) {
	doc := func(group, kind string) []byte {
		av := "v1"
		if group != "" {
			av = group + "/v1"
		}
		return fmt.Appendf(nil, "apiVersion: %s\nkind: %s\nmetadata: {name: x, namespace: y}\n", av, kind)
	}
	for kind, group := range decodable {
		if _, err := gatewayapi.Decode(doc(group, kind), "."); err != nil {
			t.Errorf("Decode refuses %s, which Load passes it: %v", kind, err)
		}
	}
	// FleetClass and FleetConfig decode (the goldens' tracing comes from them) but Load skips
	// them with a note (skipReasons): the offline tools compute no fleet parameters.
	for _, kind := range []string{"GatewayClass", "Deployment"} {
		if _, err := gatewayapi.Decode(doc("example.com", kind), "."); err == nil {
			t.Errorf("Decode reads %s, which Load skips: add it to decodable", kind)
		}
	}
}

func TestSplitDocuments(t *testing.T) {
	in := "# head\na: 1\n---\nb: 2\n--- # comment\nc: 3\n---x: 4\n---\n"
	var got []string
	for _, d := range splitDocuments([]byte(in)) {
		got = append(got, fmt.Sprintf("%d:%q", d.line, d.data))
	}
	want := []string{`1:"# head\na: 1\n"`, `4:"b: 2\n"`, `6:"c: 3\n---x: 4\n"`, `9:""`}
	if !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

const loadInput = `# only a comment
---
resources: [a.yaml] # a kustomization: no kind
---
just: a map
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
---
apiVersion: gateway.flotilla.dev/v1alpha1
kind: FleetConfig
metadata: {name: team, namespace: apps}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio, namespace: apps}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: flotilla}
spec: {controllerName: gateway.flotilla.dev/controller}
---
apiVersion: "gateway.networking.k8s.io/v1"
kind: 'Gateway'   # quoted
metadata: {name: gw}
spec:
  gatewayClassName: flotilla
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
{apiVersion: v1, kind: Service, metadata: {name: web, namespace: apps}, spec: {ports: [{port: 80}]}}
---
apiVersion: v1
kind: List
items:
- {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r1"}, "spec": {}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cm}
- apiVersion: v1
  kind: Namespace
  metadata: {name: apps, labels: {team: a}}
`

func TestLoad(t *testing.T) {
	set, err := Load([]Source{{Name: "in.yaml", Data: []byte(loadInput)}})
	if err != nil {
		t.Fatal(err)
	}
	d := set.Docs
	if len(d.Gateways) != 1 || d.Gateways[0].Namespace != DefaultNamespace || len(d.Services) != 1 || len(d.HTTPRoutes) != 1 ||
		d.HTTPRoutes[0].Namespace != DefaultNamespace || len(d.Namespaces) != 1 || d.Namespaces[0].Namespace != "" {
		t.Errorf("got %d Gateways, %d Services, %d HTTPRoutes, %d Namespaces: %+v", len(d.Gateways), len(d.Services), len(d.HTTPRoutes), len(d.Namespaces), d)
	}
	if set.Classes["flotilla"] != "gateway.flotilla.dev/controller" {
		t.Errorf("classes: %v", set.Classes)
	}
	want := []string{
		"in.yaml:3: skipped a kustomization",
		"in.yaml:5: skipped a document without kind",
		"in.yaml:7: skipped Deployment apps/web (apps/v1): resolve does not read this kind",
		"in.yaml:11: skipped FleetConfig apps/team (gateway.flotilla.dev/v1alpha1): fleet parameters",
		"in.yaml:15: skipped Gateway apps/istio (networking.istio.io/v1): resolve does not read this kind",
	}
	if len(set.Skipped) != len(want) {
		t.Fatalf("skipped: got %q", set.Skipped)
	}
	for i, w := range want {
		if !strings.HasPrefix(set.Skipped[i], w) {
			t.Errorf("skipped[%d] = %q, want it to start with %q", i, set.Skipped[i], w)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	for name, c := range map[string]struct{ in, want string }{
		"unknown field": {"apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec: {rulez: []}\n",
			`x.yaml:5: HTTPRoute r: `},
		"not YAML": {"kind: Service\napiVersion: v1\n---\n\tfoo: [\n", "x.yaml:4: not a Kubernetes object"},
		// Errors come in input order, whichever is found first.
		"first error first": {"apiVersion: v1\nkind: Service\nspec: {portz: 1}\n---\n: : :\n", "x.yaml:1: Service (unnamed): "},
		"bad list":          {"apiVersion: v1\nkind: List\nitems: {a: 1}\n", "x.yaml:1: List: "},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load([]Source{{Name: "x.yaml", Data: []byte(c.in)}})
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("got %v, want an error starting with %q", err, c.want)
			}
		})
	}
}

const endpointsInput = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: apps}
spec:
  gatewayClassName: flotilla
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {value: /sliced}}]
    backendRefs: [{name: sliced, port: 80}]
  - matches: [{path: {value: /ip}}]
    backendRefs: [{name: ip, port: 8080}]
  - matches: [{path: {value: /v6}}]
    backendRefs: [{name: v6, port: 8080}]
  - matches: [{path: {value: /none}}]
    backendRefs: [{name: none, port: 80}]
  - matches: [{path: {value: /headless}}]
    backendRefs: [{name: headless, port: 80}]
---
{apiVersion: v1, kind: Service, metadata: {name: sliced, namespace: apps}, spec: {clusterIP: 10.96.0.1, ports: [{name: http, port: 80}]}}
---
{apiVersion: v1, kind: Service, metadata: {name: ip, namespace: apps}, spec: {clusterIP: 10.96.0.2, ports: [{name: a, port: 8080, targetPort: 80}, {name: b, port: 9090, protocol: UDP}]}}
---
{apiVersion: v1, kind: Service, metadata: {name: v6, namespace: apps}, spec: {clusterIP: "fd00::2", ports: [{port: 8080}]}}
---
{apiVersion: v1, kind: Service, metadata: {name: none, namespace: apps}, spec: {ports: [{port: 80}]}}
---
{apiVersion: v1, kind: Service, metadata: {name: headless, namespace: apps}, spec: {clusterIP: None, ports: [{port: 80}]}}
---
{apiVersion: v1, kind: Service, metadata: {name: unused, namespace: apps}, spec: {clusterIP: 10.96.0.9, ports: [{port: 80}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: sliced-1, namespace: apps, labels: {kubernetes.io/service-name: sliced}}
addressType: IPv4
ports: [{name: http, port: 8000}]
endpoints: [{addresses: [10.0.0.1]}]
`

func TestSyntheticEndpoints(t *testing.T) {
	set, err := Load([]Source{{Name: "x.yaml", Data: []byte(endpointsInput)}})
	if err != nil {
		t.Fatal(err)
	}
	synthetic := map[string]*discoveryv1.EndpointSlice{}
	for _, es := range set.Docs.EndpointSlices {
		if strings.HasSuffix(es.Name, SyntheticSliceSuffix) {
			synthetic[es.Labels[discoveryv1.LabelServiceName]] = es
		}
	}
	if len(synthetic) != 3 || synthetic["sliced"] != nil || synthetic["none"] != nil || synthetic["headless"] != nil {
		t.Fatalf("synthetic slices for %v, want ip, v6 and unused", synthetic)
	}
	if es := synthetic["v6"]; es.AddressType != discoveryv1.AddressTypeIPv6 {
		t.Errorf("v6: address type %s", es.AddressType)
	}
	gws, _, err := set.Gateways("")
	if err != nil {
		t.Fatal(err)
	}
	f, err := set.Translate(gws[0])
	if err != nil {
		t.Fatal(err)
	}
	endpoints := map[string][]string{}
	for _, cla := range f.Resources.Endpoints {
		for _, le := range cla.GetEndpoints() {
			for _, lb := range le.GetLbEndpoints() {
				sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
				endpoints[cla.GetClusterName()] = append(endpoints[cla.GetClusterName()], fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()))
			}
		}
	}
	for cluster, want := range map[string]string{
		"apps/sliced/80/http": "10.0.0.1:8000",  // its own EndpointSlice
		"apps/ip/8080/http":   "10.96.0.2:8080", // the clusterIP, on the Service port (kube-proxy maps it)
		"apps/v6/8080/http":   "fd00::2:8080",
		"apps/none/80/http":   "",
	} {
		if got := strings.Join(endpoints[cluster], ","); got != want {
			t.Errorf("%s: endpoints %q, want %q", cluster, got, want)
		}
	}
	// A note for each Service of the fleet that has no EndpointSlice: none for "unused".
	notes := strings.Join(f.Notes, "\n")
	for _, want := range []string{
		"Service apps/ip has no EndpointSlice in the input: synthetic endpoint 10.96.0.2 (its clusterIP), ready, on port(s) 8080, 9090",
		"Service apps/v6 has no EndpointSlice in the input: synthetic endpoint fd00::2",
		"Service apps/none has no EndpointSlice and no clusterIP in the input",
		"Service apps/headless is headless",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if len(f.Notes) != 4 {
		t.Errorf("got %d notes, want 4:\n%s", len(f.Notes), notes)
	}
	if got := set.ClusterNotes(f, []string{"apps/ip/8080/http", "apps/sliced/80/http"}); len(got) != 1 || !strings.Contains(got[0], "apps/ip") {
		t.Errorf("ClusterNotes: %q", got)
	}
}

func TestGateways(t *testing.T) {
	in := `{apiVersion: gateway.networking.k8s.io/v1, kind: GatewayClass, metadata: {name: ours}, spec: {controllerName: gateway.flotilla.dev/controller}}
---
{apiVersion: gateway.networking.k8s.io/v1, kind: GatewayClass, metadata: {name: theirs}, spec: {controllerName: example.com/other}}
---
{apiVersion: gateway.networking.k8s.io/v1, kind: Gateway, metadata: {name: a}, spec: {gatewayClassName: ours, listeners: []}}
---
{apiVersion: gateway.networking.k8s.io/v1, kind: Gateway, metadata: {name: b, namespace: x}, spec: {gatewayClassName: theirs, listeners: []}}
---
{apiVersion: gateway.networking.k8s.io/v1, kind: Gateway, metadata: {name: c, namespace: x}, spec: {gatewayClassName: unknown, listeners: []}}
`
	set, err := Load([]Source{{Name: "x.yaml", Data: []byte(in)}})
	if err != nil {
		t.Fatal(err)
	}
	gws, skipped, err := set.Gateways("")
	if err != nil || len(gws) != 2 || gws[0].Name != "a" || gws[1].Name != "c" {
		t.Errorf("all: got %d Gateways, %v", len(gws), err)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0], "Gateway x/b: its GatewayClass theirs belongs to controller example.com/other") {
		t.Errorf("skipped: %q", skipped)
	}
	if gws, _, err := set.Gateways("a"); err != nil || len(gws) != 1 || gws[0].Namespace != "default" {
		t.Errorf("a: %v", err)
	}
	if _, _, err := set.Gateways("x/b"); err == nil || !strings.Contains(err.Error(), "belongs to controller") {
		t.Errorf("x/b: %v", err)
	}
	if _, _, err := set.Gateways("x/nope"); err == nil || !strings.Contains(err.Error(), "default/a, x/b, x/c") {
		t.Errorf("x/nope: %v", err)
	}
	empty, _ := Load(nil)
	if _, _, err := empty.Gateways(""); err == nil {
		t.Error("no Gateway: no error")
	}
}
