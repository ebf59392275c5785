package gatewayapi

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// pathMatches says whether a model path match matches path the way Envoy does (a regular
// expression matches the whole path).
func pathMatches(t *testing.T, p *model.StringMatch, path string) bool {
	t.Helper()
	switch p.Type {
	case model.MatchExact:
		return path == p.Value
	case model.MatchPathPrefix:
		v := strings.TrimRight(p.Value, "/")
		return path == v || strings.HasPrefix(path, v+"/")
	case model.MatchRegex:
		return regexp.MustCompile("^(?:" + p.Value + ")$").MatchString(path)
	}
	t.Fatalf("match type %q", p.Type)
	return false
}

// A GRPCRoute method match becomes a path match that matches exactly the methods the match
// names, whatever regular expressions its service and method hold.
func TestGRPCMethodMatchPaths(t *testing.T) {
	exact, re := gwapiv1.GRPCMethodMatchExact, gwapiv1.GRPCMethodMatchRegularExpression
	for _, tc := range []struct {
		typ             gwapiv1.GRPCMethodMatchType
		service, method string
		match, miss     []string
	}{
		{re, "a|b", "M", []string{"/a/M", "/b/M"}, []string{"/a", "/b", "/a/N", "/c/M", "/a/M/x"}},
		{re, "echo.Echo", "Get|List", []string{"/echo.Echo/Get", "/echo.Echo/List"}, []string{"/List", "/echo.Echo/Put", "/x/List"}},
		{re, "a|b", "", []string{"/a/Any", "/b/Other"}, []string{"/a", "/c/Any", "/a/b/c"}},
		{re, "", "Get|List", []string{"/x.Y/Get", "/z/List"}, []string{"/x.Y/Put", "/Get", "/x/GetAll"}},
		{re, "pkg\\..*", "Get.*", []string{"/pkg.Svc/Get", "/pkg.Svc/GetAll"}, []string{"/other.Svc/Get", "/pkg.Svc/Put"}},
		{exact, "echo.Echo", "Ping", []string{"/echo.Echo/Ping"}, []string{"/echo.Echo/Pong", "/echoxEcho/Ping"}},
		{exact, "echo.Echo", "", []string{"/echo.Echo/Ping", "/echo.Echo/Pong"}, []string{"/echo.EchoX/Ping", "/other/Ping"}},
		{exact, "", "Ping", []string{"/echo.Echo/Ping", "/a/Ping"}, []string{"/echo.Echo/PingX", "/a/xPing"}},
		{exact, "", "Pi.g", []string{"/a/Pi.g"}, []string{"/a/Ping"}},
	} {
		m := gwapiv1.GRPCRouteMatch{Method: &gwapiv1.GRPCMethodMatch{Type: &tc.typ}}
		if tc.service != "" {
			m.Method.Service = &tc.service
		}
		if tc.method != "" {
			m.Method.Method = &tc.method
		}
		mm, bad := grpcMatch(m)
		if bad != "" || mm.Path == nil {
			t.Fatalf("%s %q %q: %q, %+v", tc.typ, tc.service, tc.method, bad, mm.Path)
		}
		for _, p := range tc.match {
			if !pathMatches(t, mm.Path, p) {
				t.Errorf("%s service %q method %q: %s %q does not match %s", tc.typ, tc.service, tc.method, mm.Path.Type, mm.Path.Value, p)
			}
		}
		for _, p := range tc.miss {
			if pathMatches(t, mm.Path, p) {
				t.Errorf("%s service %q method %q: %s %q matches %s", tc.typ, tc.service, tc.method, mm.Path.Type, mm.Path.Value, p)
			}
		}
	}
}

