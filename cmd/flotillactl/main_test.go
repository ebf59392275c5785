package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// input is a Gateway, an HTTPRoute with one invalid backend and one valid, a Service with a
// clusterIP and no EndpointSlice, and kinds flotillactl skips.
const input = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: flotilla}
spec: {controllerName: gateway.flotilla.dev/controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: flotilla
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: apps}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  hostnames: [shop.example.com]
  rules:
  - matches: [{path: {value: /cart}}]
    backendRefs: [{name: cart, port: 80}]
  - backendRefs: [{name: web, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: elsewhere, namespace: apps}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  hostnames: [shop.example.org]
  rules: [{backendRefs: [{name: web, port: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec: {clusterIP: 10.96.0.7, ports: [{name: http, port: 8080, targetPort: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
`

// flotillactl runs the command and returns its exit status, stdout and stderr.
func flotillactl(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeInput(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.yaml")
	if err := os.WriteFile(path, []byte(input), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// An invalid route gets the condition the controller would set, and the exit status is 0.
func TestTranslateInvalidRoute(t *testing.T) {
	code, out, errOut := flotillactl(t, "", "translate", "-f", writeInput(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Notes  []string `json:"notes"`
		Routes []any    `json:"routes"`
		Status struct {
			Routes []struct {
				Object     string `json:"object"`
				Conditions []struct{ Type, Status, Reason, Message string }
			} `json:"routes"`
		} `json:"status"`
	}
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	var reasons []string
	for _, r := range doc.Status.Routes {
		for _, c := range r.Conditions {
			reasons = append(reasons, r.Object+" "+c.Type+"="+c.Status+" "+c.Reason+": "+c.Message)
		}
	}
	want := "HTTPRoute/apps/shop ResolvedRefs=False BackendNotFound: Service apps/cart does not exist"
	if !strings.Contains(strings.Join(reasons, "\n"), want) {
		t.Errorf("status lacks %q:\n%s", want, strings.Join(reasons, "\n"))
	}
	// The synthetic endpoint, and the note that says so.
	if len(doc.Notes) != 1 || !strings.Contains(doc.Notes[0], "Service apps/web has no EndpointSlice in the input: synthetic endpoint 10.96.0.7") {
		t.Errorf("notes: %q", doc.Notes)
	}
	if !strings.Contains(out, "address: 10.96.0.7\n            port_value: 8080") {
		t.Errorf("no synthetic endpoint in the output:\n%s", out)
	}
	if !strings.Contains(errOut, "skipped Deployment apps/web") {
		t.Errorf("stderr lacks the skipped Deployment: %q", errOut)
	}
}

func TestTranslateTypesAndJSON(t *testing.T) {
	path := writeInput(t)
	code, out, errOut := flotillactl(t, "", "translate", "-f", path, "--type", "routes,endpoints")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "\nlisteners:") || strings.Contains(out, "\nclusters:") || !strings.Contains(out, "\nroutes:") || !strings.Contains(out, "\nendpoints:") {
		t.Errorf("--type routes,endpoints printed:\n%s", out)
	}
	code, out, errOut = flotillactl(t, "", "translate", "-f", path, "-o", "json", "--gateway", "infra/gw")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var parsed struct {
		Gateways []struct {
			Gateway   string           `json:"gateway"`
			Listeners []map[string]any `json:"listeners"`
			Routes    []map[string]any `json:"routes"`
			Warnings  []string         `json:"warnings"`
			Status    map[string]any   `json:"status"`
		} `json:"gateways"`
	}
	if err := json.Unmarshal([]byte(out), &parsed); err != nil {
		t.Fatalf("-o json does not parse: %v", err)
	}
	if len(parsed.Gateways) != 1 || parsed.Gateways[0].Gateway != "infra/gw" || len(parsed.Gateways[0].Listeners) != 1 ||
		len(parsed.Gateways[0].Routes) != 1 || parsed.Gateways[0].Warnings == nil || parsed.Gateways[0].Status == nil {
		t.Errorf("-o json: %+v", parsed)
	}
}

func TestInputs(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"a.yaml": input, "notes.txt": "not read", "b.json": `{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if code, out, errOut := flotillactl(t, "", "translate", "-f", dir, "--type", "listeners"); code != 0 || !strings.Contains(out, "name: http-80") {
		t.Errorf("directory: exit %d, %s%s", code, out, errOut)
	}
	if code, out, errOut := flotillactl(t, input, "translate", "-f", "-"); code != 0 || !strings.Contains(out, "gateway: infra/gw") {
		t.Errorf("stdin: exit %d, %s%s", code, out, errOut)
	}
}

// Only unreadable or unparseable input, and bad flags, exit non-zero.
func TestFailures(t *testing.T) {
	path := writeInput(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {portz: []}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"missing file":   {[]string{"translate", "-f", filepath.Join(t.TempDir(), "nope.yaml")}, "no such file"},
		"unparseable":    {[]string{"translate", "-f", bad}, `bad.yaml:1: Service x: `},
		"no -f":          {[]string{"translate"}, "no input"},
		"bad type":       {[]string{"translate", "-f", path, "--type", "pods"}, `unknown type "pods"`},
		"bad output":     {[]string{"translate", "-f", path, "-o", "xml"}, "want yaml or json"},
		"unknown flag":   {[]string{"translate", "-f", path, "--bogus"}, "unknown flag"},
		"no such gw":     {[]string{"translate", "-f", path, "--gateway", "infra/nope"}, "is not in the input"},
		"no request":     {[]string{"explain", "-f", path}, "--request is required"},
		"bad request":    {[]string{"explain", "-f", path, "--request", "GET ftp://x/"}, "want http, https, tls, tcp or udp"},
		"explain output": {[]string{"explain", "-f", path, "--request", "http://x/", "-o", "xml"}, "want text, yaml or json"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := flotillactl(t, "", c.args...)
			if code == 0 || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr %q; want non-zero and %q", code, errOut, c.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	path := writeInput(t)
	code, out, errOut := flotillactl(t, "", "explain", "-f", path, "--request", "GET http://shop.example.com/cart/1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"Route         HTTPRoute/apps/shop/rule/0/match/0 (route 1 of 2)",
		"from HTTPRoute apps/shop, rule 0, match 0",
		"Result        500 answered by Envoy",
		"ResolvedRefs=False BackendNotFound: Service apps/cart does not exist",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = flotillactl(t, "", "explain", "-f", path, "--gateway", "infra/gw", "--request", "http://shop.example.com/", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var d struct {
		Route  struct{ Name string }
		Action struct {
			Type     string
			Backends []struct {
				Cluster   string
				Endpoints []string
			}
		}
		Notes []string
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("-o json does not parse: %v", err)
	}
	if d.Route.Name != "HTTPRoute/apps/shop/rule/1/match/0" || d.Action.Type != "forward" || len(d.Action.Backends) != 1 ||
		strings.Join(d.Action.Backends[0].Endpoints, ",") != "10.96.0.7:8080" || len(d.Notes) != 2 {
		t.Errorf("-o json: %+v", d)
	}
	code, out, _ = flotillactl(t, "", "explain", "-f", path, "--request", "http://shop.example.orb/", "-o", "yaml")
	var nf struct{ Action struct{ Type, Reason string } }
	if err := yaml.Unmarshal([]byte(out), &nf); err != nil || code != 0 || nf.Action.Type != "not-found" ||
		!strings.Contains(nf.Action.Reason, "closest is virtual host shop.example.org") {
		t.Errorf("404: exit %d, %v\n%s", code, err, out)
	}
}

func TestExplainNeedsOneGateway(t *testing.T) {
	two := input + "---\n" + strings.ReplaceAll(input[strings.Index(input, "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"):strings.Index(input, "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute")], "name: gw,", "name: gw2,")
	code, _, errOut := flotillactl(t, two, "explain", "-f", "-", "--request", "http://shop.example.com/")
	if code == 0 || !strings.Contains(errOut, "2 Flotilla Gateways: say which with --gateway") {
		t.Errorf("exit %d, %q", code, errOut)
	}
	if code, out, errOut := flotillactl(t, two, "translate", "-f", "-", "--type", "listeners"); code != 0 || strings.Count(out, "gateway: infra/gw") != 2 {
		t.Errorf("translate of both: exit %d\n%s%s", code, out, errOut)
	}
}

// explain on Ingresses: which Ingress path served a request and which of its annotations shaped
// it, what resolution found wrong with it, and for a 404 which Ingresses are refused and why.
func TestExplainIngress(t *testing.T) {
	path := "../../internal/xds/translate/testdata/ingress-nginx.in.yaml"
	code, out, errOut := flotillactl(t, "", "explain", "-f", path, "--request", "GET https://shop.example.com/store/x")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"from Ingress apps/shop, rule 0, match 0",
		"path rewritten to /x",
		"Ingress apps/shop annotations: nginx.ingress.kubernetes.io/proxy-read-timeout=120, nginx.ingress.kubernetes.io/rewrite-target=/$2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	_, out, _ = flotillactl(t, "", "explain", "-f", path, "--request", "GET https://blog.example.com/feed")
	if !strings.Contains(out, "Ingress apps/blog: host blog.example.com: TLS Secret apps/missing-tls is missing") {
		t.Errorf("the Ingress's problem is not a note:\n%s", out)
	}
	_, out, _ = flotillactl(t, "", "explain", "-f", path, "--request", "GET http://snippet.example.com/")
	if !strings.Contains(out, "Ingress apps/snippet is refused (SnippetRefused)") {
		t.Errorf("a 404 does not say which Ingress is refused:\n%s", out)
	}
}

// TestMigrate: the printed objects, the report, --verify's verdict and --strict's exit status.
func TestMigrate(t *testing.T) {
	in := filepath.Join("..", "..", "internal", "migrate", "testdata", "ingress-migrate.in.yaml")
	code, out, errOut := flotillactl(t, "", "migrate", "-f", in, "--verify")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "verify: OK: ") || !strings.Contains(errOut, "over 8 migrated Ingresses") {
		t.Errorf("stderr lacks the verify verdict:\n%s", errOut)
	}
	kinds := map[string]int{}
	for _, doc := range strings.Split(out, "\n---\n") {
		var obj struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("output is not YAML: %v\n%s", err, doc)
		}
		kinds[obj.Kind]++
	}
	if kinds["HTTPRoute"] < 7 || kinds["ListenerSet"] != 1 || kinds["ReferenceGrant"] != 1 || kinds["RouteFilter"] < 7 {
		t.Errorf("printed kinds %v", kinds)
	}

	code, _, errOut = flotillactl(t, "", "migrate", "-f", in, "--strict")
	if code != 1 || !strings.Contains(errOut, "strict: 1 Ingresses are refused by the controller and 2 not migrated") {
		t.Errorf("--strict: exit %d, stderr:\n%s", code, errOut)
	}

	report := filepath.Join(t.TempDir(), "r.md")
	code, out, errOut = flotillactl(t, "", "migrate", "-f", in, "-o", "json", "--report", report)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var list struct {
		Kind  string
		Items []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || list.Kind != "List" || len(list.Items) == 0 {
		t.Errorf("-o json: %v, %+v", err, list)
	}
	md, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Ingress docs/legacy: NotMigrated", "uses service-upstream", "## Ingress docs/snippet: Refused", "| `nginx.ingress.kubernetes.io/canary-weight` | `20` |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "-f", in, "--ingress-class", "nope"}, "IngressClass nope is not in the input"},
		{[]string{"migrate", "-f", in, "--gateway", "infra/other"}, "gateway infra/other is not in the input"},
		{[]string{"migrate", "-f", "-"}, "the input has no IngressClassConfig"},
	} {
		code, _, errOut := flotillactl(t, input, c.args...)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, errOut, c.want)
		}
	}
}
