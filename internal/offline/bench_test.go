package offline

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchYAML is a Gateway with an HTTP and an HTTPS listener, routes HTTPRoutes (three rules each:
// a prefix, an exact path with a header, a regular expression with a query parameter; every
// tenth splits traffic) over 50 Services, half with EndpointSlices, half with a clusterIP only.
func benchYAML(routes int) []byte {
	var b strings.Builder
	b.WriteString(`apiVersion: gateway.networking.k8s.io/v1
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
`)
	for i := range routes {
		fmt.Fprintf(&b, `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: route-%d, namespace: apps}
spec:
  parentRefs: [{name: gw, namespace: infra}]
  hostnames: [app-%d.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: svc-%d, port: 8080}]
  - matches: [{path: {type: Exact, value: /login}, headers: [{name: x-version, value: v2}]}]
    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-route, value: r%d}]}}]
    backendRefs: [{name: svc-%d, port: 8080}]
  - matches: [{path: {type: RegularExpression, value: "/items/[0-9]+"}, queryParams: [{name: page, value: "1"}]}]
    backendRefs: [{name: svc-%d, port: 8080, weight: 9}, {name: svc-%d, port: 8080, weight: %d}]
`, i, i, i%50, i, (i+1)%50, i%50, (i+7)%50, i%10)
	}
	for i := range 50 {
		if i%2 == 0 {
			fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata: {name: svc-%d, namespace: apps}
spec: {ports: [{name: http, port: 8080, targetPort: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-%d-1, namespace: apps, labels: {kubernetes.io/service-name: svc-%d}}
addressType: IPv4
ports: [{name: http, port: 80}]
endpoints:
- {addresses: [10.1.%d.1], conditions: {ready: true}}
- {addresses: [10.1.%d.2], conditions: {ready: true}}
`, i, i, i, i, i)
		} else {
			fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata: {name: svc-%d, namespace: apps}
spec: {clusterIP: 10.96.0.%d, ports: [{name: http, port: 8080, targetPort: 80}]}
`, i, i+1)
		}
	}
	return []byte(b.String())
}

// BenchmarkTranslateYAML is flotillactl translate end to end, less process start: read a file
// of 1,000 HTTPRoutes, decode, resolve, translate and render YAML.
func BenchmarkTranslateYAML(b *testing.B) {
	path := filepath.Join(b.TempDir(), "routes.yaml")
	if err := os.WriteFile(path, benchYAML(1000), 0o600); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := translateFiles([]string{path}, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWriteBenchInput writes the benchmark's input to $FLOTILLACTL_BENCH_OUT (for timing the
// built binary: time flotillactl translate -f $FLOTILLACTL_BENCH_OUT >/dev/null).
func TestWriteBenchInput(t *testing.T) {
	out := os.Getenv("FLOTILLACTL_BENCH_OUT")
	if out == "" {
		t.Skip("FLOTILLACTL_BENCH_OUT is not set")
	}
	if err := os.WriteFile(out, benchYAML(1000), 0o600); err != nil {
		t.Fatal(err)
	}
}

// translateFiles is what flotillactl translate -f files does.
func translateFiles(files []string, w io.Writer) error {
	srcs, err := ReadSources(files, nil)
	if err != nil {
		return err
	}
	set, err := Load(srcs)
	if err != nil {
		return err
	}
	gws, _, err := set.Gateways("")
	if err != nil {
		return err
	}
	var fleets []*Translation
	for _, gw := range gws {
		f, err := set.Translate(gw)
		if err != nil {
			return err
		}
		fleets = append(fleets, f)
	}
	return Render(w, fleets, FormatYAML, mustTypes("all"))
}

func mustTypes(s string) []string {
	t, err := ParseTypes(s)
	if err != nil {
		panic(err)
	}
	return t
}