// A route with a regular expression too large for Envoy is not accepted, whichever match holds
// it; one just under the limit is.
func TestRegexTooLarge(t *testing.T) {
	huge, fine := "/[a-z]{600}", "/[a-z]{400}"
	if n, _, err := regexSize(huge); err != nil || n <= maxRegexProgram {
		t.Fatalf("regexSize(%q) = %d, %v", huge, n, err)
	}
	if n, exact, err := regexSize(fine); err != nil || n > maxRegexProgram || !exact {
		t.Fatalf("regexSize(%q) = %d, %v, %v", fine, n, exact, err)
	}
	reType := gwapiv1.PathMatchRegularExpression
	hType, qType := gwapiv1.HeaderMatchRegularExpression, gwapiv1.QueryParamMatchRegularExpression
	gType, gExact := gwapiv1.GRPCMethodMatchRegularExpression, gwapiv1.GRPCMethodMatchExact
	longMethod := strings.Repeat("m", 600)
	http := func(m gwapiv1.HTTPRouteMatch) *gwapiv1.HTTPRoute {
		return &gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "r"}, Spec: gwapiv1.HTTPRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "gw"}}},
			Rules:           []gwapiv1.HTTPRouteRule{{Matches: []gwapiv1.HTTPRouteMatch{m}}}}}
	}
	grpc := func(m gwapiv1.GRPCRouteMatch) *gwapiv1.GRPCRoute {
		return &gwapiv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "r"}, Spec: gwapiv1.GRPCRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "gw"}}},
			Rules:           []gwapiv1.GRPCRouteRule{{Matches: []gwapiv1.GRPCRouteMatch{m}}}}}
	}
	for name, tc := range map[string]struct {
		in   Input
		want string // in the message; "" when the route is accepted
	}{
		"path": {Input{HTTPRoutes: []*gwapiv1.HTTPRoute{http(gwapiv1.HTTPRouteMatch{Path: &gwapiv1.HTTPPathMatch{Type: &reType, Value: &huge}})}},
			"rule 0 match 0: path regular expression compiles to"},
		"path under the limit": {Input{HTTPRoutes: []*gwapiv1.HTTPRoute{http(gwapiv1.HTTPRouteMatch{Path: &gwapiv1.HTTPPathMatch{Type: &reType, Value: &fine}})}}, ""},
		"header": {Input{HTTPRoutes: []*gwapiv1.HTTPRoute{http(gwapiv1.HTTPRouteMatch{Headers: []gwapiv1.HTTPHeaderMatch{{Type: &hType, Name: "x-id", Value: huge}}})}},
			"header x-id regular expression compiles to"},
		"query parameter": {Input{HTTPRoutes: []*gwapiv1.HTTPRoute{http(gwapiv1.HTTPRouteMatch{QueryParams: []gwapiv1.HTTPQueryParamMatch{{Type: &qType, Name: "q", Value: huge}}})}},
			"query parameter q regular expression compiles to"},
		"grpc service": {Input{GRPCRoutes: []*gwapiv1.GRPCRoute{grpc(gwapiv1.GRPCRouteMatch{Method: &gwapiv1.GRPCMethodMatch{Type: &gType, Service: &huge}})}},
			"method regular expression compiles to"},
		"grpc method (exact, as a regular expression)": {Input{GRPCRoutes: []*gwapiv1.GRPCRoute{grpc(gwapiv1.GRPCRouteMatch{Method: &gwapiv1.GRPCMethodMatch{Type: &gExact, Method: &longMethod}})}},
			"method regular expression compiles to"},
		"grpc header": {Input{GRPCRoutes: []*gwapiv1.GRPCRoute{grpc(gwapiv1.GRPCRouteMatch{Headers: []gwapiv1.GRPCHeaderMatch{{Type: (*gwapiv1.GRPCHeaderMatchType)(&hType), Name: "x-id", Value: huge}}})}},
			"header x-id regular expression compiles to"},
	} {
		tc.in.ControllerName = "gateway.flotilla.dev/controller"
		tc.in.Gateway = &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "gw"},
			Spec: gwapiv1.GatewaySpec{Listeners: []gwapiv1.Listener{{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType}}}}
		res := Resolve(tc.in)
		if len(res.Routes) != 1 || len(res.Routes[0].Parents) != 1 {
			t.Fatalf("%s: routes %+v", name, res.Routes)
		}
		c := meta.FindStatusCondition(res.Routes[0].Parents[0].Conditions, string(gwapiv1.RouteConditionAccepted))
		switch {
		case tc.want == "" && c.Status != metav1.ConditionTrue:
			t.Errorf("%s: not accepted: %s", name, c.Message)
		case tc.want != "" && (c.Status != metav1.ConditionFalse || c.Reason != string(gwapiv1.RouteReasonUnsupportedValue) ||
			!strings.Contains(c.Message, tc.want) || !strings.Contains(c.Message, "limit of 500")):
			t.Errorf("%s: Accepted %s %s %q; want False UnsupportedValue with %q", name, c.Status, c.Reason, c.Message, tc.want)
		case tc.want != "" && len(res.Fleet.Listeners[0].VirtualHosts) != 0:
			t.Errorf("%s: the refused route reached the model", name)
		}
	}
}

// gRPC header names are case-insensitive, as HTTP's are: of two matches on one name, the first wins.
func TestGRPCHeaderNamesAreCaseInsensitive(t *testing.T) {
	m, bad := grpcMatch(gwapiv1.GRPCRouteMatch{Headers: []gwapiv1.GRPCHeaderMatch{
		{Name: "X-Env", Value: "prod"}, {Name: "x-env", Value: "dev"}, {Name: "x-team", Value: "a"}}})
	if bad != "" {
		t.Fatal(bad)
	}
	if len(m.Headers) != 2 || m.Headers[0].Value != "prod" || m.Headers[1].Name != "x-team" {
		t.Errorf("headers %+v, want X-Env=prod then x-team=a", m.Headers)
	}
}

