package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	infv1 "sigs.k8s.io/gateway-api-inference-extension/api/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
)

// The guide's names: the chart's release (and so its InferencePool), its EPP, the Gateway.
const (
	guideNS      = "default"
	guidePool    = "vllm-llama3-8b-instruct"
	guideEPP     = guidePool + "-epp"
	guideGateway = "inference-gateway"
)

// readTestdata decodes a multi-document YAML file of testdata/.
func readTestdata(t *testing.T, name string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return decodeManifests(t, b)
}

// The Gateway API Inference Extension's getting-started walkthrough (as Higress v2.2's guide runs
// it), unchanged but for the GatewayClass, on Flotilla: the extension's own inferencepool chart
// (testdata/gie-inferencepool.yaml, rendered by the Helm SDK from the v1.5.0 module; test/helm's
// TestGIEChartRender fails when it drifts from the chart) with the guide's values, the upstream
// sim-deployment model servers with the guide's labels, the guide's Gateway and HTTPRoute
// (testdata/gie-guide.yaml). Every object the chart renders is applied as rendered: the EPP's
// ServiceAccount, Roles and RoleBindings, ConfigMap, Service and Deployment (KWOK schedules its Pod
// and makes it Ready with an IP; no EPP process runs) and the InferencePool.
//
// What it proves: the pool's parent entry for the Gateway is Accepted and ResolvedRefs; a fleet
// Envoy, over ADS with the fleet's certificate, gets the route to the pool asking the chart's EPP
// Service (its cluster, whose endpoint is the EPP Deployment's Pod, is the route's ext_proc
// service, failing open as the chart sets it) and the pool's cluster with the model servers' Pods
// × targetPort 8000 as its endpoints.
func TestGIEGuideWalkthrough(t *testing.T) {
	ctx := context.Background()
	tenantClass(t, "gie-guide", nil)

	// 1. helm install vllm-llama3-8b-instruct inferencepool --set ...modelServers.matchLabels.app=...
	//    --set provider.name=none (what `helm install` would create, in its install order).
	chart := readTestdata(t, "gie-inferencepool.yaml")
	var kinds []string
	for _, u := range chart {
		kinds = append(kinds, u.GetKind())
		create(t, u)
	}
	for _, want := range []string{"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Service", "Deployment", "InferencePool"} {
		if !slices.Contains(kinds, want) {
			t.Fatalf("the rendered chart has no %s (it has %v)", want, kinds)
		}
	}
	// 2. The model servers, 3. the Gateway and the HTTPRoute.
	var route *unstructured.Unstructured
	for _, u := range readTestdata(t, "gie-guide.yaml") {
		u.SetNamespace(guideNS)
		create(t, u)
		if u.GetKind() == "HTTPRoute" {
			route = u
		}
	}

	// The chart's EPP Deployment has its (KWOK) Pod, and so the EPP Service an endpoint.
	eppPods := waitReadyEndpoints(t, guideNS, map[string]string{"inferencepool": guideEPP}, 9002, 1)
	modelServers := waitReadyEndpoints(t, guideNS, map[string]string{"app": guidePool}, 8000, 3)

	// kubectl get httproute llm-route; kubectl get inferencepool vllm-llama3-8b-instruct -o yaml
	rt := &gwapiv1.HTTPRoute{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(route), rt); err != nil {
		t.Fatal(err)
	}
	routeParent(t, rt, guideGateway, "Accepted", "True", "Accepted")
	routeParent(t, rt, guideGateway, "ResolvedRefs", "True", "ResolvedRefs")
	guidePoolParent(t, string(infv1.InferencePoolConditionAccepted), string(infv1.InferencePoolReasonAccepted))
	guidePoolParent(t, string(infv1.InferencePoolConditionResolvedRefs), string(infv1.InferencePoolReasonResolvedRefs))

	// What the fleet's Envoys get.
	gw := &gwapiv1.Gateway{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: guideNS, Name: guideGateway}, gw); err != nil {
		t.Fatal(err)
	}
	fleet := dialFleet(t, fleetTLS(t, gw), guideNS+"/"+guideGateway)
	poolCluster := guideNS + "/" + guidePool + "/inferencepool/http"
	eppCluster := guideNS + "/" + guideEPP + "/9002/epp"
	waitXDS(t, fleet, "the guide's InferencePool", func() error {
		if got := poolEndpoints(fleet, poolCluster); !slices.Equal(got, modelServers) {
			return fmt.Errorf("pool cluster %s endpoints %v, want the model servers' Pods × 8000 %v", poolCluster, got, modelServers)
		}
		if err := overrideHost(fleet, poolCluster); err != nil {
			return err
		}
		if got := poolEndpoints(fleet, eppCluster); !slices.Equal(got, eppPods) {
			return fmt.Errorf("EPP cluster %s endpoints %v, want the chart's EPP Pod %v", eppCluster, got, eppPods)
		}
		// The picker's cluster: TLS (the EPP serves its self-signed certificate by default), HTTP/2
		// although the chart's Service port has no appProtocol, and gRPC health on the ext_proc
		// port. The chart starts the EPP without --health-checking, so that check is not answered
		// (the EPP's own health service is on 9003, for the kubelet's probes); see the README.
		c, _ := fleet.Resources(resource.ClusterType)[eppCluster].(*clusterv3.Cluster)
		if c == nil || c.GetTransportSocket() == nil {
			return fmt.Errorf("EPP cluster %s missing or without TLS: %v", eppCluster, c)
		}
		if c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] == nil {
			return fmt.Errorf("EPP cluster %s does not speak HTTP/2", eppCluster)
		}
		if hc := c.GetHealthChecks(); len(hc) != 1 || hc[0].GetGrpcHealthCheck().GetServiceName() != "envoy.service.ext_proc.v3.ExternalProcessor" {
			return fmt.Errorf("EPP cluster %s health checks %v", eppCluster, hc)
		}
		r := routeTo(fleet, poolCluster)
		if r == nil {
			return fmt.Errorf("no route to %s", poolCluster)
		}
		per := &extprocv3.ExtProcPerRoute{}
		cfg := r.GetTypedPerFilterConfig()["envoy.filters.http.ext_proc"]
		if cfg == nil || cfg.UnmarshalTo(per) != nil {
			return fmt.Errorf("the route to %s asks no Endpoint Picker", poolCluster)
		}
		o := per.GetOverrides()
		if got := o.GetGrpcService().GetEnvoyGrpc().GetClusterName(); got != eppCluster {
			return fmt.Errorf("the route's picker is %s, want the chart's EPP Service %s", got, eppCluster)
		}
		if !o.GetFailureModeAllow().GetValue() { // the chart's failureMode: FailOpen
			return fmt.Errorf("the route's picker fails closed; the chart's pool says FailOpen")
		}
		if r.GetRoute().GetTimeout().AsDuration() != 300*time.Second {
			return fmt.Errorf("route timeout %v, want the HTTPRoute's 300s", r.GetRoute().GetTimeout())
		}
		return nil
	})
	t.Logf("pool cluster %s: %v; picker %s: %v", poolCluster, modelServers, eppCluster, eppPods)

	// No EPP runs in the chart's KWOK Pod. The conformance EPP (lwepp v1.6.0, a process beside the
	// test cluster, not behind the chart's Service) stands in for it against the chart's pool: what
	// it picks is an endpoint of the pool's cluster, so the override_host load balancer finds it.
	t.Run("an EPP for the chart's pool picks an endpoint of the pool's cluster", func(t *testing.T) {
		epp, err := env.StartEndpointPicker(guideNS, guidePool)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := epp.Stop(); err != nil {
				t.Error(err)
			}
		})
		conn, err := xdstest.DialEndpointPicker(epp.Addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		var picked string
		eventually(t, 60*time.Second, func(context.Context) (err error) {
			eppAlive(t, epp)
			picked, err = eppPick(conn, nil)
			return err
		})
		if got := poolEndpoints(fleet, poolCluster); !slices.Contains(got, picked) {
			t.Fatalf("the EPP picked %s, not an endpoint of %s %v", picked, poolCluster, got)
		}
	})
}

