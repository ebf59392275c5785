package migrate_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/golden"
	"github.com/flotilla-dev/flotilla/internal/migrate"
	"github.com/flotilla-dev/flotilla/internal/offline"
)

// goldenInputs are the translator's Ingress goldens: what the controller serves for them is in
// internal/xds/translate/testdata/<name>.out.yaml.
// ingress-migrate (in testdata) is the migration's own: everything in it that is served migrates
// but what the comments say.
var goldenInputs = []string{"ingress-nginx", "ingress-alias-passthrough", "ingress-cors-affinity", "ingress-canary", "ingress-protections", "ingress-migrate"}

func load(t testing.TB, name string) *offline.Set {
	t.Helper()
	dir := "../xds/translate/testdata"
	if _, err := os.Stat(filepath.Join("testdata", name+".in.yaml")); err == nil {
		dir = "testdata"
	}
	data, err := os.ReadFile(filepath.Join(dir, name+".in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := offline.Load([]offline.Source{{Name: name + ".in.yaml", Dir: dir, Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestGoldens: Ingress YAML in, migrated YAML and the report out; --verify finds no request
// that Envoy would serve differently after the migration.
func TestGoldens(t *testing.T) {
	for _, name := range goldenInputs {
		t.Run(name, func(t *testing.T) {
			res, err := migrate.Migrate(load(t, name), migrate.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := res.YAML(&out); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", name+".migrated.yaml"), out.Bytes())
			rep, err := yaml.Marshal(res.Report)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", name+".report.yaml"), rep)
			v, err := migrate.Verify(res)
			if err != nil {
				t.Fatal(err)
			}
			if v.Requests == 0 {
				t.Fatal("verify compared no request")
			}
			for i, d := range v.Differences {
				if i == 5 {
					t.Errorf("... %d differences in all", len(v.Differences))
					break
				}
				t.Errorf("%s\n  ingress:  %s\n  migrated: %s", d.Request, d.Ingress, d.Migrated)
			}
			t.Logf("%d requests compared, %d migrated", v.Requests, res.Report.Summary.Migrated)
		})
	}
}

// TestVerifyFindsBrokenConversions: each deliberate mistake in the printed objects is a
// difference --verify reports, with the request that shows it.
func TestVerifyFindsBrokenConversions(t *testing.T) {
	for _, c := range []struct {
		name  string
		route string // the HTTPRoute broken, namespace/name
		brk   func(hr *gwapiv1.HTTPRoute)
		want  string // in the request of a difference
	}{
		{"canary weight off by one", "app/app", func(hr *gwapiv1.HTTPRoute) {
			for i := range hr.Spec.Rules {
				for j := range hr.Spec.Rules[i].BackendRefs {
					if w := hr.Spec.Rules[i].BackendRefs[j].Weight; w != nil && *w == 20 {
						*w = 21
					}
				}
			}
		}, "app.example.com"},
		{"idle timeout dropped", "docs/docs", func(hr *gwapiv1.HTTPRoute) {
			for i := range hr.Spec.Rules {
				hr.Spec.Rules[i].Filters = slices.DeleteFunc(hr.Spec.Rules[i].Filters, func(f gwapiv1.HTTPRouteFilter) bool {
					return f.Type == gwapiv1.HTTPRouteFilterExtensionRef
				})
			}
		}, "docs.example.com"},
		{"character prefix written as PathPrefix", "docs/docs", func(hr *gwapiv1.HTTPRoute) {
			for i := range hr.Spec.Rules {
				if p := hr.Spec.Rules[i].Matches[0].Path; *p.Type == gwapiv1.PathMatchRegularExpression && strings.Contains(*p.Value, "/api)") {
					p.Type, p.Value = ptr.To(gwapiv1.PathMatchPathPrefix), ptr.To("/api")
				}
			}
		}, "/apix"},
		{"ssl-redirect code 301 instead of 308", "shop/shop-http", func(hr *gwapiv1.HTTPRoute) {
			hr.Spec.Rules[0].Filters[0].RequestRedirect.StatusCode = ptr.To(301)
		}, "http://shop.example.com"},
		{"case-insensitive regex made case-sensitive", "shop/shop-admin", func(hr *gwapiv1.HTTPRoute) {
			p := hr.Spec.Rules[0].Matches[0].Path
			p.Value = ptr.To(strings.TrimPrefix(*p.Value, "(?i)"))
		}, "/ADMIN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := migrate.Migrate(load(t, "ingress-migrate"), migrate.Options{})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, o := range res.Objects {
				if hr, ok := o.Obj.(*gwapiv1.HTTPRoute); ok && hr.Namespace+"/"+hr.Name == c.route {
					c.brk(hr)
					found = true
				}
			}
			if !found {
				t.Fatalf("no HTTPRoute %s was printed", c.route)
			}
			v, err := migrate.Verify(res)
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Differences) == 0 {
				t.Fatalf("verify found no difference in %d requests", v.Requests)
			}
			if !slices.ContainsFunc(v.Differences, func(d migrate.Difference) bool { return strings.Contains(d.Request, c.want) }) {
				t.Errorf("no difference for a request with %q; got %+v", c.want, v.Differences[0])
			}
		})
	}
}
