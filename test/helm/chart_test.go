package helm

import (
	"fmt"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/lint/support"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/test/cluster"
)

// `helm lint --strict` finds nothing above INFO, with the default values and with every optional
// object on.
func TestChartLints(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"defaults": nil,
		"everything on": values(t, "gatewayClass.enabled=true", "ingressClass.enabled=true",
			"ingressClass.gatewayRef.namespace=infra", "ingressClass.gatewayRef.name=web",
			"metrics.serviceMonitor.enabled=true", "prometheusRule.enabled=true"),
	} {
		lint := action.NewLint()
		lint.Strict = true
		lint.Namespace, lint.KubeVersion = releaseNamespace, kubeVersion
		res := lint.Run([]string{chartDir()}, vals)
		for _, m := range res.Messages {
			if m.Severity > support.InfoSev {
				t.Errorf("%s: lint: %s", name, m)
			}
		}
		for _, err := range res.Errors {
			t.Errorf("%s: lint error: %v", name, err)
		}
	}
}

// With default values (and config/manager's image tag), the chart renders exactly what
// `kustomize build config/default` does, object by object: same objects, same specs, every label
// config/ sets (Helm may add its own), less the Namespace, which the chart does not own (Helm's
// --create-namespace makes it). The generated parts (crds/, templates/rbac.yaml,
// templates/admission-policy.yaml) come from the same build through `make chart`; this test is what
// keeps the hand-written Deployment, ServiceAccount and Services in step with config/.
func TestDefaultValuesRenderConfigDefault(t *testing.T) {
	want := byKey(decodeManifests(t, kustomizeBuild(t, "config/default")))
	got := byKey(mustRender(t, "image.tag=latest"))
	for k, w := range want {
		if w.GetKind() == "Namespace" {
			delete(want, k)
			continue
		}
		g, ok := got[k]
		if !ok {
			t.Errorf("the chart has no %s (kustomize build config/default has)", k)
			continue
		}
		compareObjects(t, k, w, g)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("the chart has %s, which kustomize build config/default has not", k)
		}
	}
}

// helmLabels are the labels the chart may add to config/'s; managed-by differs (Helm, kustomize).
var helmLabels = map[string]bool{
	"app.kubernetes.io/instance": true, "app.kubernetes.io/managed-by": true, "app.kubernetes.io/version": true,
	"helm.sh/chart": true, "app.kubernetes.io/name": true, "app.kubernetes.io/part-of": true,
}

// compareObjects fails unless got equals want, labels compared as above.
func compareObjects(t *testing.T, k string, want, got *unstructured.Unstructured) {
	t.Helper()
	want, got = want.DeepCopy(), got.DeepCopy()
	for _, path := range [][]string{{"metadata", "labels"}, {"spec", "template", "metadata", "labels"}} {
		wl, _, _ := unstructured.NestedStringMap(want.Object, path...)
		gl, _, _ := unstructured.NestedStringMap(got.Object, path...)
		for name, v := range wl {
			if name == "app.kubernetes.io/managed-by" {
				continue
			}
			if gl[name] != v {
				t.Errorf("%s: %s: label %s=%q, config/ has %q", k, strings.Join(path, "."), name, gl[name], v)
			}
		}
		for name, v := range gl {
			if _, ok := wl[name]; !ok && !helmLabels[name] {
				t.Errorf("%s: %s: label %s=%q is not in config/", k, strings.Join(path, "."), name, v)
			}
		}
		unstructured.RemoveNestedField(want.Object, path...)
		unstructured.RemoveNestedField(got.Object, path...)
	}
	if !reflect.DeepEqual(want.Object, got.Object) {
		wy, _ := yaml.Marshal(want.Object)
		gy, _ := yaml.Marshal(got.Object)
		t.Errorf("%s differs from config/ (labels aside):\n%s", k, lineDiff(string(wy), string(gy)))
	}
}