// guidePoolParent waits for the guide pool's parent entry for the guide's Gateway (ours, a Gateway
// of the pool's namespace) to have condition typ True with reason.
func guidePoolParent(t *testing.T, typ, reason string) {
	t.Helper()
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		p := &infv1.InferencePool{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: guideNS, Name: guidePool}, p); err != nil {
			return err
		}
		for _, ps := range p.Status.Parents {
			if string(ps.ParentRef.Name) != guideGateway || ps.ParentRef.Kind != "Gateway" ||
				ps.ControllerName != infv1.ControllerName(controller.ControllerName) {
				continue
			}
			for _, c := range ps.Conditions {
				if c.Type == typ {
					if c.Status != metav1.ConditionTrue || c.Reason != reason || c.ObservedGeneration != p.Generation {
						return fmt.Errorf("pool %s parent %s: %s = %+v", guidePool, guideGateway, typ, c)
					}
					return nil
				}
			}
		}
		return fmt.Errorf("pool %s: no %s for %s in %+v", guidePool, typ, guideGateway, p.Status.Parents)
	})
}

// routeTo is the first route, of any virtual host, whose action names cluster.
func routeTo(c *xdstest.Client, cluster string) *routev3.Route {
	for _, m := range c.Resources(resource.RouteType) {
		for _, vh := range m.(*routev3.RouteConfiguration).GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				if r.GetRoute().GetCluster() == cluster {
					return r
				}
			}
		}
	}
	return nil
}
