package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	overridehostv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/override_host/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	infv1 "sigs.k8s.io/gateway-api-inference-extension/api/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
)

// The GIE conformance layout, on the real API server: Gateways in an infra namespace, pools,
// model servers and pickers in an app namespace.
const (
	infInfra = "inf-infra"
	infApp   = "inf-app"
)

// modelServers is a Deployment of n model-server Pods labelled app=name in ns (KWOK makes them
// Ready and gives them IPs); it returns their labels.
func modelServers(t *testing.T, ns, name string, n int32) map[string]string {
	t.Helper()
	labels := map[string]string{"app": name}
	create(t, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(n),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "server", Image: "example.invalid/vllm:1"}}},
			},
		},
	})
	return labels
}

// picker is an Endpoint Picker Service on port 9002 with one ready endpoint at ip.
func picker(t *testing.T, name, ip string) {
	t.Helper()
	create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: infApp, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "grpc", Port: 9002, AppProtocol: ptr.To("http2")}}}})
	create(t, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: infApp, Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("grpc"), Port: ptr.To[int32](9002)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	})
}

func pool(name, app string, ports []int32, mutate func(*infv1.InferencePoolSpec)) *infv1.InferencePool {
	p := &infv1.InferencePool{ObjectMeta: metav1.ObjectMeta{Namespace: infApp, Name: name},
		Spec: infv1.InferencePoolSpec{Selector: infv1.LabelSelector{MatchLabels: map[infv1.LabelKey]infv1.LabelValue{"app": infv1.LabelValue(app)}}}}
	for _, n := range ports {
		p.Spec.TargetPorts = append(p.Spec.TargetPorts, infv1.Port{Number: infv1.PortNumber(n)})
	}
	if mutate != nil {
		mutate(&p.Spec)
	}
	return p
}

func withPicker(svc string, mode infv1.EndpointPickerFailureMode) func(*infv1.InferencePoolSpec) {
	return func(s *infv1.InferencePoolSpec) {
		s.EndpointPickerRef = &infv1.EndpointPickerRef{Name: infv1.ObjectName(svc), Port: &infv1.Port{Number: 9002}, FailureMode: mode}
	}
}

// poolRef is a backendRef to an InferencePool of the app namespace (port: nil or the given).
func poolRef(name string, weight int32, port *gwapiv1.PortNumber) gwapiv1.HTTPBackendRef {
	return gwapiv1.HTTPBackendRef{BackendRef: gwapiv1.BackendRef{Weight: ptr.To(weight), BackendObjectReference: gwapiv1.BackendObjectReference{
		Group: ptr.To[gwapiv1.Group]("inference.networking.k8s.io"), Kind: ptr.To[gwapiv1.Kind]("InferencePool"),
		Name: gwapiv1.ObjectName(name), Port: port}}}
}

// inferenceRoute is an HTTPRoute of the app namespace on Gateway gw (infra namespace), host and
// path, one rule per backendRef set.
func inferenceRoute(name, gw, host, path string, rules ...[]gwapiv1.HTTPBackendRef) *gwapiv1.HTTPRoute {
	rt := &gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: infApp, Name: name},
		Spec: gwapiv1.HTTPRouteSpec{CommonRouteSpec: gwapiv1.CommonRouteSpec{
			ParentRefs: []gwapiv1.ParentReference{{Name: gwapiv1.ObjectName(gw), Namespace: ptr.To[gwapiv1.Namespace](infInfra)}}}}}
	if host != "" {
		rt.Spec.Hostnames = []gwapiv1.Hostname{gwapiv1.Hostname(host)}
	}
	for i, refs := range rules {
		p := path
		if len(rules) > 1 {
			p = fmt.Sprintf("%s/%d", path, i)
		}
		rt.Spec.Rules = append(rt.Spec.Rules, gwapiv1.HTTPRouteRule{
			Matches:     []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: ptr.To(gwapiv1.PathMatchPathPrefix), Value: ptr.To(p)}}},
			BackendRefs: refs,
		})
	}
	return rt
}