// lineDiff lists the lines only in want (-) or only in got (+): enough to point at a drifted field.
func lineDiff(want, got string) string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	w, g := count(want), count(got)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if g[l] < w[l] {
			fmt.Fprintf(&b, "- %s\n", l)
			w[l]--
		}
	}
	w = count(want)
	for _, l := range strings.Split(got, "\n") {
		if w[l] < g[l] {
			fmt.Fprintf(&b, "+ %s\n", l)
			g[l]--
		}
	}
	return b.String()
}

// Non-default values reach the objects they are about.
func TestValuesRender(t *testing.T) {
	objs := mustRender(t,
		"replicas=3", "image.repository=registry.example.com/flotilla", "image.tag=v9", "image.pullPolicy=Always",
		"logLevel=debug", "metrics.port=9443", "metrics.secure=false", "xds.port=18443",
		"envoyImage=envoyproxy/envoy:v1.36.0", "extraArgs={--kube-api-qps=100,--max-concurrent-reconciles=8}",
		"leaderElection.namespace=kube-system", "nodeSelector.pool=system", "tolerations[0].key=dedicated",
		"tolerations[0].operator=Exists", "priorityClassName=system-cluster-critical", "podAnnotations.a=b",
		"resources.requests.cpu=1", "serviceAccount.annotations.iam=role", "admissionPolicy.enabled=false",
		"gatewayClass.enabled=true", "gatewayClass.name=shared", "gatewayClass.fleetClass.name=shared-fleets",
		"gatewayClass.fleetClass.spec.replicas=3", "ingressClass.enabled=true", "ingressClass.default=true",
		"ingressClass.gatewayRef.namespace=infra", "ingressClass.gatewayRef.name=web",
		"ingressClass.config.sslPassthrough=true", "metrics.serviceMonitor.enabled=true",
		"metrics.serviceMonitor.interval=15s", "prometheusRule.enabled=true", "prometheusRule.groups[0].name=flotilla")
	args := managerArgs(t, objs)
	for _, want := range []string{"--leader-elect --leader-election-namespace=kube-system", "--metrics-bind-address=:9443",
		"--metrics-secure=false", "--zap-log-level=debug", "--xds-port=18443", "--envoy-image=envoyproxy/envoy:v1.36.0",
		"--kube-api-qps=100 --max-concurrent-reconciles=8"} {
		if !strings.Contains(args, want) {
			t.Errorf("manager args %q lack %q", args, want)
		}
	}
	d := find(t, objs, "Deployment", "flotilla-controller-manager")
	for path, want := range map[string]any{
		"spec.replicas":                                          int64(3),
		"spec.template.spec.containers.0.image":                  "registry.example.com/flotilla:v9",
		"spec.template.spec.containers.0.imagePullPolicy":        "Always",
		"spec.template.spec.nodeSelector.pool":                   "system",
		"spec.template.spec.tolerations.0.key":                   "dedicated",
		"spec.template.spec.priorityClassName":                   "system-cluster-critical",
		"spec.template.metadata.annotations.a":                   "b",
		"spec.template.spec.containers.0.resources.requests.cpu": int64(1),
		"spec.template.spec.containers.0.ports.1.containerPort":  int64(9443),
	} {
		if got := at(d.Object, path); !same(got, want) {
			t.Errorf("Deployment %s = %#v, want %#v", path, got, want)
		}
	}
	for _, c := range []struct {
		kind, name, path string
		want             any
	}{
		{"Service", "flotilla-xds", "spec.ports.0.port", int64(18443)},
		{"Service", "flotilla-controller-manager-metrics-service", "spec.ports.0.name", "http"},
		{"Service", "flotilla-controller-manager-metrics-service", "spec.ports.0.port", int64(9443)},
		{"ServiceAccount", "flotilla-controller-manager", "metadata.annotations.iam", "role"},
		{"Role", "flotilla-leader-election-role", "metadata.namespace", "kube-system"},
		{"RoleBinding", "flotilla-leader-election-rolebinding", "metadata.namespace", "kube-system"},
		{"RoleBinding", "flotilla-leader-election-rolebinding", "subjects.0.namespace", "flotilla-system"},
		{"Role", "flotilla-manager-role", "metadata.namespace", "flotilla-system"},
		{"GatewayClass", "shared", "spec.parametersRef.name", "shared-fleets"},
		{"GatewayClass", "shared", "spec.controllerName", "gateway.flotilla.dev/controller"},
		{"FleetClass", "shared-fleets", "spec.replicas", int64(3)},
		{"IngressClass", "flotilla", "spec.parameters.name", "flotilla"},
		{"IngressClass", "flotilla", "metadata.annotations.ingressclass\\.kubernetes\\.io/is-default-class", "true"},
		{"IngressClassConfig", "flotilla", "spec.gatewayRef.name", "web"},
		{"IngressClassConfig", "flotilla", "spec.sslPassthrough", true},
		{"ServiceMonitor", "flotilla-controller-manager-metrics-monitor", "spec.endpoints.0.scheme", "http"},
		{"ServiceMonitor", "flotilla-controller-manager-metrics-monitor", "spec.endpoints.0.interval", "15s"},
		{"PrometheusRule", "flotilla-rules", "spec.groups.0.name", "flotilla-xds"},
		{"PrometheusRule", "flotilla-rules", "spec.groups.4.name", "flotilla"},
	} {
		if got := at(find(t, objs, c.kind, c.name).Object, c.path); !same(got, c.want) {
			t.Errorf("%s %s %s = %#v, want %#v", c.kind, c.name, c.path, got, c.want)
		}
	}
	for _, o := range objs {
		if strings.HasPrefix(o.GetKind(), "ValidatingAdmissionPolicy") {
			t.Errorf("admissionPolicy.enabled=false still renders %s", key(o))
		}
	}

	// Metrics off: no Service, no port, no flag.
	objs = mustRender(t, "metrics.enabled=false", "replicas=1", "leaderElection.enabled=false")
	for _, o := range objs {
		if o.GetName() == "flotilla-controller-manager-metrics-service" {
			t.Error("metrics.enabled=false still renders the metrics Service")
		}
	}
	if args := managerArgs(t, objs); strings.Contains(args, "metrics") || !strings.Contains(args, "--leader-elect=false") {
		t.Errorf("metrics and leader election off: args %q", args)
	}
	// The image tag defaults to the chart's appVersion.
	c := loadChart(t)
	d = find(t, mustRender(t), "Deployment", "flotilla-controller-manager")
	if got, want := at(d.Object, "spec.template.spec.containers.0.image"), "ghcr.io/flotilla-dev/flotilla:"+c.Metadata.AppVersion; got != want {
		t.Errorf("default image %v, want %s", got, want)
	}
}

