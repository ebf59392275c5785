package gatewayapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	infv1 "sigs.k8s.io/gateway-api-inference-extension/api/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/golden"
)

// FuzzResolve adds routes built from random values to a realistic snapshot: Resolve must not
// panic, and must give byte-identical output twice and whatever the order of its input.
func FuzzResolve(f *testing.F) {
	f.Add("/api", uint8(0), "foo.example.com", "x-a", int32(1), "web", int32(80), "http", uint8(0), int64(0))
	f.Add("(", uint8(2), "*.example.com", "", int32(0), "missing", int32(0), "", uint8(1), int64(5))
	f.Add("", uint8(1), "*", "X-A", int32(-3), "cart", int32(19000), "https", uint8(2), int64(-1))
	f.Add("/a", uint8(3), "shop.example.com", "x", int32(1<<30), "web", int32(80), "https-broken", uint8(3), int64(7))
	f.Add("/v1", uint8(1), "10.0.0.7", "vllm", int32(9002), "llama", int32(8000), "web", uint8(4), int64(1))
	f.Add("/v1", uint8(0), "10.0.0.8", "vllm", int32(1), "llama", int32(8000), "", uint8(4), int64(2))
	base := loadInput(f, "testdata/isolation-bad.in.yaml")
	f.Fuzz(func(t *testing.T, path string, pathType uint8, host, header string, weight int32, svc string, port int32, section string, kind uint8, age int64) {
		in := base
		in.HTTPRoutes, in.GRPCRoutes, in.TLSRoutes = slices.Clone(base.HTTPRoutes), slices.Clone(base.GRPCRoutes), slices.Clone(base.TLSRoutes)
		meta := metav1.ObjectMeta{Name: "fuzz", Namespace: "apps", Generation: 1, CreationTimestamp: metav1.Unix(1767225600+age%1000, 0)}
		parent := gwapiv1.ParentReference{Name: "gw", Namespace: ptr(gwapiv1.Namespace("infra"))}
		if section != "" {
			parent.SectionName = ptr(gwapiv1.SectionName(section))
		}
		if port != 0 {
			parent.Port = &port
		}
		ref := gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(svc), Port: &port}, Weight: &weight}
		if kind&4 != 0 {
			// The backend is an InferencePool (named svc) selecting the Pods labelled app=header,
			// one of them at the fuzzed host as IP, with the picker named by section (if any).
			ref.Group, ref.Kind = ptr(groupInference), ptr(kindInferencePool)
			pool := &infv1.InferencePool{ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: "apps", Generation: 1},
				Spec: infv1.InferencePoolSpec{Selector: infv1.LabelSelector{MatchLabels: map[infv1.LabelKey]infv1.LabelValue{"app": infv1.LabelValue(header)}},
					TargetPorts: []infv1.Port{{Number: infv1.PortNumber(port)}}, AppProtocol: []infv1.AppProtocol{"", infv1.AppProtocolH2C}[pathType%2]}}
			if section != "" {
				pool.Spec.EndpointPickerRef = &infv1.EndpointPickerRef{Name: infv1.ObjectName(section), Port: &infv1.Port{Number: infv1.PortNumber(weight)},
					FailureMode: []infv1.EndpointPickerFailureMode{"", infv1.EndpointPickerFailOpen}[age&1]}
			}
			in.InferencePools = append(slices.Clone(base.InferencePools), pool)
			in.Pods = slices.Clone(base.Pods)
			for i, ip := range []string{host, "10.9.9.9"} {
				in.Pods = append(in.Pods, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("fuzz-", i), Namespace: "apps", Labels: map[string]string{"app": header}},
					Status: corev1.PodStatus{PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}})
			}
		}
		var hosts []gwapiv1.Hostname
		if host != "" {
			hosts = []gwapiv1.Hostname{gwapiv1.Hostname(host)}
		}
		types := []gwapiv1.PathMatchType{gwapiv1.PathMatchExact, gwapiv1.PathMatchPathPrefix, gwapiv1.PathMatchRegularExpression, "Bogus"}
		switch kind % 3 {
		case 0:
			m := gwapiv1.HTTPRouteMatch{Path: &gwapiv1.HTTPPathMatch{Type: &types[int(pathType)%len(types)], Value: &path}}
			if header != "" {
				m.Headers = []gwapiv1.HTTPHeaderMatch{{Name: gwapiv1.HTTPHeaderName(header), Value: path}}
			}
			in.HTTPRoutes = append(in.HTTPRoutes, &gwapiv1.HTTPRoute{ObjectMeta: meta, Spec: gwapiv1.HTTPRouteSpec{
				CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{parent}}, Hostnames: hosts,
				Rules: []gwapiv1.HTTPRouteRule{{Matches: []gwapiv1.HTTPRouteMatch{m}, BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: ref}}}}}})
		case 1:
			mt := gwapiv1.GRPCMethodMatchType([]string{"Exact", "RegularExpression"}[pathType%2])
			m := gwapiv1.GRPCRouteMatch{Method: &gwapiv1.GRPCMethodMatch{Type: &mt, Service: &path, Method: &header}}
			in.GRPCRoutes = append(in.GRPCRoutes, &gwapiv1.GRPCRoute{ObjectMeta: meta, Spec: gwapiv1.GRPCRouteSpec{
				CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{parent}}, Hostnames: hosts,
				Rules: []gwapiv1.GRPCRouteRule{{Matches: []gwapiv1.GRPCRouteMatch{m}, BackendRefs: []gwapiv1.GRPCBackendRef{{BackendRef: ref}}}}}})
		default:
			in.TLSRoutes = append(in.TLSRoutes, &gwapiv1.TLSRoute{ObjectMeta: meta, Spec: gwapiv1.TLSRouteSpec{
				CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{parent}}, Hostnames: hosts,
				Rules: []gwapiv1.TLSRouteRule{{BackendRefs: []gwapiv1.BackendRef{ref}}}}})
		}
		if age%2 != 0 {
			// A BackendTLSPolicy on the fuzzed backend (the port named by section, when set) and an
			// older whole-Service one it may conflict with, with CA data from the fuzzed strings.
			in.BackendTLSPolicies = slices.Clone(base.BackendTLSPolicies)
			in.CACertificates = append(slices.Clone(base.CACertificates), CACertificate{Kind: "ConfigMap", Namespace: "apps", Name: "fuzz", PEM: path})
			target := gwapiv1.LocalPolicyTargetReferenceWithSectionName{LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{
				Kind: kindService, Name: gwapiv1.ObjectName(svc)}}
			if section != "" {
				target.SectionName = ptr(gwapiv1.SectionName(section))
			}
			for i, name := range []string{"fuzz", header} {
				pm := meta
				pm.Name, pm.CreationTimestamp = name, metav1.Unix(1767225600+int64(i)*(age%3), 0)
				in.BackendTLSPolicies = append(in.BackendTLSPolicies, &gwapiv1.BackendTLSPolicy{ObjectMeta: pm, Spec: gwapiv1.BackendTLSPolicySpec{
					TargetRefs: []gwapiv1.LocalPolicyTargetReferenceWithSectionName{target},
					Validation: gwapiv1.BackendTLSPolicyValidation{Hostname: gwapiv1.PreciseHostname(host),
						CACertificateRefs: []gwapiv1.LocalObjectReference{{Kind: kindConfigMap, Name: gwapiv1.ObjectName(name)}}},
				}})
				target.SectionName = nil
			}
		}
		first := renderJSON(t, Resolve(in))
		if again := renderJSON(t, Resolve(in)); !bytes.Equal(first, again) {
			t.Fatalf("two resolutions differ:\n%s", golden.Diff(first, again))
		}
		rev := in
		rev.HTTPRoutes, rev.GRPCRoutes, rev.TLSRoutes = slices.Clone(in.HTTPRoutes), slices.Clone(in.GRPCRoutes), slices.Clone(in.TLSRoutes)
		rev.Services, rev.Secrets = slices.Clone(in.Services), slices.Clone(in.Secrets)
		rev.BackendTLSPolicies, rev.CACertificates = slices.Clone(in.BackendTLSPolicies), slices.Clone(in.CACertificates)
		slices.Reverse(rev.BackendTLSPolicies)
		slices.Reverse(rev.CACertificates)
		slices.Reverse(rev.HTTPRoutes)
		slices.Reverse(rev.GRPCRoutes)
		slices.Reverse(rev.TLSRoutes)
		slices.Reverse(rev.Services)
		slices.Reverse(rev.Secrets)
		rev.InferencePools, rev.Pods = slices.Clone(in.InferencePools), slices.Clone(in.Pods)
		slices.Reverse(rev.InferencePools)
		slices.Reverse(rev.Pods)
		if reordered := renderJSON(t, Resolve(rev)); !bytes.Equal(first, reordered) {
			t.Fatalf("input order changed the output:\n%s", golden.Diff(first, reordered))
		}
	})
}

func ptr[T any](v T) *T { return &v }

// renderJSON is a Result as JSON: unlike the goldens' YAML, it takes any string (a fuzzed section
// name may hold control characters, which YAML refuses).
func renderJSON(t *testing.T, res Result) []byte {
	t.Helper()
	out, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}