// poolParent waits for the pool's parent entry for Gateway gw (infra namespace) to carry the
// condition (reason "" matches any), as the GIE conformance helper matches it: on the parentRef's
// namespace and name, which must be set. It also checks our controllerName and observedGeneration.
func poolParent(t *testing.T, name, gw, typ string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		p := &infv1.InferencePool{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: infApp, Name: name}, p); err != nil {
			return err
		}
		for _, ps := range p.Status.Parents {
			if ps.ParentRef.Namespace != infInfra || string(ps.ParentRef.Name) != gw {
				continue
			}
			if ps.ControllerName != infv1.ControllerName(controller.ControllerName) || ps.ParentRef.Kind != "Gateway" {
				return fmt.Errorf("parent entry %+v is not ours or not a Gateway", ps)
			}
			c := meta.FindStatusCondition(ps.Conditions, typ)
			if c == nil || c.Status != status || (reason != "" && c.Reason != reason) || c.ObservedGeneration != p.Generation {
				return fmt.Errorf("pool %s parent %s: %s = %+v", name, gw, typ, c)
			}
			return nil
		}
		return fmt.Errorf("pool %s: no parent entry for %s/%s in %+v", name, infInfra, gw, p.Status.Parents)
	})
}

// poolParents waits until the pool's parent entries name exactly the given Gateways (any order).
func poolParents(t *testing.T, name string, gws ...string) {
	t.Helper()
	slices.Sort(gws)
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		p := &infv1.InferencePool{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: infApp, Name: name}, p); err != nil {
			return err
		}
		var got []string
		for _, ps := range p.Status.Parents {
			got = append(got, string(ps.ParentRef.Name))
		}
		slices.Sort(got)
		if !slices.Equal(got, gws) {
			return fmt.Errorf("pool %s parents %v, want %v", name, got, gws)
		}
		return nil
	})
}

func acceptedAndResolved(t *testing.T, rt *gwapiv1.HTTPRoute, gw string) {
	t.Helper()
	routeParent(t, rt, gw, "Accepted", "True", "Accepted")
	routeParent(t, rt, gw, "ResolvedRefs", "True", "ResolvedRefs")
}

