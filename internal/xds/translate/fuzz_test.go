package translate

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/model"
)

var (
	fuzzOnce  sync.Once
	fuzzCases []goldenCase
	fuzzCA    string // a CA certificate for the trust bundles fuzzed in
)

// FuzzTranslate adds an HTTPRoute and a GRPCRoute built from the fuzz bytes (paths, header names
// and values, regular expressions, weights, redirects, rewrites, mirrors, CORS, timeouts,
// retries) to a golden input, resolves it, gives some clusters backend TLS (valid or not),
// makes some HTTP clusters InferencePools with Endpoint Pickers, and translates the model: Translate must not fail (every resource passes ValidateAll) and every
// reference must resolve.
func FuzzTranslate(f *testing.F) {
	ins := goldenInputs(f)
	fuzzOnce.Do(func() {
		for _, in := range ins {
			fuzzCases = append(fuzzCases, loadCase(f, in))
		}
		fuzzCA = readTestFile(f, "testdata/model/backend-ca.crt")
	})
	rng := rand.New(rand.NewPCG(7, 11)) // pseudo-random seeds: the generator turns them into varied routes
	for i := range fuzzCases {
		for range 6 {
			data := make([]byte, 600)
			for j := range data {
				data[j] = byte(rng.UintN(256))
			}
			f.Add(uint8(i), data)
		}
		f.Add(uint8(i), []byte{})
		f.Add(uint8(i), seed("/api", "x-user", "[a-z]+", "/new", "https", "a.example.com", "*", "10s", "100ms"))
		f.Add(uint8(i), seed("/", "", "(", "/", "", "*.example.com", "https://*.example.com", "0s", "1h"))
		f.Add(uint8(i), seed("/a/", "Host", "50%", "", "HTTP", "", "http://x:1", "-1s", "bogus", "\x00"))
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		c := fuzzCases[int(which)%len(fuzzCases)]
		in := c.in
		if in.Gateway == nil {
			return
		}
		z := &fuzzBytes{data: data}
		in.HTTPRoutes = append(slices.Clone(in.HTTPRoutes), z.httpRoute(in))
		in.GRPCRoutes = append(slices.Clone(in.GRPCRoutes), z.grpcRoute(in))
		res := gatewayapi.Resolve(in)
		// Backend TLS reads the data from its end, so that the routes do not use it all up.
		tail := slices.Clone(data)
		slices.Reverse(tail)
		tz := &fuzzBytes{data: tail}
		tz.upstreamTLS(&res.Fleet)
		tz.inferencePools(&res.Fleet)
		out, err := Translate(&res.Fleet, c.secrets)
		if err != nil {
			t.Fatalf("Translate: %v", err)
		}
		checkResources(t, out)
	})
}

// seed encodes strings the way fuzzBytes reads them, each followed by a few control bytes.
func seed(ss ...string) []byte {
	var out []byte
	for i, s := range ss {
		out = append(out, byte(len(s)))
		out = append(out, s...)
		out = append(out, byte(i*37), byte(i*11+1), 0, byte(i))
	}
	return out
}

// fuzzBytes hands out values from the fuzz input; past its end, zero values.
type fuzzBytes struct {
	data []byte
}

func (z *fuzzBytes) u8() uint8 {
	if len(z.data) == 0 {
		return 0
	}
	b := z.data[0]
	z.data = z.data[1:]
	return b
}

func (z *fuzzBytes) i32() int32 {
	return int32(uint32(z.u8()) | uint32(z.u8())<<8 | uint32(z.u8())<<16 | uint32(z.u8())<<24)
}

