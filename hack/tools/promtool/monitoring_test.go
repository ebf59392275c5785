package promtool

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite config/prometheus/metrics-used.txt")

const (
	root       = "../../.."
	rulesFile  = root + "/config/prometheus/rules.yaml"
	testsDir   = root + "/config/prometheus/tests"
	dashboard  = root + "/config/grafana/flotilla-dashboard.json"
	metricsOut = root + "/config/prometheus/metrics-used.txt"
	runbook    = root + "/docs/operating.md"
)

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type group struct {
	Name  string `yaml:"name"`
	Rules []rule `yaml:"rules"`
}

type prometheusRule struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Groups []group `yaml:"groups"`
	} `yaml:"spec"`
}

func loadRules(t *testing.T) []group {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var pr prometheusRule
	if err := yaml.Unmarshal(data, &pr); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if pr.Kind != "PrometheusRule" || len(pr.Spec.Groups) == 0 {
		t.Fatalf("%s: not a PrometheusRule with groups", rulesFile)
	}
	return pr.Spec.Groups
}

// ruleDir writes the PrometheusRule's groups as a plain rule file, rules.yaml, in a temporary
// directory, with the test files next to it (promtool resolves rule_files from the test file).
func ruleDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	out, err := yaml.Marshal(map[string]any{"groups": loadRules(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Marshal drops nothing the rules use (for, labels, annotations), but re-read the original to
	// keep the expressions byte for byte.
	var raw struct {
		Spec struct {
			Groups yaml.Node `yaml:"groups"`
		} `yaml:"spec"`
	}
	data, _ := os.ReadFile(rulesFile)
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if out, err = yaml.Marshal(map[string]*yaml.Node{"groups": &raw.Spec.Groups}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// promtool is the cached promtool binary: $PROMTOOL, or hack/promtool.sh's (built on first use).
func promtool(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMTOOL"); p != "" {
		return p
	}
	out, err := exec.Command(root + "/hack/promtool.sh").Output()
	if err != nil {
		t.Fatalf("hack/promtool.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func run(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
}

// promtool check rules: syntax, templates, duplicate rules.
func TestCheckRules(t *testing.T) {
	dir := ruleDir(t)
	run(t, dir, promtool(t), "check", "rules", "rules.yaml")
}

// One promtool unit test file per group, tests/<group>.yaml; each alert of the group is expected
// to fire in at least one of its cases.
func TestRuleUnitTests(t *testing.T) {
	bin := promtool(t)
	dir := ruleDir(t)
	groups := loadRules(t)
	files, err := filepath.Glob(filepath.Join(testsDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, g := range groups {
		want[strings.TrimPrefix(g.Name, "flotilla-")+".yaml"] = true
	}
	for _, f := range files {
		if !want[filepath.Base(f)] {
			t.Errorf("%s tests no group of rules.yaml", f)
		}
	}
	for _, g := range groups {
		name := strings.TrimPrefix(g.Name, "flotilla-") + ".yaml"
		t.Run(g.Name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(testsDir, name))
			if err != nil {
				t.Fatalf("group %s has no test file: %v", g.Name, err)
			}
			var tf struct {
				RuleFiles []string `yaml:"rule_files"`
				Tests     []struct {
					AlertRuleTest []struct {
						Alertname string `yaml:"alertname"`
						ExpAlerts []any  `yaml:"exp_alerts"`
					} `yaml:"alert_rule_test"`
				} `yaml:"tests"`
			}
			if err := yaml.Unmarshal(data, &tf); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tf.RuleFiles, []string{"rules.yaml"}) {
				t.Errorf("rule_files = %v, want [rules.yaml] (the PrometheusRule's groups)", tf.RuleFiles)
			}
			fires := map[string]bool{}
			for _, c := range tf.Tests {
				for _, a := range c.AlertRuleTest {
					if len(a.ExpAlerts) > 0 {
						fires[a.Alertname] = true
					}
				}
			}
			for _, r := range g.Rules {
				if r.Alert != "" && !fires[r.Alert] {
					t.Errorf("no case of %s expects alert %s to fire", name, r.Alert)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, dir, bin, "test", "rules", name)
		})
	}
}

// Every alert pages with a severity, says what is wrong, and has a runbook section.
func TestAlertsDocumented(t *testing.T) {
	doc, err := os.ReadFile(runbook)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range loadRules(t) {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			if u := r.Annotations["runbook_url"]; !strings.HasSuffix(u, "docs/operating.md#"+strings.ToLower(r.Alert)) {
				t.Errorf("%s: runbook_url %q does not point at its section of docs/operating.md", r.Alert, u)
			}
			if !regexp.MustCompile(`(?m)^### ` + r.Alert + `$`).Match(doc) {
				t.Errorf("%s: docs/operating.md has no section \"### %s\"", r.Alert, r.Alert)
			}
		}
	}
}

// grafanaVars replaces the dashboard's variables with values the PromQL parser accepts.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
	"${fleet:regex}", ".*", "$fleet", ".*", "${fleet}", ".*", "$job", ".*", "${job}", ".*")

// dashboardQueries are the dashboard's PromQL expressions: every "expr" of a target, and the
// selector inside every label_values(...) variable query.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			title, _ := v["title"].(string)
			if title == "" {
				title, _ = v["name"].(string)
			}
			for k, c := range v {
				p := path + "/" + k
				if title != "" {
					p = path + "/" + title + "." + k
				}
				if s, ok := c.(string); ok && k == "expr" {
					out[p] = s
				}
				if s, ok := c.(string); ok && k == "query" && strings.HasPrefix(s, "label_values(") {
					m := labelValues.FindStringSubmatch(s)
					if m == nil {
						t.Errorf("%s: cannot read variable query %q", p, s)
						continue
					}
					out[p] = m[1]
				}
				walk(p, c)
			}
		case []any:
			for i, c := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), c)
			}
		}
	}
	walk("", doc)
	if len(out) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	return out
}