// The status half of the 14 GIE conformance scenarios (which need a data plane for their traffic
// half), on the real API server, plus the xDS Envoy receives for them through a real ADS client.
func TestInferencePools(t *testing.T) {
	tenantClass(t, "inf", nil)
	namespace(t, infInfra, nil)
	namespace(t, infApp, nil)
	fromAll := func(host string) func(*gwapiv1.Gateway) {
		return func(gw *gwapiv1.Gateway) {
			gw.Spec.Listeners = []gwapiv1.Listener{{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType,
				AllowedRoutes: &gwapiv1.AllowedRoutes{Namespaces: &gwapiv1.RouteNamespaces{From: ptr.To(gwapiv1.NamespacesFromAll)}}}}
			if host != "" {
				gw.Spec.Listeners[0].Hostname = ptr.To(gwapiv1.Hostname(host))
			}
		}
	}
	primary := gateway(infInfra, "inf-primary", "inf", fromAll(""))
	secondary := gateway(infInfra, "inf-secondary", "inf", fromAll("secondary.example.com"))
	create(t, primary)
	create(t, secondary)

	primaryPods := modelServers(t, infApp, "primary-model-server", 3)
	secondaryPods := modelServers(t, infApp, "secondary-model-server", 3)
	picker(t, "primary-epp", "10.9.0.1")
	picker(t, "secondary-epp", "10.9.0.2")
	create(t, pool("primary-pool", "primary-model-server", []int32{3000}, withPicker("primary-epp", "")))
	create(t, pool("secondary-pool", "secondary-model-server", []int32{3000}, withPicker("secondary-epp", infv1.EndpointPickerFailOpen)))
	primaryEPs := waitReadyEndpoints(t, infApp, primaryPods, 3000, 3)
	secondaryEPs := waitReadyEndpoints(t, infApp, secondaryPods, 3000, 3)

	t.Run("InferencePoolAccepted", func(t *testing.T) {
		rt := inferenceRoute("accepted", "inf-primary", "", "/accepted-pool-test", []gwapiv1.HTTPBackendRef{poolRef("primary-pool", 1, nil)})
		create(t, rt)
		acceptedAndResolved(t, rt, "inf-primary")
		poolParent(t, "primary-pool", "inf-primary", "Accepted", metav1.ConditionTrue, "Accepted")
		poolParent(t, "primary-pool", "inf-primary", "ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs")
	})

	t.Run("HTTPRouteInvalidInferencePoolRef", func(t *testing.T) {
		rt := inferenceRoute("to-missing-pool", "inf-primary", "", "/test-non-existent-pool", []gwapiv1.HTTPBackendRef{poolRef("non-existent-pool", 1, nil)})
		create(t, rt)
		routeParent(t, rt, "inf-primary", "Accepted", "True", "Accepted")
		routeParent(t, rt, "inf-primary", "ResolvedRefs", "False", "BackendNotFound")
	})

	t.Run("InferencePoolInvalidEPPService", func(t *testing.T) {
		invalid := pool("pool-with-invalid-epp", "primary-model-server", []int32{3000}, withPicker("non-existent-epp-svc", ""))
		create(t, invalid)
		rt := inferenceRoute("invalid-epp", "inf-primary", "", "/invalid-epp-test", []gwapiv1.HTTPBackendRef{poolRef("pool-with-invalid-epp", 1, nil)})
		create(t, rt)
		routeParent(t, rt, "inf-primary", "Accepted", "True", "Accepted")
		routeParent(t, rt, "inf-primary", "ResolvedRefs", "False", "BackendNotFound")
		poolParent(t, "pool-with-invalid-epp", "inf-primary", "ResolvedRefs", metav1.ConditionFalse, "InvalidExtensionRef")
		poolParent(t, "pool-with-invalid-epp", "inf-primary", "Accepted", metav1.ConditionTrue, "Accepted")
		waitForNamespacedEvent(t, invalid, corev1.EventTypeWarning, "InvalidExtensionRef", "non-existent-epp-svc does not exist")
		waitForNamespacedEvent(t, rt, corev1.EventTypeWarning, "BackendNotFound", "non-existent-epp-svc does not exist")
	})

	t.Run("InferencePoolMissingEPPRef", func(t *testing.T) {
		create(t, pool("pool-with-missing-epp-ref", "primary-model-server", []int32{3000}, nil))
		rt := inferenceRoute("missing-epp-ref", "inf-primary", "", "/missing-epp-ref-test", []gwapiv1.HTTPBackendRef{poolRef("pool-with-missing-epp-ref", 1, nil)})
		create(t, rt)
		acceptedAndResolved(t, rt, "inf-primary")
		// Flotilla supports pools without a picker (round robin): Accepted, not EndpointPickerRefMissing.
		poolParent(t, "pool-with-missing-epp-ref", "inf-primary", "Accepted", metav1.ConditionTrue, "Accepted")
	})

	t.Run("InferencePoolHTTPRoutePortValidation", func(t *testing.T) {
		for _, c := range []struct {
			name string
			port *gwapiv1.PortNumber
		}{{"port-unspecified", nil}, {"port-matching", ptr.To[gwapiv1.PortNumber](3000)}, {"port-non-matching", ptr.To[gwapiv1.PortNumber](8888)}} {
			rt := inferenceRoute(c.name, "inf-primary", c.name+".example.com", "/test-"+c.name, []gwapiv1.HTTPBackendRef{poolRef("primary-pool", 1, c.port)})
			create(t, rt)
			acceptedAndResolved(t, rt, "inf-primary")
		}
		poolParent(t, "primary-pool", "inf-primary", "Accepted", metav1.ConditionTrue, "Accepted")
	})

	t.Run("HTTPRouteMultipleRulesDifferentPools", func(t *testing.T) {
		rt := inferenceRoute("multiple-rules", "inf-primary", "rules.example.com", "/pools",
			[]gwapiv1.HTTPBackendRef{poolRef("primary-pool", 1, nil)}, []gwapiv1.HTTPBackendRef{poolRef("secondary-pool", 1, nil)})
		create(t, rt)
		acceptedAndResolved(t, rt, "inf-primary")
		poolParent(t, "primary-pool", "inf-primary", "Accepted", metav1.ConditionTrue, "Accepted")
		poolParent(t, "secondary-pool", "inf-primary", "Accepted", metav1.ConditionTrue, "Accepted")
	})

	// (Each subtest's objects are deleted when it ends, the routes included.)
	t.Run("HTTPRouteMultipleGatewaysDifferentPools", func(t *testing.T) {
		first := inferenceRoute("for-primary-gateway", "inf-primary", "primary.example.com", "/test-primary-gateway",
			[]gwapiv1.HTTPBackendRef{poolRef("primary-pool", 1, nil)})
		second := inferenceRoute("for-secondary-gateway", "inf-secondary", "secondary.example.com", "/test-secondary-gateway",
			[]gwapiv1.HTTPBackendRef{poolRef("secondary-pool", 1, nil)})
		create(t, first)
		create(t, second)
		acceptedAndResolved(t, first, "inf-primary")
		acceptedAndResolved(t, second, "inf-secondary")
		poolParent(t, "primary-pool", "inf-primary", "Accepted", metav1.ConditionTrue, "Accepted")
		poolParent(t, "secondary-pool", "inf-secondary", "Accepted", metav1.ConditionTrue, "Accepted")
		poolParents(t, "primary-pool", "inf-primary")
		poolParents(t, "secondary-pool", "inf-secondary")
	})

	t.Run("InferencePoolResolvedRefsCondition", func(t *testing.T) {
		// One pool behind two Gateways: two entries; each goes with the last route that uses the
		// pool through its Gateway.
		create(t, pool("shared-pool", "primary-model-server", []int32{3000}, withPicker("primary-epp", "")))
		first := inferenceRoute("shared-primary", "inf-primary", "shared.example.com", "/primary-gateway-test", []gwapiv1.HTTPBackendRef{poolRef("shared-pool", 1, nil)})
		second := inferenceRoute("shared-secondary", "inf-secondary", "secondary.example.com", "/secondary-gateway-test", []gwapiv1.HTTPBackendRef{poolRef("shared-pool", 1, nil)})
		create(t, first)
		create(t, second)
		acceptedAndResolved(t, first, "inf-primary")
		acceptedAndResolved(t, second, "inf-secondary")
		poolParent(t, "shared-pool", "inf-primary", "Accepted", metav1.ConditionTrue, "Accepted")
		poolParent(t, "shared-pool", "inf-secondary", "Accepted", metav1.ConditionTrue, "Accepted")
		poolParents(t, "shared-pool", "inf-primary", "inf-secondary")

		// Another controller's entry is never touched.
		foreign := infv1.ParentStatus{ParentRef: infv1.ParentReference{Kind: "Gateway", Namespace: infInfra, Name: "someone-elses"},
			ControllerName: "example.com/other-controller",
			Conditions:     []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", LastTransitionTime: metav1.Now()}}}
		eventually(t, 10*time.Second, func(ctx context.Context) error {
			p := &infv1.InferencePool{}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: infApp, Name: "shared-pool"}, p); err != nil {
				return err
			}
			p.Status.Parents = append(p.Status.Parents, foreign)
			return k8s.Status().Update(ctx, p)
		})

		if err := k8s.Delete(context.Background(), first); err != nil {
			t.Fatal(err)
		}
		poolParents(t, "shared-pool", "inf-secondary", "someone-elses")
		poolParent(t, "shared-pool", "inf-secondary", "Accepted", metav1.ConditionTrue, "Accepted")
		if err := k8s.Delete(context.Background(), second); err != nil {
			t.Fatal(err)
		}
		poolParents(t, "shared-pool", "someone-elses")
	})

	t.Run("HTTPRouteNotAccepted", func(t *testing.T) {
		create(t, pool("lonely-pool", "primary-model-server", []int32{3000}, nil))
		rt := inferenceRoute("not-accepted", "inf-primary", "", "/lonely", []gwapiv1.HTTPBackendRef{poolRef("lonely-pool", 1, nil)})
		rt.Spec.ParentRefs[0].SectionName = ptr.To[gwapiv1.SectionName]("no-such-listener")
		create(t, rt)
		routeParent(t, rt, "inf-primary", "Accepted", "False", "NoMatchingParent")
		poolParent(t, "lonely-pool", "inf-primary", "Accepted", metav1.ConditionFalse, "HTTPRouteNotAccepted")
	})

	t.Run("a deleted Gateway's entries go", func(t *testing.T) {
		third := gateway(infInfra, "inf-third", "inf", fromAll("third.example.com"))
		create(t, third)
		rt := inferenceRoute("for-third-gateway", "inf-third", "third.example.com", "/third", []gwapiv1.HTTPBackendRef{poolRef("primary-pool", 1, nil)})
		create(t, rt)
		acceptedAndResolved(t, rt, "inf-third")
		poolParents(t, "primary-pool", "inf-third")
		if err := k8s.Delete(context.Background(), third); err != nil {
			t.Fatal(err)
		}
		poolParents(t, "primary-pool")
		eventually(t, 30*time.Second, func(ctx context.Context) error {
			cur := &gwapiv1.HTTPRoute{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(rt), cur); err != nil {
				return err
			}
			if len(cur.Status.Parents) != 0 {
				return fmt.Errorf("the route still has parent entries %+v", cur.Status.Parents)
			}
			return nil
		})
	})

	// GatewayWeightedAcrossTwoInferencePools, InferencePoolAppProtocol, GatewayFollowingEPPRouting
	// (WithDataParallelism), GatewayDestinationEndpointServed and EppUnAvailableFailOpen need a
	// data plane for their traffic half: here, what the fleet's Envoy receives for them.
	t.Run("xDS", func(t *testing.T) {
		create(t, pool("dp-pool", "secondary-model-server", []int32{3000, 3002, 3004}, withPicker("secondary-epp", "")))
		create(t, pool("h2c-pool", "secondary-model-server", []int32{3001}, func(s *infv1.InferencePoolSpec) {
			withPicker("primary-epp", "")(s)
			s.AppProtocol = infv1.AppProtocolH2C
		}))
		weighted := inferenceRoute("weighted-two-pools", "inf-primary", "weighted.example.com", "/weighted-two-pools-test",
			[]gwapiv1.HTTPBackendRef{poolRef("primary-pool", 70, nil), poolRef("secondary-pool", 30, nil)})
		dp := inferenceRoute("dp", "inf-primary", "dp.example.com", "/primary-gateway-dp-test", []gwapiv1.HTTPBackendRef{poolRef("dp-pool", 1, nil)})
		h2c := inferenceRoute("h2c", "inf-primary", "h2c.example.com", "/inferencepool-app-protocol-h2c", []gwapiv1.HTTPBackendRef{poolRef("h2c-pool", 1, nil)})
		for _, rt := range []*gwapiv1.HTTPRoute{weighted, dp, h2c} {
			create(t, rt)
			acceptedAndResolved(t, rt, "inf-primary")
		}
		poolParent(t, "dp-pool", "inf-primary", "Accepted", metav1.ConditionTrue, "Accepted")
		poolParent(t, "h2c-pool", "inf-primary", "Accepted", metav1.ConditionTrue, "Accepted")

		fleet := dialFleet(t, fleetTLS(t, primary), infInfra+"/inf-primary")
		primaryCluster, secondaryCluster := infApp+"/primary-pool/inferencepool/http", infApp+"/secondary-pool/inferencepool/http"
		dpCluster, h2cCluster := infApp+"/dp-pool/inferencepool/http", infApp+"/h2c-pool/inferencepool/h2c"
		var dpWant []string
		for _, ep := range secondaryEPs {
			host := ep[:len(ep)-len(":3000")]
			dpWant = append(dpWant, host+":3000", host+":3002", host+":3004")
		}
		slices.Sort(dpWant)
		waitXDS(t, fleet, "the inference pools' configuration", func() error {
			if got := poolEndpoints(fleet, primaryCluster); !slices.Equal(got, primaryEPs) {
				return fmt.Errorf("%s endpoints %v, want the ready Pods × targetPorts %v", primaryCluster, got, primaryEPs)
			}
			if got := poolEndpoints(fleet, dpCluster); !slices.Equal(got, dpWant) {
				return fmt.Errorf("%s endpoints %v, want %v", dpCluster, got, dpWant)
			}
			for _, name := range []string{primaryCluster, secondaryCluster, dpCluster, h2cCluster} {
				if err := overrideHost(fleet, name); err != nil {
					return err
				}
			}
			c, _ := fleet.Resources(resource.ClusterType)[h2cCluster].(*clusterv3.Cluster)
			if c == nil || c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] == nil {
				return fmt.Errorf("h2c pool cluster %s has no HTTP/2 options: %v", h2cCluster, c)
			}
			if c, _ := fleet.Resources(resource.ClusterType)[primaryCluster].(*clusterv3.Cluster); len(c.GetTypedExtensionProtocolOptions()) != 0 {
				return fmt.Errorf("http pool cluster %s speaks HTTP/2", primaryCluster)
			}
			// The weighted route asks each pool's own picker, with its failure mode.
			rt := findRoute(fleet, "weighted.example.com")
			if rt == nil {
				return fmt.Errorf("no route for weighted.example.com")
			}
			wcs := rt.GetRoute().GetWeightedClusters().GetClusters()
			if len(wcs) != 2 || wcs[0].GetWeight().GetValue() != 70 || wcs[1].GetWeight().GetValue() != 30 {
				return fmt.Errorf("weighted clusters %v", wcs)
			}
			for i, want := range []struct {
				cluster, picker string
				failOpen        bool
			}{{primaryCluster, infApp + "/primary-epp/9002/epp", false}, {secondaryCluster, infApp + "/secondary-epp/9002/epp", true}} {
				if wcs[i].GetName() != want.cluster {
					return fmt.Errorf("weighted cluster %d is %s, want %s", i, wcs[i].GetName(), want.cluster)
				}
				per := &extprocv3.ExtProcPerRoute{}
				cfg := wcs[i].GetTypedPerFilterConfig()["envoy.filters.http.ext_proc"]
				if cfg == nil || cfg.UnmarshalTo(per) != nil {
					return fmt.Errorf("weighted cluster %s has no ext_proc override", want.cluster)
				}
				o := per.GetOverrides()
				if o.GetGrpcService().GetEnvoyGrpc().GetClusterName() != want.picker || o.GetFailureModeAllow().GetValue() != want.failOpen {
					return fmt.Errorf("weighted cluster %s: picker %s failure_mode_allow %v", want.cluster, o.GetGrpcService().GetEnvoyGrpc().GetClusterName(), o.GetFailureModeAllow())
				}
			}
			if len(poolEndpoints(fleet, infApp+"/secondary-epp/9002/epp")) != 1 {
				return fmt.Errorf("the secondary picker's cluster has no endpoint")
			}
			return nil
		})

		// TLS to the picker: encrypted without verification by default; verified (CA bundle from
		// the policy, its hostname as SNI) once a BackendTLSPolicy targets the picker's Service.
		pickerCluster := infApp + "/primary-epp/9002/epp"
		if tc := upstreamTLS(t, fleet, pickerCluster); tc == nil || tc.GetCommonTlsContext().GetValidationContextType() != nil {
			t.Fatalf("picker cluster TLS %v: want TLS without a validation context", tc)
		}
		ca, _, err := pki.NewCA(time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: infApp, Name: "epp-ca"}, Data: map[string]string{"ca.crt": string(ca.CertPEM)}})
		create(t, backendTLSPolicy(infApp, "primary-epp", "primary-epp", configMapRef("epp-ca")))
		waitXDS(t, fleet, "the verified picker", func() error {
			tc := upstreamTLS(t, fleet, pickerCluster)
			if got := tc.GetCommonTlsContext().GetCombinedValidationContext().GetValidationContextSdsSecretConfig().GetName(); got != "BackendTLSPolicy/"+infApp+"/primary-epp" {
				return fmt.Errorf("picker validation context %q", got)
			}
			if tc.GetSni() != "primary-epp.example.com" {
				return fmt.Errorf("picker SNI %q", tc.GetSni())
			}
			return nil
		})

		// EppUnAvailableFailOpen: the picker loses its endpoints; its cluster empties and the
		// pool's endpoints stay (FailOpen lets requests through, round robin).
		eventually(t, 10*time.Second, func(ctx context.Context) error {
			es := &discoveryv1.EndpointSlice{}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: infApp, Name: "secondary-epp-1"}, es); err != nil {
				return err
			}
			es.Endpoints = nil
			return k8s.Update(ctx, es)
		})
		waitXDS(t, fleet, "the picker without endpoints", func() error {
			if n := len(poolEndpoints(fleet, infApp+"/secondary-epp/9002/epp")); n != 0 {
				return fmt.Errorf("picker cluster has %d endpoints", n)
			}
			if got := poolEndpoints(fleet, secondaryCluster); len(got) != 3 {
				return fmt.Errorf("pool endpoints %v", got)
			}
			return nil
		})

		// A model server relabelled out of the pool leaves the pool's cluster (it keeps its IP, so
		// the IP cannot come back with a replacement Pod).
		pods := &corev1.PodList{}
		if err := k8s.List(context.Background(), pods, client.InNamespace(infApp), client.MatchingLabels(primaryPods)); err != nil {
			t.Fatal(err)
		}
		gone := pods.Items[0]
		eventually(t, 10*time.Second, func(ctx context.Context) error {
			p := &corev1.Pod{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(&gone), p); err != nil {
				return err
			}
			p.Labels = map[string]string{"app": "retired"}
			return k8s.Update(ctx, p)
		})
		waitXDS(t, fleet, "the pool without the relabelled Pod", func() error {
			got := poolEndpoints(fleet, primaryCluster)
			if slices.Contains(got, gone.Status.PodIP+":3000") {
				return fmt.Errorf("relabelled Pod %s:3000 still an endpoint of %v", gone.Status.PodIP, got)
			}
			if len(got) != 3 { // the ReplicaSet's replacement joins
				return fmt.Errorf("endpoints %v, want 3", got)
			}
			return nil
		})
	})
}