// fuzzWords are values that reach the translator's edge cases often; str picks one for a first
// byte of 0xC0 and above.
var fuzzWords = []string{
	"", "/", "/a", "/a/", "//", "/a?b", "/a#b", "a", "x-a", "Host", "host", ":path", ":method", "x y",
	"100%", "a\nb", "a\rb", "\x00", "*", "*.example.com", "a.example.com", "A.example.com", "a*b.com",
	"*foo.com", "https://*.example.com", "http", "https", "HTTPS", "ftp", "1http", "(", "[a-z]+", ".*",
	"(?i)abc", "a|b", `\`, "0s", "10s", "1h", "500ms", "-1s", "bogus", "GET", "é", strings.Repeat("a", 17000),
}

// str is a word of fuzzWords, or a length-prefixed string made valid UTF-8 (the API server only
// stores valid UTF-8).
func (z *fuzzBytes) str() string {
	n := int(z.u8())
	if n >= 0xC0 {
		return fuzzWords[(n-0xC0)%len(fuzzWords)]
	}
	n = min(n, len(z.data))
	s := string(z.data[:n])
	z.data = z.data[n:]
	return strings.ToValidUTF8(s, "\uFFFD")
}

func (z *fuzzBytes) opt() *string {
	if z.u8()%2 == 0 {
		return nil
	}
	s := z.str()
	return &s
}

func (z *fuzzBytes) pick(n int) int { return int(z.u8()) % n }

// backend is a reference to one of the input's Services (so that it resolves), or a made-up one.
func (z *fuzzBytes) backend(in gatewayapi.Input) gwapiv1.BackendObjectReference {
	ref := gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(z.str())}
	port := z.i32() % 70000
	if n := len(in.Services); n > 0 && z.u8()%4 != 0 {
		s := in.Services[z.pick(n)]
		ns := gwapiv1.Namespace(s.Namespace)
		ref.Name, ref.Namespace = gwapiv1.ObjectName(s.Name), &ns
		if len(s.Spec.Ports) > 0 {
			port = s.Spec.Ports[0].Port
		}
	}
	ref.Port = &port
	return ref
}

// name is a header name: mostly an HTTP token (what Gateway API validates), so that the checks
// past the name are reached.
func (z *fuzzBytes) name() string {
	n := z.str()
	if z.u8()%8 == 0 || isToken(n) {
		return n
	}
	n = strings.Map(func(r rune) rune {
		if r < 0x80 && isToken(string(r)) {
			return r
		}
		return -1
	}, n)
	if n == "" {
		return "x-h"
	}
	return n
}

func (z *fuzzBytes) headerFilter() *gwapiv1.HTTPHeaderFilter {
	h := &gwapiv1.HTTPHeaderFilter{}
	for range z.pick(3) {
		h.Set = append(h.Set, gwapiv1.HTTPHeader{Name: gwapiv1.HTTPHeaderName(z.name()), Value: z.str()})
	}
	for range z.pick(3) {
		h.Add = append(h.Add, gwapiv1.HTTPHeader{Name: gwapiv1.HTTPHeaderName(z.name()), Value: z.str()})
	}
	for range z.pick(3) {
		h.Remove = append(h.Remove, z.name())
	}
	return h
}

func (z *fuzzBytes) pathModifier() *gwapiv1.HTTPPathModifier {
	switch z.pick(3) {
	case 1:
		return &gwapiv1.HTTPPathModifier{Type: gwapiv1.FullPathHTTPPathModifier, ReplaceFullPath: z.opt()}
	case 2:
		return &gwapiv1.HTTPPathModifier{Type: gwapiv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: z.opt()}
	}
	return nil
}

func (z *fuzzBytes) filter(in gatewayapi.Input, redirect bool) gwapiv1.HTTPRouteFilter {
	switch z.pick(6) {
	case 0:
		return gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: z.headerFilter()}
	case 1:
		return gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterResponseHeaderModifier, ResponseHeaderModifier: z.headerFilter()}
	case 2:
		h := gwapiv1.PreciseHostname(z.str())
		return gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwapiv1.HTTPURLRewriteFilter{Hostname: &h, Path: z.pathModifier()}}
	case 3:
		m := &gwapiv1.HTTPRequestMirrorFilter{BackendRef: z.backend(in)}
		switch z.pick(3) {
		case 1:
			p := z.i32() % 200
			m.Percent = &p
		case 2:
			d := z.i32() % 1000
			m.Fraction = &gwapiv1.Fraction{Numerator: z.i32() % 1000, Denominator: &d}
		}
		return gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterRequestMirror, RequestMirror: m}
	case 4:
		c := &gwapiv1.HTTPCORSFilter{MaxAge: z.i32()}
		for range z.pick(3) {
			c.AllowOrigins = append(c.AllowOrigins, gwapiv1.CORSOrigin(z.str()))
		}
		for range z.pick(3) {
			c.AllowMethods = append(c.AllowMethods, gwapiv1.HTTPMethodWithWildcard(z.str()))
			c.AllowHeaders = append(c.AllowHeaders, gwapiv1.HTTPHeaderName(z.name()))
			c.ExposeHeaders = append(c.ExposeHeaders, gwapiv1.HTTPHeaderName(z.name()))
		}
		creds := z.u8()%2 == 0
		c.AllowCredentials = &creds
		return gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterCORS, CORS: c}
	}
	if !redirect {
		return gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: z.headerFilter()}
	}
	r := &gwapiv1.HTTPRequestRedirectFilter{Scheme: z.opt(), Path: z.pathModifier()}
	if h := z.opt(); h != nil {
		hn := gwapiv1.PreciseHostname(*h)
		r.Hostname = &hn
	}
	if z.u8()%2 == 0 {
		p := z.i32() % 70000
		r.Port = &p
	}
	if z.u8()%2 == 0 {
		code := []int{301, 302, 303, 307, 308, int(z.i32() % 1000)}[z.pick(6)]
		r.StatusCode = &code
	}
	return gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterRequestRedirect, RequestRedirect: r}
}

// path is a path for a match of type t: mostly one resolve accepts (a leading "/", a regular
// expression that compiles), so that most generated routes reach the translator.
func (z *fuzzBytes) path(regex bool) string {
	p := z.str()
	switch {
	case z.u8()%8 == 0:
	case regex:
		if _, err := regexp.Compile(p); err != nil {
			p = regexp.QuoteMeta(p)
		}
	case !strings.HasPrefix(p, "/"):
		p = "/" + p
	}
	return p
}

func (z *fuzzBytes) match() gwapiv1.HTTPRouteMatch {
	var m gwapiv1.HTTPRouteMatch
	types := []gwapiv1.PathMatchType{gwapiv1.PathMatchExact, gwapiv1.PathMatchPathPrefix, gwapiv1.PathMatchRegularExpression}
	if k := z.pick(4); k < 3 {
		v := z.path(k == 2)
		m.Path = &gwapiv1.HTTPPathMatch{Type: &types[k], Value: &v}
	}
	headerTypes := []gwapiv1.HeaderMatchType{gwapiv1.HeaderMatchExact, gwapiv1.HeaderMatchRegularExpression}
	for range z.pick(3) {
		k := z.pick(2)
		m.Headers = append(m.Headers, gwapiv1.HTTPHeaderMatch{Type: &headerTypes[k], Name: gwapiv1.HTTPHeaderName(z.name()), Value: z.path(k == 1)})
	}
	queryTypes := []gwapiv1.QueryParamMatchType{gwapiv1.QueryParamMatchExact, gwapiv1.QueryParamMatchRegularExpression}
	for range z.pick(3) {
		k := z.pick(2)
		m.QueryParams = append(m.QueryParams, gwapiv1.HTTPQueryParamMatch{Type: &queryTypes[k], Name: gwapiv1.HTTPHeaderName(z.str()), Value: z.path(k == 1)})
	}
	if z.u8()%3 == 0 {
		method := gwapiv1.HTTPMethod(z.str())
		m.Method = &method
	}
	return m
}

func (z *fuzzBytes) meta(in gatewayapi.Input, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: in.Gateway.Namespace, Generation: 1}
}

func (z *fuzzBytes) parents(in gatewayapi.Input) []gwapiv1.ParentReference {
	return []gwapiv1.ParentReference{{Name: gwapiv1.ObjectName(in.Gateway.Name)}}
}

func (z *fuzzBytes) hostnames() []gwapiv1.Hostname {
	var hs []gwapiv1.Hostname
	for range z.pick(3) {
		hs = append(hs, gwapiv1.Hostname(z.str()))
	}
	return hs
}

func (z *fuzzBytes) httpRoute(in gatewayapi.Input) *gwapiv1.HTTPRoute {
	hr := &gwapiv1.HTTPRoute{ObjectMeta: z.meta(in, "fuzz-http")}
	hr.Spec.ParentRefs, hr.Spec.Hostnames = z.parents(in), z.hostnames()
	for range 1 + z.pick(3) {
		var rule gwapiv1.HTTPRouteRule
		for range z.pick(3) {
			rule.Matches = append(rule.Matches, z.match())
		}
		redirect := z.u8()%4 == 0
		for range z.pick(4) {
			rule.Filters = append(rule.Filters, z.filter(in, redirect))
		}
		if !redirect {
			for range z.pick(4) {
				br := gwapiv1.HTTPBackendRef{BackendRef: gwapiv1.BackendRef{BackendObjectReference: z.backend(in)}}
				if z.u8()%2 == 0 {
					w := z.i32()
					br.Weight = &w
				}
				for range z.pick(3) {
					br.Filters = append(br.Filters, z.filter(in, false))
				}
				rule.BackendRefs = append(rule.BackendRefs, br)
			}
		}
		if z.u8()%2 == 0 {
			rule.Timeouts = &gwapiv1.HTTPRouteTimeouts{Request: (*gwapiv1.Duration)(z.opt()), BackendRequest: (*gwapiv1.Duration)(z.opt())}
		}
		if z.u8()%2 == 0 {
			attempts := int(z.i32() % 10)
			rule.Retry = &gwapiv1.HTTPRouteRetry{Attempts: &attempts, Backoff: (*gwapiv1.Duration)(z.opt())}
			for range z.pick(3) {
				rule.Retry.Codes = append(rule.Retry.Codes, gwapiv1.HTTPRouteRetryStatusCode(z.i32()%700))
			}
		}
		hr.Spec.Rules = append(hr.Spec.Rules, rule)
	}
	return hr
}

func (z *fuzzBytes) grpcRoute(in gatewayapi.Input) *gwapiv1.GRPCRoute {
	gr := &gwapiv1.GRPCRoute{ObjectMeta: z.meta(in, "fuzz-grpc")}
	gr.Spec.ParentRefs, gr.Spec.Hostnames = z.parents(in), z.hostnames()
	types := []gwapiv1.GRPCMethodMatchType{gwapiv1.GRPCMethodMatchExact, gwapiv1.GRPCMethodMatchRegularExpression}
	var rule gwapiv1.GRPCRouteRule
	for range z.pick(3) {
		rule.Matches = append(rule.Matches, gwapiv1.GRPCRouteMatch{Method: &gwapiv1.GRPCMethodMatch{
			Type: &types[z.pick(2)], Service: z.opt(), Method: z.opt()}})
	}
	for range z.pick(3) {
		br := gwapiv1.GRPCBackendRef{BackendRef: gwapiv1.BackendRef{BackendObjectReference: z.backend(in)}}
		if z.u8()%2 == 0 {
			w := z.i32()
			br.Weight = &w
		}
		rule.BackendRefs = append(rule.BackendRefs, br)
	}
	gr.Spec.Rules = []gwapiv1.GRPCRouteRule{rule}
	return gr
}

// upstreamTLS gives some of a resolved fleet's clusters backend TLS, valid or not (resolve does
// not produce it yet), naming trust bundles that are good, bad or missing, and the fleet's
// Secrets (with data or not) as client certificates.
func (z *fuzzBytes) upstreamTLS(f *model.Fleet) {
	bundles := []string{"BackendTLSPolicy/fuzz/ca", "BackendTLSPolicy/fuzz/bad", "BackendTLSPolicy/fuzz/missing", ""}
	f.TrustBundles = append(slices.Clone(f.TrustBundles), model.TrustBundle{Name: bundles[0], PEM: fuzzCA},
		model.TrustBundle{Name: bundles[1], PEM: z.str()})
	sanTypes := []string{sanHostname, sanURI, "IPAddress"}
	for i := range f.Clusters {
		// A passthrough cluster never has TLS (the resolver's rule, checkPassthroughPlain's).
		if f.Clusters[i].TLS != nil || f.Clusters[i].Protocol == model.ClusterTLSPassthrough || z.u8()%2 == 0 {
			continue
		}
		t := &model.UpstreamTLS{SNI: "backend.example.com", TrustBundle: bundles[z.pick(len(bundles))], SystemTrust: z.u8()%4 == 0}
		if z.u8()%4 == 0 {
			t.SNI = z.str()
		}
		if z.u8()%8 == 0 {
			t.Invalid = z.str()
		}
		for range z.pick(3) {
			t.SubjectAltNames = append(t.SubjectAltNames, model.SubjectAltName{Type: sanTypes[z.pick(len(sanTypes))], Value: z.str()})
		}
		if n := len(f.Secrets); n > 0 && z.u8()%2 == 0 {
			t.ClientCertificate = f.Secrets[z.pick(n)].Name
		}
		f.Clusters[i].TLS = t
	}
}

// fuzzPickers are the Endpoint Picker clusters inferencePools adds.
var fuzzPickers = []string{"fuzz/epp-a/9002/epp", "fuzz/epp-b/9002/epp"}

// inferencePools adds Endpoint Picker clusters to a resolved fleet (TLS unverified, verified or
// invalid; a gRPC health check or none) and makes some of its HTTP/1.1 and h2c clusters
// InferencePools, with one of the pickers (failing open or closed) or none.
func (z *fuzzBytes) inferencePools(f *model.Fleet) {
	if z.u8()%2 == 0 {
		return
	}
	f.Clusters = slices.Clone(f.Clusters)
	for i := range f.Clusters {
		c := &f.Clusters[i]
		if (c.Protocol != model.ClusterHTTP && c.Protocol != model.ClusterH2C) || z.u8()%2 == 0 {
			continue
		}
		c.InferencePool = "fuzz/pool"
		if k := z.pick(len(fuzzPickers) + 1); k < len(fuzzPickers) {
			c.EndpointPicker = &model.EndpointPicker{Cluster: fuzzPickers[k], FailOpen: z.u8()%2 == 0}
		}
	}
	for i, name := range fuzzPickers {
		c := model.Cluster{Name: name, Protocol: model.ClusterGRPC, Service: "fuzz/epp", Port: 9002,
			Endpoints: []model.Endpoint{{Address: fmt.Sprintf("10.99.0.%d", i+1), Port: 9002, Ready: true, Serving: true}}}
		switch z.pick(3) {
		case 0:
			c.GRPCHealthCheck = "envoy.service.ext_proc.v3.ExternalProcessor"
		case 1:
			c.GRPCHealthCheck = z.str()
		}
		t := &model.UpstreamTLS{Unverified: true}
		switch z.pick(4) {
		case 1:
			t.SNI = z.str()
		case 2:
			t = &model.UpstreamTLS{SNI: "epp.example.com", TrustBundle: "BackendTLSPolicy/fuzz/ca"}
		case 3:
			t.Invalid = z.str()
		}
		c.TLS = t
		f.Clusters = append(f.Clusters, c)
	}
}
