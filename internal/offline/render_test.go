package offline

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/xds/translate"
)

const translateGoldens = "../xds/translate/testdata"

// goldenFleet translates a translator golden input as its golden test does (TLS termination on,
// Secrets annotated as missing left without data).
func goldenFleet(t *testing.T, in string) *Translation {
	t.Helper()
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	set, err := Load([]Source{{Name: in, Dir: filepath.Dir(in), Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	gws, _, err := set.Gateways("")
	if err != nil {
		t.Fatal(err)
	}
	input := set.Input(gws[0])
	input.TLSTerminate = true
	var secrets []*corev1.Secret
	for _, s := range set.Docs.SecretData {
		if s.Annotations["test.flotilla.dev/translate-data"] != "missing" {
			secrets = append(secrets, s)
		}
	}
	f, err := Run(input, secrets)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The YAML output's xDS is the translator's golden form, byte for byte (rendered section by
// section in parallel), and the JSON output has the very same structure.
func TestRenderIsTheGoldenForm(t *testing.T) {
	ins, err := filepath.Glob(filepath.Join(translateGoldens, "*.in.yaml"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	all := mustTypes("all")
	for _, in := range ins {
		t.Run(filepath.Base(in), func(t *testing.T) {
			if data, err := os.ReadFile(in); err == nil && bytes.Contains(data, []byte("\nkind: FleetClass\n")) {
				t.Skip("offline skips FleetClasses: the golden's tracing is not computed here")
			}
			f := goldenFleet(t, in)
			got, err := xdsYAML(f, all)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(in, ".in.yaml") + ".out.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("xDS YAML differs from the golden output:\n%s", got)
			}
			fj, err := toJSON(f, all)
			if err != nil {
				t.Fatal(err)
			}
			gotJSON, err := json.Marshal(fj)
			if err != nil {
				t.Fatal(err)
			}
			var gotV, wantV map[string]any
			if err := json.Unmarshal(gotJSON, &gotV); err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal(want, &wantV); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"gateway", "status", "notes", "translationError"} {
				delete(gotV, k)
			}
			if !reflect.DeepEqual(gotV, wantV) {
				t.Errorf("JSON differs from the golden output:\n%s", gotJSON)
			}
		})
	}
}

func TestRenderTypesAndFormats(t *testing.T) {
	f := goldenFleet(t, filepath.Join(translateGoldens, "http-basic.in.yaml"))
	f.Notes = []string{"a note"}
	var y bytes.Buffer
	if err := Render(&y, []*Translation{f, f}, FormatYAML, mustTypes("routes,clusters")); err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(y.String(), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("want two YAML documents, got %d", len(docs))
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(docs[0]), &doc); err != nil {
		t.Fatal(err)
	}
	if keys := sortedKeys(doc); !slices.Equal(keys, []string{"clusters", "gateway", "notes", "routes", "status", "warnings"}) {
		t.Errorf("YAML keys: %v", keys)
	}
	if !strings.HasPrefix(docs[0], "gateway: infra/gw\nnotes:\n- a note\nroutes:\n") {
		t.Errorf("YAML document starts:\n%.200s", docs[0])
	}
	var j bytes.Buffer
	if err := Render(&j, []*Translation{f}, FormatJSON, mustTypes("listeners")); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Gateways []map[string]any `json:"gateways"`
	}
	if err := json.Unmarshal(j.Bytes(), &out); err != nil {
		t.Fatalf("JSON does not parse: %v", err)
	}
	if len(out.Gateways) != 1 || !slices.Equal(sortedKeys(out.Gateways[0]), []string{"gateway", "listeners", "notes", "status", "warnings"}) {
		t.Errorf("JSON: %v", out.Gateways)
	}
	if err := Render(&j, nil, "xml", nil); err == nil {
		t.Error("format xml: no error")
	}
}

func sortedKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestParseTypes(t *testing.T) {
	for in, want := range map[string][]string{
		"":                    translate.Sections,
		"all":                 translate.Sections,
		"routes,all":          translate.Sections,
		"secrets, Listeners":  {"listeners", "secrets"},
		"routes,routes":       {"routes"},
		"endpoints,clusters,": nil,
	} {
		got, err := ParseTypes(in)
		if want == nil {
			if err == nil {
				t.Errorf("%q: no error", in)
			}
			continue
		}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseTypes("routes,pods"); err == nil || !strings.Contains(err.Error(), `unknown type "pods"`) {
		t.Errorf("pods: %v", err)
	}
}

func TestStatusOf(t *testing.T) {
	in := filepath.Join("..", "gatewayapi", "testdata", "listenerset-merge.in.yaml")
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	set, err := Load([]Source{{Name: in, Dir: filepath.Dir(in), Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	gws, _, err := set.Gateways("infra/gw")
	if err != nil {
		t.Fatal(err)
	}
	f, err := set.Translate(gws[0])
	if err != nil {
		t.Fatal(err)
	}
	st := StatusOf(f.Gateway, &f.Result)
	if st.Gateway.Object != "Gateway/infra/gw" || len(st.Listeners) != 1 || st.Listeners[0].Listener != "http" || st.Listeners[0].AttachedRoutes == nil {
		t.Errorf("gateway and listeners: %+v", st)
	}
	var sets, entries int
	for _, e := range st.ListenerSets {
		if !strings.HasPrefix(e.Object, "ListenerSet/") {
			t.Errorf("ListenerSet entry %+v", e)
		}
		if e.Listener == "" {
			sets++
		} else {
			entries++
		}
	}
	if sets != len(f.Result.ListenerSets) || sets == 0 || entries == 0 {
		t.Errorf("%d ListenerSets (want %d), %d listener entries", sets, len(f.Result.ListenerSets), entries)
	}
	found := false
	for _, e := range st.ListenerSets {
		for _, c := range e.Conditions {
			found = found || c.Reason == "HostnameConflict" && c.Status == "False" && c.Message != ""
		}
	}
	if !found {
		t.Error("no HostnameConflict condition among the ListenerSet entries")
	}
	for _, r := range st.Routes {
		if r.Parent == "" || !strings.Contains(r.Object, "Route/") || len(r.Conditions) == 0 {
			t.Errorf("route entry %+v", r)
		}
	}
}

func TestRouteProblems(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(translateGoldens, "http-weighted.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := Load([]Source{{Name: "w.yaml", Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	gws, _, _ := set.Gateways("")
	f, err := set.Translate(gws[0])
	if err != nil {
		t.Fatal(err)
	}
	got := RouteProblems(&f.Result, "HTTPRoute", "infra", "weighted")
	if len(got) == 0 || !strings.Contains(got[0], "HTTPRoute infra/weighted (parent Gateway/infra/gw): ResolvedRefs=False BackendNotFound: ") {
		t.Errorf("got %q", got)
	}
	if none := RouteProblems(&f.Result, "HTTPRoute", "infra", "other"); len(none) != 0 {
		t.Errorf("another route: %q", none)
	}
}