// poolEndpoints are the ip:port of a cluster's load assignment, sorted.
func poolEndpoints(c *xdstest.Client, cluster string) []string {
	cla, _ := c.Resources(resource.EndpointType)[cluster].(*endpointv3.ClusterLoadAssignment)
	return lbEndpoints(cla)
}

// overrideHost checks that a pool cluster honours the picker's choice from dynamic metadata,
// falling back to round robin.
func overrideHost(c *xdstest.Client, name string) error {
	cl, _ := c.Resources(resource.ClusterType)[name].(*clusterv3.Cluster)
	if cl == nil {
		return fmt.Errorf("no cluster %s", name)
	}
	policies := cl.GetLoadBalancingPolicy().GetPolicies()
	if len(policies) == 0 {
		return fmt.Errorf("cluster %s has no load balancing policy", name)
	}
	oh := &overridehostv3.OverrideHost{}
	if err := policies[0].GetTypedExtensionConfig().GetTypedConfig().UnmarshalTo(oh); err != nil {
		return fmt.Errorf("cluster %s: %v", name, err)
	}
	src := oh.GetOverrideHostSources()
	if len(src) != 1 || src[0].GetHeader() != "" || src[0].GetMetadata().GetKey() != "envoy.lb" ||
		src[0].GetMetadata().GetPath()[0].GetKey() != "x-gateway-destination-endpoint" {
		return fmt.Errorf("cluster %s override host sources %v", name, src)
	}
	// GatewayDestinationEndpointServed: the endpoint used goes back to the picker.
	if k := oh.GetSelectedHostKey(); k.GetKey() != "envoy.lb" || len(k.GetPath()) != 1 || k.GetPath()[0].GetKey() != "x-gateway-destination-endpoint-served" {
		return fmt.Errorf("cluster %s selected host key %v", name, k)
	}
	if fb := oh.GetFallbackPolicy().GetPolicies(); len(fb) != 1 || fb[0].GetTypedExtensionConfig().GetName() != "envoy.load_balancing_policies.round_robin" {
		return fmt.Errorf("cluster %s fallback %v", name, oh.GetFallbackPolicy())
	}
	return nil
}

// findRoute is the first route of the virtual host serving host.
func findRoute(c *xdstest.Client, host string) *routev3.Route {
	for _, m := range c.Resources(resource.RouteType) {
		for _, vh := range m.(*routev3.RouteConfiguration).GetVirtualHosts() {
			if slices.Contains(vh.GetDomains(), host) && len(vh.GetRoutes()) > 0 {
				return vh.GetRoutes()[0]
			}
		}
	}
	return nil
}
