package gatewayapi

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	infv1 "sigs.k8s.io/gateway-api-inference-extension/api/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// BenchmarkResolve resolves a Gateway with n HTTPRoutes on one listener (the shape of the
// translator's BenchmarkTranslate).
func BenchmarkResolve(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			in := scaleInput(n, 0, 0)
			b.ReportAllocs()
			for b.Loop() {
				Resolve(in)
			}
		})
	}
}

// BenchmarkResolveBackendTLS is BenchmarkResolve with a BackendTLSPolicy on every Service (half on
// the whole Service, half on its port by name) sharing one CA ConfigMap, and as many policies
// again on Services no route uses: policies are indexed once, so the cost stays linear.
func BenchmarkResolveBackendTLS(b *testing.B) {
	ca, err := os.ReadFile("testdata/backend-ca.crt")
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			in := scaleInput(n, 0, 0)
			in.CACertificates = []CACertificate{{Kind: "ConfigMap", Namespace: "bench", Name: "ca", PEM: string(ca)}}
			for i, svc := range in.Services {
				for _, name := range []string{svc.Name, "unused-" + svc.Name} {
					target := gwapiv1.LocalPolicyTargetReferenceWithSectionName{LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{
						Kind: kindService, Name: gwapiv1.ObjectName(name)}}
					if i%2 == 0 {
						target.SectionName = ptr(gwapiv1.SectionName("http"))
					}
					in.BackendTLSPolicies = append(in.BackendTLSPolicies, &gwapiv1.BackendTLSPolicy{
						ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench", Generation: 1},
						Spec: gwapiv1.BackendTLSPolicySpec{TargetRefs: []gwapiv1.LocalPolicyTargetReferenceWithSectionName{target},
							Validation: gwapiv1.BackendTLSPolicyValidation{Hostname: gwapiv1.PreciseHostname(name + ".bench.svc"),
								CACertificateRefs: []gwapiv1.LocalObjectReference{{Kind: kindConfigMap, Name: "ca"}}}},
					})
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				Resolve(in)
			}
		})
	}
}

// BenchmarkResolveScaling resolves 2,000 and 16,000 light routes (half HTTPRoutes, half
// GRPCRoutes, each on its own hostname, one rule, no backends, so that conversion costs little):
// the ratio of the two shows whether resolve stays linear (it was quadratic: 50× for 8× the
// routes; now about 10×). A benchmark, not a timed test: run it and compare.
func BenchmarkResolveScaling(b *testing.B) {
	light := func(in Input) Input {
		for _, r := range in.HTTPRoutes {
			r.Spec.Rules = r.Spec.Rules[:1]
			r.Spec.Rules[0].BackendRefs = nil
		}
		for _, r := range in.GRPCRoutes {
			r.Spec.Rules = r.Spec.Rules[:1]
			r.Spec.Rules[0].BackendRefs = nil
		}
		in.Services, in.EndpointSlices = nil, nil
		return in
	}
	for _, n := range []int{2000, 16000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			in := light(scaleInput(n/2, n/2, 3))
			b.ReportAllocs()
			for b.Loop() {
				Resolve(in)
			}
		})
	}
}

