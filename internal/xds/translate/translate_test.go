package translate

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/model"
)

func goldenInputs(t testing.TB) []string {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	// The RouteFilter case lives with resolve's goldens (route status there, xDS here).
	return append(ins, "../../gatewayapi/testdata/routefilters.in.yaml")
}

// TestGoldenResourcesConsistent checks every golden's output: each resource passes ValidateAll
// and marshals, and every name a resource refers to (RDS, EDS, SDS, clusters) exists.
func TestGoldenResourcesConsistent(t *testing.T) {
	for _, in := range goldenInputs(t) {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".in.yaml"), func(t *testing.T) {
			checkResources(t, loadCase(t, in).translate(t))
		})
	}
}

// TestInvalidModel: a model that breaks its own rules is an error, never invalid configuration.
func TestInvalidModel(t *testing.T) {
	route := func(m model.Match, b *model.Backends) model.Fleet {
		return model.Fleet{
			Listeners: []model.Listener{{Name: "http-80", Port: 80, Protocol: model.ProtocolHTTP, VirtualHosts: []model.VirtualHost{{
				Name: "a.example.com", Domains: []string{"a.example.com"},
				Routes: []model.Route{{Name: "r", Match: m, Backends: b}},
			}}}},
			Clusters: []model.Cluster{{Name: "ns/web/80/http", Protocol: model.ClusterHTTP}},
		}
	}
	web := &model.Backends{Clusters: []model.WeightedCluster{{Cluster: "ns/web/80/http", Weight: 1}}}
	cases := map[string]model.Fleet{
		"regex RE2 refuses":  route(model.Match{Path: &model.StringMatch{Type: model.MatchRegex, Value: "(?<=a)b"}}, web),
		"header regex":       route(model.Match{Headers: []model.StringMatch{{Name: "x", Type: model.MatchRegex, Value: "(["}}}, web),
		"unknown path type":  route(model.Match{Path: &model.StringMatch{Type: "Glob", Value: "/*"}}, web),
		"unknown cluster":    route(model.Match{}, &model.Backends{Clusters: []model.WeightedCluster{{Cluster: "ns/other/80/http", Weight: 1}}}),
		"empty cluster name": {Clusters: []model.Cluster{{Name: ""}}},
		"duplicate cluster":  {Clusters: []model.Cluster{{Name: "a/b/1/tcp"}, {Name: "a/b/1/tcp"}}},
		"reserved cluster":   {Clusters: []model.Cluster{{Name: InvalidBackendCluster}}},
		"duplicate listener": {Listeners: []model.Listener{
			{Name: "tcp-1", Port: 1, Protocol: model.ProtocolTCP}, {Name: "tcp-1", Port: 2, Protocol: model.ProtocolTCP}}},
		"port out of range":                {Listeners: []model.Listener{{Name: "tcp-70000", Port: 70000, Protocol: model.ProtocolTCP}}},
		"duplicate trust bundle":           {TrustBundles: []model.TrustBundle{{Name: "ns/ca"}, {Name: "ns/ca"}}},
		"empty trust bundle name":          {TrustBundles: []model.TrustBundle{{PEM: "x"}}},
		"trust bundle named like a Secret": {Secrets: []model.Secret{{Name: "ns/s"}}, TrustBundles: []model.TrustBundle{{Name: "ns/s"}}},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			if res, err := Translate(&f, nil); err == nil {
				t.Fatalf("no error; listeners %v", res.Listeners)
			}
		})
	}
}

