package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	infv1 "sigs.k8s.io/gateway-api-inference-extension/api/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
	"github.com/flotilla-dev/flotilla/test/cluster"
)

// lweppSelectionHeader makes lwepp pick only among the listed Pod IPs (a conformance-test aid).
const lweppSelectionHeader = "test-epp-endpoint-selection"

// readyEndpoints are podIP:port of the Pods matching labels that are Ready, have an IP and are
// not being deleted: what an InferencePool with targetPort port stands for.
func readyEndpoints(ctx context.Context, ns string, labels map[string]string, port int) ([]string, error) {
	pods := &corev1.PodList{}
	if err := k8s.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.PodIP == "" {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				out = append(out, net.JoinHostPort(p.Status.PodIP, fmt.Sprint(port)))
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// waitReadyEndpoints waits until exactly n Pods of the pool are ready and returns their endpoints.
func waitReadyEndpoints(t *testing.T, ns string, labels map[string]string, port, n int) []string {
	t.Helper()
	var eps []string
	eventually(t, 60*time.Second, func(ctx context.Context) (err error) {
		if eps, err = readyEndpoints(ctx, ns, labels, port); err != nil {
			return err
		}
		if len(eps) != n {
			return fmt.Errorf("ready endpoints %v, want %d", eps, n)
		}
		return nil
	})
	return eps
}

// eppPick sends one completion request through the picker; a pick is valid when the picker let it
// through and the header and the metadata name the same endpoint.
func eppPick(conn grpc.ClientConnInterface, headers map[string]string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := xdstest.PickEndpoint(ctx, conn, xdstest.PickRequest{
		Authority: "inference.example.com", Headers: headers,
		Model: "food-review", Prompt: "Write as if you were a critic: San Francisco",
	})
	switch {
	case err != nil:
		return "", err
	case p.ImmediateStatus != 0:
		return "", fmt.Errorf("the picker answered %d itself", p.ImmediateStatus)
	case p.Header == "" || p.Header != p.Metadata:
		return "", fmt.Errorf("header %s=%q and metadata %s/%s=%q must name the same endpoint",
			xdstest.DestinationEndpointHeader, p.Header, xdstest.LBMetadataNamespace, xdstest.DestinationEndpointHeader, p.Metadata)
	}
	return p.Header, nil
}

// eppAlive fails the test at once, with the end of its log, when lwepp has exited.
func eppAlive(t *testing.T, epp *cluster.EndpointPicker) {
	t.Helper()
	select {
	case <-epp.Exited():
		b, _ := os.ReadFile(epp.Log)
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		t.Fatalf("lwepp exited; end of %s:\n%s", epp.Log, b)
	default:
	}
}

// The real Endpoint Picker of the Inference Extension's conformance suite (lwepp v1.6.0, built by
// hack/cluster-bins.sh), run against the test cluster, picks for each request one podIP:targetPort
// of the InferencePool's ready Pods and says so twice, as the protocol wants: in the request header
// x-gateway-destination-endpoint and in the dynamic metadata envoy.lb that a fleet's Envoy routes
// by. The requests are what a fleet's Envoy sends it (xdstest.PickEndpoint).
//
// What lwepp needs: the InferencePool (it reads only selector and targetPorts, not
// endpointPickerRef, and does not need the EPP Service to exist), and Pods that are Ready with an
// IP (KWOK provides both). It scrapes no metrics and reads no body: it picks round robin over the
// ready Pods, or among the Pods whose IPs the request header test-epp-endpoint-selection lists
// (comma-separated). It serves TLS with a self-signed certificate (--secure-serving defaults to
// true), which a gateway encrypts to without verifying.
func TestEndpointPicker(t *testing.T) {
	const ns, poolName, port = "team-epp", "vllm-llama3", 8000
	ctx := context.Background()
	namespace(t, ns, nil)
	labels := modelServers(t, ns, "vllm-llama3", 3)
	// The picker's Service, as its Deployment would have it; lwepp runs here as a process, so
	// nothing backs it, and the picker half below needs it not.
	create(t, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: poolName + "-epp"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": poolName + "-epp"},
			Ports: []corev1.ServicePort{{Name: "grpc-ext-proc", Port: 9002, AppProtocol: ptr.To("http2")}}},
	})
	ip := &infv1.InferencePool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: poolName},
		Spec: infv1.InferencePoolSpec{
			Selector:          infv1.LabelSelector{MatchLabels: map[infv1.LabelKey]infv1.LabelValue{"app": "vllm-llama3"}},
			TargetPorts:       []infv1.Port{{Number: port}},
			EndpointPickerRef: &infv1.EndpointPickerRef{Name: poolName + "-epp", Port: &infv1.Port{Number: 9002}},
		},
	}
	if err := k8s.Create(ctx, ip); err != nil {
		t.Fatalf("creating the InferencePool: %v", err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ip) })
	ready := waitReadyEndpoints(t, ns, labels, port, 3)

	epp, err := env.StartEndpointPicker(ns, poolName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := epp.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("lwepp's log: %s", epp.Log)
		}
	})
	conn, err := xdstest.DialEndpointPicker(epp.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	// It serves: the gRPC health check a fleet's Envoy makes, over TLS, says so.
	eventually(t, 60*time.Second, func(ctx context.Context) error {
		eppAlive(t, epp)
		res, err := healthgrpc.NewHealthClient(conn).Check(ctx,
			&healthgrpc.HealthCheckRequest{Service: extprocv3.ExternalProcessor_ServiceDesc.ServiceName})
		if err != nil {
			return err
		}
		if res.GetStatus() != healthgrpc.HealthCheckResponse_SERVING {
			return fmt.Errorf("health %s", res.GetStatus())
		}
		return nil
	})
	// Until it has read the pool and its Pods it ends streams with an error; then it picks.
	eventually(t, 60*time.Second, func(context.Context) error {
		eppAlive(t, epp)
		_, err := eppPick(conn, nil)
		return err
	})

	t.Run("round robin picks are ready endpoints of the pool", func(t *testing.T) {
		for i := range 2 * len(ready) {
			got, err := eppPick(conn, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			if !slices.Contains(ready, got) {
				t.Errorf("request %d went to %s, not one of the pool's ready endpoints %v", i, got, ready)
			}
		}
	})

	t.Run("the selection header picks a given Pod", func(t *testing.T) {
		for _, want := range ready {
			host, _, _ := net.SplitHostPort(want)
			// lwepp learns each Pod from its own watch: wait for it rather than race it.
			eventually(t, 30*time.Second, func(context.Context) error {
				got, err := eppPick(conn, map[string]string{lweppSelectionHeader: host})
				if err != nil {
					return err
				}
				if got != want {
					return fmt.Errorf("selecting %s picked %s, want %s", host, got, want)
				}
				return nil
			})
		}
		// An IP that is no Pod of the pool is never picked. (lwepp v1.6.0 then has no candidate and
		// ends the stream with an error; its README says it falls back to round robin. Either is
		// fine here: the foreign address is not.)
		got, err := eppPick(conn, map[string]string{lweppSelectionHeader: "192.0.2.1"})
		switch {
		case err != nil:
			t.Logf("selecting a foreign IP: %v", err)
		case !slices.Contains(ready, got):
			t.Errorf("selecting a foreign IP picked %s, not one of the pool's ready endpoints %v", got, ready)
		}
	})

	t.Run("a Pod that goes is no longer picked", func(t *testing.T) {
		dep := &appsv1.Deployment{}
		eventually(t, 10*time.Second, func(ctx context.Context) error {
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "vllm-llama3"}, dep); err != nil {
				return err
			}
			dep.Spec.Replicas = ptr.To[int32](2)
			return k8s.Update(ctx, dep)
		})
		now := waitReadyEndpoints(t, ns, labels, port, 2)
		var gone []string
		for _, e := range ready {
			if !slices.Contains(now, e) {
				gone = append(gone, e)
			}
		}
		if len(gone) != 1 {
			t.Fatalf("after scaling to 2, ready %v → %v: want exactly one endpoint gone", ready, now)
		}
		goneHost, _, _ := net.SplitHostPort(gone[0])
		eventually(t, 30*time.Second, func(context.Context) error {
			eppAlive(t, epp)
			if got, err := eppPick(conn, map[string]string{lweppSelectionHeader: goneHost}); err == nil && got == gone[0] {
				return fmt.Errorf("the deleted Pod's %s is still picked", got)
			}
			for i := range 2 * len(now) {
				got, err := eppPick(conn, nil)
				if err != nil {
					return err
				}
				if !slices.Contains(now, got) {
					return fmt.Errorf("request %d went to %s, not one of the ready endpoints %v", i, got, now)
				}
			}
			return nil
		})
		ready = now
	})

	// Flotilla's half: a route to the pool gives the fleet an EDS cluster of the pool's Pods ×
	// targetPorts, which Envoy's override_host policy looks the picker's answer up in. Every
	// endpoint the picker can name must be there.
	t.Run("destination is an endpoint of the generated cluster", func(t *testing.T) {
		tenantClass(t, "epp", nil)
		gw := gateway(ns, "edge", "epp", nil)
		create(t, gw)
		rt := &gwapiv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "completions"},
			Spec: gwapiv1.HTTPRouteSpec{
				CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "edge"}}},
				Hostnames:       []gwapiv1.Hostname{"inference.example.com"},
				Rules: []gwapiv1.HTTPRouteRule{{BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{
					BackendObjectReference: gwapiv1.BackendObjectReference{
						Group: ptr.To(gwapiv1.Group(infv1.GroupName)), Kind: ptr.To(gwapiv1.Kind("InferencePool")),
						Name: gwapiv1.ObjectName(poolName),
					}}}}}},
			},
		}
		create(t, rt)

		fleet := dialFleet(t, fleetTLS(t, gw), ns+"/edge")
		name := ns + "/" + poolName + "/inferencepool/http"
		var lb []string
		waitXDS(t, fleet, "the InferencePool's EDS cluster", func() error {
			m, ok := fleet.Resources(resource.EndpointType)[name]
			if !ok {
				return fmt.Errorf("no ClusterLoadAssignment %q among %v", name, fleet.Names(resource.EndpointType))
			}
			lb = lbEndpoints(m.(*endpointv3.ClusterLoadAssignment))
			if !slices.Equal(lb, ready) {
				return fmt.Errorf("ClusterLoadAssignment %s has %v, want the pool's ready endpoints %v", name, lb, ready)
			}
			return nil
		})
		for _, e := range ready {
			host, _, _ := net.SplitHostPort(e)
			got, err := eppPick(conn, map[string]string{lweppSelectionHeader: host})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(lb, got) {
				t.Errorf("the picker chose %s, which Envoy's cluster %s (%v) does not have", got, name, lb)
			}
		}
		got, err := eppPick(conn, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(lb, got) {
			t.Errorf("the picker chose %s, which Envoy's cluster %s (%v) does not have", got, name, lb)
		}
	})
}

// lbEndpoints are a ClusterLoadAssignment's endpoints as "ip:port", sorted.
func lbEndpoints(cla *endpointv3.ClusterLoadAssignment) []string {
	var out []string
	for _, l := range cla.GetEndpoints() {
		for _, e := range l.GetLbEndpoints() {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			out = append(out, net.JoinHostPort(sa.GetAddress(), fmt.Sprint(sa.GetPortValue())))
		}
	}
	slices.Sort(out)
	return out
}