// The bound that spares compiling huge programs never exceeds the compiled size, so it refuses no
// regular expression the limit admits; and it refuses the ones whose repeats explode without
// compiling them.
func TestMinInstsIsALowerBound(t *testing.T) {
	for _, re := range []string{"/", "/abc", "/[a-z]{400}", "/[a-z]{600}", "/(a|bc|d){3,7}", "/x*y+z?", "/(?i)abc[0-9]+",
		"/a{2,}", "/(ab){0,3}c", "/^/api/v[0-9]+/(users|groups)/[^/]+$", "/(a{1,5}){1,5}", "/.*", "/(?:x|y)|z", "/\\d{3}-\\d{4}",
		"/[[:alpha:]]{10}", "/(a(b(c)))", "/a{0}", "/(a|)+"} {
		parsed, err := syntax.Parse(re, syntax.Perl)
		if err != nil {
			t.Fatalf("%s: %v", re, err)
		}
		prog, err := syntax.Compile(parsed.Simplify())
		if err != nil {
			t.Fatalf("%s: %v", re, err)
		}
		if lb := minInsts(parsed); lb > len(prog.Inst) {
			t.Errorf("minInsts(%q) = %d, more than the %d instructions it compiles to", re, lb, len(prog.Inst))
		}
	}
	for _, re := range []string{"/(x{1,100}){1,10}", "/" + strings.Repeat("[a-z]{1,50}", 40)} {
		if n, exact, err := regexSize(re); err != nil || exact || n <= maxRegexProgram {
			t.Errorf("regexSize(%q) = %d, exact %v, %v: want a bound over the limit, not compiled", re, n, exact, err)
		}
	}
}

// lexMinInsts never counts more instructions than the compiled program has, on patterns of every
// shape it follows, and it recognises the oversized patterns that are costly to parse.
func TestLexMinInstsIsALowerBound(t *testing.T) {
	patterns := []string{
		"/a", "/api/v[0-9]+/users", "abc|abd", "a|b|c", "(a|bc){3}", "(?:ab|abab){10}", "x{0}y", "x{2,}", "x{0,1}",
		`\d{3}-\d{4}`, `[a-z]{1,50}`, "/" + strings.Repeat("[a-f]", 60), "(foo|foobar|fo)+$", "^/(v1|v2)/.*",
		"[]a]", "[^]a]{4}", `[\]x]{2}`, "(a(b(c){2}){3}){4}", "a{1000}", "(x{1,10}){1,10}", "é{5}ü",
		"(abc|abd|abe){20}", "a*b+c?", "a{3,5}?",
	}
	for i := range 200 {
		patterns = append(patterns, fmt.Sprintf("(p%d|q%d|p%dx){%d}", i, i, i, i%50+1))
	}
	for _, re := range patterns {
		lb, ok := lexMinInsts(re)
		if !ok {
			continue
		}
		parsed, err := syntax.Parse(re, syntax.Perl)
		if err != nil {
			continue
		}
		prog, err := syntax.Compile(parsed.Simplify())
		if err != nil {
			continue
		}
		if lb > len(prog.Inst) {
			t.Errorf("lexMinInsts(%q) = %d, more than the %d instructions of its program", re, lb, len(prog.Inst))
		}
	}
	for _, re := range []string{"/" + strings.Repeat("[a-z]{1,50}", 40), "(x{1,100}){1,10}"} {
		if lb, ok := lexMinInsts(re); !ok || lb <= maxRegexProgram {
			t.Errorf("lexMinInsts(%q) = %d, %v: want a bound over the limit", re, lb, ok)
		}
	}
}

// Random patterns from a small token set: lexMinInsts stays a lower bound whenever it answers.
func TestLexMinInstsRandomPatterns(t *testing.T) {
	tokens := []string{"a", "b", "ab", "[a-c]", "[^x]", "(", "(?:", ")", "|", "*", "+", "?", "{2}", "{0}", "{0,3}", "{1,}", "{3,4}?", ".", "^", "$", `\d`, `\.`, "é"}
	rng := rand.New(rand.NewPCG(1, 2))
	checked := 0
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(12) + 1 {
			b.WriteString(tokens[rng.IntN(len(tokens))])
		}
		re := b.String()
		lb, ok := lexMinInsts(re)
		if !ok {
			continue
		}
		parsed, err := syntax.Parse(re, syntax.Perl)
		if err != nil {
			continue
		}
		prog, err := syntax.Compile(parsed.Simplify())
		if err != nil {
			continue
		}
		checked++
		if lb > len(prog.Inst) {
			t.Errorf("lexMinInsts(%q) = %d, more than the %d instructions of its program", re, lb, len(prog.Inst))
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d random patterns checked", checked)
	}
}