// TestDeterministic translates every golden twice, the second time with the model's slices
// shuffled wherever their order carries no meaning: the outputs must be byte-identical.
func TestDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, in := range goldenInputs(t) {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".in.yaml"), func(t *testing.T) {
			c := loadCase(t, in)
			f := gatewayapi.Resolve(c.in).Fleet
			first, err := Translate(&f, c.secrets)
			if err != nil {
				t.Fatal(err)
			}
			g := gatewayapi.Resolve(c.in).Fleet
			shuffleFleet(rng, &g)
			second, err := Translate(&g, c.secrets)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := marshalAll(t, first), marshalAll(t, second); !bytes.Equal(a, b) {
				t.Fatalf("outputs differ:\n%s", render(t, second))
			}
			if !slices.Equal(first.Warnings, second.Warnings) {
				t.Fatalf("warnings differ: %q vs %q", first.Warnings, second.Warnings)
			}
		})
	}
}

func shuffleFleet(rng *rand.Rand, f *model.Fleet) {
	shuffle(rng, f.Listeners)
	shuffle(rng, f.Clusters)
	shuffle(rng, f.Secrets)
	shuffle(rng, f.TrustBundles)
	for i := range f.Clusters {
		shuffle(rng, f.Clusters[i].Endpoints)
		if t := f.Clusters[i].TLS; t != nil {
			shuffle(rng, t.SubjectAltNames)
		}
	}
	for i := range f.Listeners {
		l := &f.Listeners[i]
		shuffle(rng, l.VirtualHosts)
		shuffle(rng, l.FilterChains)
		for j := range l.FilterChains {
			shuffle(rng, l.FilterChains[j].VirtualHosts)
			shuffle(rng, l.FilterChains[j].ServerNames)
		}
	}
}

func shuffle[T any](rng *rand.Rand, s []T) {
	rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
}

// marshalAll is every resource, deterministically marshalled, in output order.
func marshalAll(t testing.TB, r *Resources) []byte {
	t.Helper()
	var out []byte
	by := r.ByType()
	for _, typ := range []string{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType, resource.SecretType} {
		for _, m := range by[typ] {
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b...)
		}
	}
	return out
}

func TestByType(t *testing.T) {
	r := loadCase(t, "testdata/https.in.yaml").translate(t)
	by := r.ByType()
	want := map[string]int{resource.ListenerType: len(r.Listeners), resource.RouteType: len(r.Routes),
		resource.ClusterType: len(r.Clusters), resource.EndpointType: len(r.Endpoints), resource.SecretType: len(r.Secrets)}
	if len(by) != len(want) {
		t.Fatalf("types %d, want %d", len(by), len(want))
	}
	for typ, n := range want {
		if len(by[typ]) != n || n == 0 {
			t.Errorf("%s: %d resources, want %d (> 0)", typ, len(by[typ]), n)
		}
	}
}

// TestReplacePrefix applies the rewrites replacePrefix chooses the way Envoy does and checks
// Gateway API's table (HTTPPathModifier.ReplacePrefixMatch).
func TestReplacePrefix(t *testing.T) {
	cases := []struct{ prefix, repl, path, want string }{
		{"/foo", "/xyz", "/foo/bar", "/xyz/bar"},
		{"/foo", "/xyz/", "/foo/bar", "/xyz/bar"},
		{"/foo/", "/xyz", "/foo/bar", "/xyz/bar"},
		{"/foo/", "/xyz/", "/foo/bar", "/xyz/bar"},
		{"/foo", "/xyz", "/foo", "/xyz"},
		{"/foo", "/xyz", "/foo/", "/xyz/"},
		{"/foo", "", "/foo/bar", "/bar"},
		{"/foo", "", "/foo/", "/"},
		{"/foo", "", "/foo", "/"},
		{"/foo", "/", "/foo/", "/"},
		{"/foo", "/", "/foo", "/"},
		{"/foo", "/", "/foo/bar", "/bar"},
		{"/", "/xyz", "/bar", "/xyz/bar"},
		{"/", "/xyz/", "/bar/baz", "/xyz/bar/baz"},
		{"/", "/", "/bar", "/bar"},
		{"/foo", "/xyz", "/foo?a=1", "/xyz?a=1"},
		{"/foo", "/", "/foo/bar?a=/b", "/bar?a=/b"},
	}
	for _, c := range cases {
		m := &model.StringMatch{Type: model.MatchPathPrefix, Value: c.prefix}
		prefix, re, fail := replacePrefix(m, c.repl)
		if fail != "" {
			t.Fatalf("%+v: %s", c, fail)
		}
		if got := envoyRewrite(m, prefix, re, c.path); got != c.want {
			t.Errorf("prefix %q → %q on %q: got %q, want %q (prefix_rewrite %q, regex %v)", c.prefix, c.repl, c.path, got, c.want, prefix, re)
		}
	}
}