// Every rule expression and dashboard query parses; the metric names they use are those of
// config/prometheus/metrics-used.txt (go test -update rewrites it), which the main module's
// TestMonitoringMetricsAreExported checks against the manager's registry.
func TestExpressionsParse(t *testing.T) {
	exprs := map[string]string{}
	for _, g := range loadRules(t) {
		for _, r := range g.Rules {
			exprs["rules.yaml/"+g.Name+"/"+r.Alert+r.Record] = r.Expr
		}
	}
	for k, v := range dashboardQueries(t) {
		exprs["dashboard"+k] = grafanaVars.Replace(v)
	}
	names := map[string]bool{}
	for where, e := range exprs {
		if strings.Contains(e, "$") {
			t.Errorf("%s: unknown Grafana variable in %q", where, e)
			continue
		}
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(e)
		if err != nil {
			t.Errorf("%s: %v\n%s", where, err, e)
			continue
		}
		found := false
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				if vs.Name == "" {
					t.Errorf("%s: a selector without a metric name: %s", where, vs)
				}
				names[vs.Name] = true
				found = true
			}
			return nil
		})
		if !found {
			t.Errorf("%s: no metric in %q", where, e)
		}
	}
	var list []string
	for n := range names {
		list = append(list, n)
	}
	slices.Sort(list)
	want := "# Metric names config/prometheus/rules.yaml and config/grafana/flotilla-dashboard.json use.\n" +
		"# Generated by `cd hack/tools/promtool && go test -run TestExpressionsParse -update`; checked against\n" +
		"# the manager's registry by TestMonitoringMetricsAreExported (test/integration).\n" +
		strings.Join(list, "\n") + "\n"
	if *update {
		if err := os.WriteFile(metricsOut, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(metricsOut)
	if err != nil || string(got) != want {
		t.Errorf("%s is stale; run `cd hack/tools/promtool && go test -run TestExpressionsParse -update`\nwant:\n%s", metricsOut, want)
	}
}