// scaleInput is a Gateway with an HTTP listener on port 80, nHTTP HTTPRoutes and nGRPC GRPCRoutes
// in namespace "bench", each with its own hostname and two rules (one match each) that modify a
// request header and split traffic between two Services of three ready endpoints each; and
// nCatchAll HTTPRoutes without hostnames on a second listener.
func scaleInput(nHTTP, nGRPC, nCatchAll int) Input {
	const ns = "bench"
	all := gwapiv1.NamespacesFromAll
	in := Input{
		ControllerName: "gateway.flotilla.dev/controller",
		Gateway: &gwapiv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "infra", Generation: 1},
			Spec: gwapiv1.GatewaySpec{GatewayClassName: "flotilla", Listeners: []gwapiv1.Listener{{
				Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType,
				AllowedRoutes: &gwapiv1.AllowedRoutes{Namespaces: &gwapiv1.RouteNamespaces{From: &all}},
			}}},
		},
	}
	gwNS := gwapiv1.Namespace("infra")
	parents := []gwapiv1.ParentReference{{Name: "gw", Namespace: &gwNS}}
	prefix, exact := gwapiv1.PathMatchPathPrefix, gwapiv1.PathMatchExact
	backends := func(i int, appProtocol *string) []gwapiv1.BackendRef {
		var refs []gwapiv1.BackendRef
		for j, w := range []int32{80, 20} {
			svc := fmt.Sprintf("svc-%d-%d", i, j)
			port := int32(8080)
			refs = append(refs, gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(svc), Port: &port}, Weight: &w})
			in.Services = append(in.Services, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns},
				Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: port, AppProtocol: appProtocol}}},
			})
			name, ready, target := "http", true, int32(80)
			es := &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Name: svc + "-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &target}},
			}
			for k := range 3 {
				es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
					Addresses:  []string{fmt.Sprintf("10.%d.%d.%d", i/250%250, i%250, j*3+k+1)},
					Conditions: discoveryv1.EndpointConditions{Ready: &ready},
				})
			}
			in.EndpointSlices = append(in.EndpointSlices, es)
		}
		return refs
	}
	for i := range nHTTP {
		var refs []gwapiv1.HTTPBackendRef
		for _, r := range backends(i, nil) {
			refs = append(refs, gwapiv1.HTTPBackendRef{BackendRef: r})
		}
		header := []gwapiv1.HTTPRouteFilter{{Type: gwapiv1.HTTPRouteFilterRequestHeaderModifier,
			RequestHeaderModifier: &gwapiv1.HTTPHeaderFilter{Set: []gwapiv1.HTTPHeader{{Name: "x-route", Value: fmt.Sprint(i)}}}}}
		api, health := fmt.Sprintf("/api/v%d", i%5), "/healthz"
		in.HTTPRoutes = append(in.HTTPRoutes, &gwapiv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("route-%d", i), Namespace: ns, Generation: 1},
			Spec: gwapiv1.HTTPRouteSpec{
				CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: parents},
				Hostnames:       []gwapiv1.Hostname{gwapiv1.Hostname(fmt.Sprintf("app-%d.example.com", i))},
				Rules: []gwapiv1.HTTPRouteRule{
					{Matches: []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: &prefix, Value: &api}}}, Filters: header, BackendRefs: refs},
					{Matches: []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: &exact, Value: &health}}}, Filters: header, BackendRefs: refs},
				},
			},
		})
	}
	for i := range nGRPC {
		var refs []gwapiv1.GRPCBackendRef
		for _, r := range backends(nHTTP+i, nil) {
			refs = append(refs, gwapiv1.GRPCBackendRef{BackendRef: r})
		}
		svc, method := fmt.Sprintf("pkg.Service%d", i%5), "Get"
		in.GRPCRoutes = append(in.GRPCRoutes, &gwapiv1.GRPCRoute{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("grpc-%d", i), Namespace: ns, Generation: 1},
			Spec: gwapiv1.GRPCRouteSpec{
				CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: parents},
				Hostnames:       []gwapiv1.Hostname{gwapiv1.Hostname(fmt.Sprintf("grpc-%d.example.com", i))},
				Rules: []gwapiv1.GRPCRouteRule{
					{Matches: []gwapiv1.GRPCRouteMatch{{Method: &gwapiv1.GRPCMethodMatch{Service: &svc, Method: &method}}}, BackendRefs: refs},
					{Matches: []gwapiv1.GRPCRouteMatch{{Method: &gwapiv1.GRPCMethodMatch{Service: &svc}}}, BackendRefs: refs},
				},
			},
		})
	}
	if nCatchAll > 0 {
		// Catch-all routes (no hostnames) on a listener of their own, so that they do not contest
		// the GRPCRoutes' hostnames.
		in.Gateway.Spec.Listeners = append(in.Gateway.Spec.Listeners, gwapiv1.Listener{Name: "other", Port: 8080, Protocol: gwapiv1.HTTPProtocolType})
		section := gwapiv1.SectionName("other")
		for i := range nCatchAll {
			var refs []gwapiv1.HTTPBackendRef
			for _, r := range backends(nHTTP+nGRPC+i, nil) {
				refs = append(refs, gwapiv1.HTTPBackendRef{BackendRef: r})
			}
			p := fmt.Sprintf("/catch-all/%d", i)
			in.HTTPRoutes = append(in.HTTPRoutes, &gwapiv1.HTTPRoute{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("catch-all-%d", i), Namespace: "infra", Generation: 1},
				Spec: gwapiv1.HTTPRouteSpec{
					CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "gw", SectionName: &section}}},
					Rules:           []gwapiv1.HTTPRouteRule{{Matches: []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: &prefix, Value: &p}}}, BackendRefs: refs}},
				},
			})
		}
	}
	slices.Reverse(in.HTTPRoutes) // resolve sorts its input
	return in
}