// same compares scalars as printed: the YAML decoder's number types are its business.
func same(got, want any) bool {
	return got != nil && fmt.Sprintf("%v", got) == fmt.Sprintf("%v", want)
}

// at reads a dotted path ("spec.ports.0.name"; `\.` escapes a dot in a key) of an object.
func at(obj map[string]any, path string) any {
	var cur any = obj
	for _, p := range strings.Split(strings.ReplaceAll(path, `\.`, "\x00"), ".") {
		p = strings.ReplaceAll(p, "\x00", ".")
		switch c := cur.(type) {
		case map[string]any:
			cur = c[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

// The values schema refuses typos and wrong types, and the templates refuse inconsistent values,
// each with a message that names the problem.
func TestBadValuesFail(t *testing.T) {
	for _, c := range []struct {
		set  []string
		want string
	}{
		{[]string{"replica=3"}, "replica"},
		{[]string{"metrics.sevriceMonitor.enabled=true"}, "sevriceMonitor"},
		{[]string{"image.tga=v1"}, "tga"},
		{[]string{"replicas=two"}, "replicas"},
		{[]string{"logLevel=verbose"}, "logLevel"},
		{[]string{"xds.port=0"}, "port"},
		{[]string{"extraArgs={leader-elect}"}, "extraArgs"},
		{[]string{"ingressClass.enabled=true"}, "gatewayRef"},
		{[]string{"leaderElection.enabled=false"}, "leaderElection.enabled"},
		{[]string{"metrics.enabled=false", "metrics.serviceMonitor.enabled=true"}, "metrics.enabled"},
	} {
		_, err := render(t, c.set...)
		if err == nil {
			t.Errorf("helm template --set %v succeeded, want an error naming %q", c.set, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("helm template --set %v: %v; want it to name %q", c.set, err, c.want)
		}
	}
}

// The manager binary does not link Helm: this module holds the Helm SDK, and the main module's
// commands must not depend on any helm.sh package.
func TestManagerDoesNotLinkHelm(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./cmd/...")
	cmd.Dir = cluster.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/...: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list -deps ./cmd/... listed %d packages; expected the manager's full dependency graph", len(deps))
	}
	for _, p := range deps {
		if strings.HasPrefix(p, "helm.sh/") {
			t.Errorf("the main module's commands depend on %s", p)
		}
	}
}

// values.yaml and values.schema.json describe the same keys: every key of values.yaml is in the
// schema (or the default values would fail it) and every key of the schema has a default, with its
// comment, in values.yaml.
func TestSchemaCoversValues(t *testing.T) {
	c := loadChart(t)
	var schema map[string]any
	if err := yaml.Unmarshal(c.Schema, &schema); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, s map[string]any, v map[string]any)
	walk = func(path string, s map[string]any, v map[string]any) {
		props, _ := s["properties"].(map[string]any)
		if s["additionalProperties"] != false {
			return // free-form (resources, affinity...)
		}
		for name, p := range props {
			if path == "" && name == "global" {
				continue
			}
			val, ok := v[name]
			if !ok {
				t.Errorf("the schema has %s%s, values.yaml has no default for it", path, name)
				continue
			}
			if sub, ok := val.(map[string]any); ok {
				walk(path+name+".", p.(map[string]any), sub)
			}
		}
	}
	walk("", schema, c.Values)
}

// prometheusRule.enabled installs Flotilla's own alerts (config/prometheus/rules.yaml, which the
// chart carries as a file: Prometheus's {{ $labels }} templates reach Prometheus unexpanded);
// flotillaAlerts=false leaves only the groups given.
func TestChartCarriesFlotillaAlerts(t *testing.T) {
	rule := find(t, mustRender(t, "prometheusRule.enabled=true"), "PrometheusRule", "flotilla-rules")
	groups, _ := at(rule.Object, "spec.groups").([]any)
	var alerts []string
	for _, g := range groups {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			alerts = append(alerts, r.(map[string]any)["alert"].(string))
		}
	}
	if len(alerts) != 8 || !slices.Contains(alerts, "FlotillaEnvoyConfigRejected") || !slices.Contains(alerts, "FlotillaReconcileErrors") {
		t.Errorf("alerts %v, want Flotilla's 8", alerts)
	}
	if s := fmt.Sprint(groups); !strings.Contains(s, "{{ $labels.fleet }}") {
		t.Errorf("the alerts' Prometheus templates were expanded by Helm: %s", s)
	}
	rule = find(t, mustRender(t, "prometheusRule.enabled=true", "prometheusRule.flotillaAlerts=false", "prometheusRule.groups[0].name=mine"), "PrometheusRule", "flotilla-rules")
	if groups, _ := at(rule.Object, "spec.groups").([]any); len(groups) != 1 {
		t.Errorf("flotillaAlerts=false: groups %v", groups)
	}
}