// envoyRewrite rewrites path as Envoy would: a regex rewrite on the path without its query
// string, or the matched prefix swapped for prefix_rewrite.
func envoyRewrite(m *model.StringMatch, prefix string, re *matcherv3.RegexMatchAndSubstitute, path string) string {
	if re != nil {
		just, query := path, ""
		if i := strings.IndexByte(path, '?'); i >= 0 {
			just, query = path[:i], path[i:]
		}
		return regexp.MustCompile(re.GetPattern().GetRegex()).ReplaceAllLiteralString(just, re.GetSubstitution()) + query
	}
	if prefix == "" {
		return path
	}
	matched := strings.TrimRight(m.Value, "/")
	if matched == "" {
		matched = "/"
	}
	return prefix + path[len(matched):]
}

func TestFraction(t *testing.T) {
	cases := []struct {
		n, d int64
		num  uint32
		den  typev3.FractionalPercent_DenominatorType
	}{
		{25, 100, 25, typev3.FractionalPercent_HUNDRED},
		{1, 1, 100, typev3.FractionalPercent_HUNDRED},
		{0, 7, 0, typev3.FractionalPercent_HUNDRED},
		{1, 8, 1250, typev3.FractionalPercent_TEN_THOUSAND},
		{3, 64, 46875, typev3.FractionalPercent_MILLION},
		{1, 3, 333333, typev3.FractionalPercent_MILLION},
		{2, 3, 666667, typev3.FractionalPercent_MILLION},
		{1, 1000, 10, typev3.FractionalPercent_TEN_THOUSAND},
		{1, 3000, 333, typev3.FractionalPercent_MILLION},
		{1, math.MaxInt32, 0, typev3.FractionalPercent_MILLION},
		{math.MaxInt32, math.MaxInt32, 100, typev3.FractionalPercent_HUNDRED},
	}
	for _, c := range cases {
		if num, den := fraction(c.n, c.d); num != c.num || den != c.den {
			t.Errorf("%d/%d: got %d %v, want %d %v", c.n, c.d, num, den, c.num, c.den)
		}
	}
}

func TestSharesFitUint32(t *testing.T) {
	bs := &model.Backends{InvalidWeight: math.MaxUint32, Clusters: []model.WeightedCluster{
		{Cluster: "a", Weight: math.MaxUint32}, {Cluster: "b", Weight: 1}, {Cluster: "c", Weight: 0}, {Cluster: "d", Weight: math.MaxUint32 / 2}}}
	sh := shares(bs, nil)
	var sum uint64
	for _, s := range sh {
		if s.weight == 0 {
			t.Errorf("%s: weight 0", s.cluster)
		}
		sum += uint64(s.weight)
	}
	if len(sh) != 4 || sum > math.MaxUint32 || sh[3].cluster != InvalidBackendCluster {
		t.Fatalf("shares %+v (sum %d)", sh, sum)
	}
	if sh[0].weight != sh[3].weight || sh[0].weight < 2*sh[2].weight-1 {
		t.Errorf("proportions lost: %+v", sh)
	}
	if len(shares(&model.Backends{InvalidWeight: 3}, nil)) != 0 || len(shares(&model.Backends{Clusters: []model.WeightedCluster{{Cluster: "a"}}}, sh)) != 0 {
		t.Error("backends without weight should have no shares")
	}
}