// BenchmarkResolveInferencePools is BenchmarkResolve's 1,000 routes plus one HTTPRoute to each of
// n InferencePools (each with its picker Service and 50 ready Pods, all in one namespace).
func BenchmarkResolveInferencePools(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("pools=%d", n), func(b *testing.B) {
			in := scaleInput(1000, 0, 0)
			gwNS := gwapiv1.Namespace("infra")
			group, kind := gwapiv1.Group(groupInference), gwapiv1.Kind(kindInferencePool)
			for i := range n {
				name := fmt.Sprintf("pool-%d", i)
				in.InferencePools = append(in.InferencePools, &infv1.InferencePool{
					ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench", Generation: 1},
					Spec: infv1.InferencePoolSpec{Selector: infv1.LabelSelector{MatchLabels: map[infv1.LabelKey]infv1.LabelValue{"pool": infv1.LabelValue(name)}},
						TargetPorts:       []infv1.Port{{Number: 8000}},
						EndpointPickerRef: &infv1.EndpointPickerRef{Name: infv1.ObjectName(name + "-epp"), Port: &infv1.Port{Number: 9002}}},
				})
				in.Services = append(in.Services, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name + "-epp", Namespace: "bench"},
					Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "grpc", Port: 9002}}}})
				for k := range 50 {
					in.Pods = append(in.Pods, &corev1.Pod{
						ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", name, k), Namespace: "bench", Labels: map[string]string{"pool": name, "app": "vllm"}},
						Status: corev1.PodStatus{PodIP: fmt.Sprintf("10.200.%d.%d", i, k+1),
							Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
					})
				}
				in.HTTPRoutes = append(in.HTTPRoutes, &gwapiv1.HTTPRoute{
					ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench", Generation: 1},
					Spec: gwapiv1.HTTPRouteSpec{CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "gw", Namespace: &gwNS}}},
						Hostnames: []gwapiv1.Hostname{gwapiv1.Hostname(name + ".llm.example.com")},
						Rules: []gwapiv1.HTTPRouteRule{{BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{
							BackendObjectReference: gwapiv1.BackendObjectReference{Group: &group, Kind: &kind, Name: gwapiv1.ObjectName(name)}}}}}}},
				})
			}
			if res := Resolve(in); len(res.InferencePools) != n || len(res.Fleet.Clusters) < 2*n {
				b.Fatalf("%d pool statuses and %d clusters, want %d and at least %d", len(res.InferencePools), len(res.Fleet.Clusters), n, 2*n)
			}
			b.ReportAllocs()
			for b.Loop() {
				Resolve(in)
			}
		})
	}
}

// BenchmarkResolveSharedHTTPSPort resolves a Gateway whose HTTPS port 443 is shared by n teams'
// ListenerSet listeners (a hostname and a certificate each, one HTTPRoute each) and the Gateway's
// catch-all listener: listener isolation and misdirected-request virtual hosts must stay linear in
// the listeners (compare n=100 with n=1000).
func BenchmarkResolveSharedHTTPSPort(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("listeners=%d", n), func(b *testing.B) {
			var y strings.Builder
			y.WriteString(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra, generation: 1}
spec:
  gatewayClassName: flotilla
  allowedListeners: {namespaces: {from: All}}
  listeners:
  - {name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: cert}]}}
---
apiVersion: v1
kind: Secret
metadata: {name: cert, namespace: infra}
type: kubernetes.io/tls
stringData: {tls.crt: "@testdata/tls.crt", tls.key: "@testdata/tls.key"}
`)
			for i := range n {
				fmt.Fprintf(&y, `---
apiVersion: v1
kind: Secret
metadata: {name: cert, namespace: team-%[1]d}
type: kubernetes.io/tls
stringData: {tls.crt: "@testdata/tls.crt", tls.key: "@testdata/tls.key"}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: ls, namespace: team-%[1]d, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  parentRef: {name: gw, namespace: infra}
  listeners:
  - {name: https, port: 443, protocol: HTTPS, hostname: team-%[1]d.example.com, tls: {certificateRefs: [{name: cert}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: team-%[1]d}
spec:
  parentRefs: [{kind: ListenerSet, name: ls}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: team-%[1]d}
spec: {ports: [{port: 80}]}
`, i)
			}
			in, err := parseInput([]byte(y.String()), ".")
			if err != nil {
				b.Fatal(err)
			}
			res := Resolve(in)
			if got := len(res.Fleet.Listeners); got != 1 || len(res.Fleet.Listeners[0].FilterChains) != n+1 {
				b.Fatalf("want one listener with %d chains, got %d listeners", n+1, got)
			}
			b.ReportAllocs()
			for b.Loop() {
				Resolve(in)
			}
		})
	}
}
