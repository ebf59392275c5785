package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/operator"
	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
)

var allTypes = []string{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType, resource.SecretType}

// fleetTLS is what a fleet's Envoy presents and trusts: the fleet Secret Flotilla provisioned.
func fleetTLS(t *testing.T, gw *gwapiv1.Gateway) *tls.Config {
	t.Helper()
	s := &corev1.Secret{}
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		if err := k8s.Get(ctx, fleetName(gw), s); err != nil {
			return err
		}
		if len(s.Data[pki.KeyCert]) == 0 {
			return fmt.Errorf("fleet Secret %s has no certificate yet", fleetName(gw))
		}
		return nil
	})
	return envoyTLS(t, gw, s.Data[pki.KeyCert], s.Data[pki.KeyKey])
}

// envoyTLS is an Envoy's TLS: a client certificate, and the xDS server's CA from the fleet
// ConfigMap (the file its SDS validation context reads).
func envoyTLS(t *testing.T, gw *gwapiv1.Gateway, crt, key []byte) *tls.Config {
	t.Helper()
	cm := &corev1.ConfigMap{}
	eventually(t, 30*time.Second, func(ctx context.Context) error { return k8s.Get(ctx, fleetName(gw), cm) })
	conf, err := xdstest.EnvoyTLS(crt, key, []byte(cm.Data[provisioner.KeyXDSTrust]), "flotilla-xds."+operator.DefaultNamespace+".svc")
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

// dialFleet connects as an Envoy of the fleet claiming node.cluster = claim.
func dialFleet(t *testing.T, conf *tls.Config, claim string) *xdstest.Client {
	t.Helper()
	c, err := xdstest.Dial(context.Background(), xdsAddr, conf, &corev3.Node{Id: "envoy-" + strings.ReplaceAll(claim, "/", "-"), Cluster: claim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitXDS waits until the client's accepted configuration satisfies cond.
func waitXDS(t *testing.T, c *xdstest.Client, what string, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last error
	if err := c.Wait(ctx, func() bool { last = cond(); return last == nil }); err != nil {
		t.Fatalf("%s: %v (last: %v)", what, err, last)
	}
}

// domains are the virtual host domains of every route configuration the client accepted.
func domains(c *xdstest.Client) []string {
	var out []string
	for _, m := range c.Resources(resource.RouteType) {
		for _, vh := range m.(*routev3.RouteConfiguration).GetVirtualHosts() {
			out = append(out, vh.GetDomains()...)
		}
	}
	slices.Sort(out)
	return out
}

func endpointAddresses(c *xdstest.Client) []string {
	var out []string
	for _, m := range c.Resources(resource.EndpointType) {
		for _, l := range m.(*endpointv3.ClusterLoadAssignment).GetEndpoints() {
			for _, e := range l.GetLbEndpoints() {
				out = append(out, e.GetEndpoint().GetAddress().GetSocketAddress().GetAddress())
			}
		}
	}
	slices.Sort(out)
	return out
}

func versions(c *xdstest.Client) map[string]string {
	out := map[string]string{}
	for _, typ := range allTypes {
		out[typ] = c.Version(typ)
	}
	return out
}

func setRouteHostname(t *testing.T, rt *gwapiv1.HTTPRoute, host string) {
	t.Helper()
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.HTTPRoute{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(rt), cur); err != nil {
			return err
		}
		cur.Spec.Hostnames = []gwapiv1.Hostname{gwapiv1.Hostname(host)}
		return k8s.Update(ctx, cur)
	})
}

func dataPlaneCondition(t *testing.T, gw *gwapiv1.Gateway, status metav1.ConditionStatus, reason, msgContains string) {
	t.Helper()
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.Gateway{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(gw), cur); err != nil {
			return err
		}
		c := meta.FindStatusCondition(cur.Status.Conditions, controller.ConditionDataPlaneAccepted)
		if c == nil || c.Status != status || c.Reason != reason || !strings.Contains(c.Message, msgContains) {
			return fmt.Errorf("%s = %+v, want %s/%s containing %q", controller.ConditionDataPlaneAccepted, c, status, reason, msgContains)
		}
		return nil
	})
}

// A fleet's Envoy, proving its identity with the certificate Flotilla provisioned, receives its
// own configuration and its updates, and nothing of another fleet; an endpoint change moves EDS
// alone; a route change of one fleet leaves the other's versions alone; a NACK shows on the Gateway.
func TestFleetsReceiveTheirOwnXDS(t *testing.T) {
	tenantClass(t, "xds", nil)
	namespace(t, "team-xds-a", nil)
	namespace(t, "team-xds-b", nil)
	gwA := gateway("team-xds-a", "edge", "xds", nil)
	gwB := gateway("team-xds-b", "edge", "xds", nil)
	create(t, gwA)
	create(t, gwB)
	for _, ns := range []string{"team-xds-a", "team-xds-b"} {
		// A Service without a selector: its EndpointSlice is ours to write, as a mesh or an
		// external-endpoints controller would.
		create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}}})
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-xds-a", Name: "web-1",
			Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
	create(t, slice)
	routeA := httpRoute("team-xds-a", "app", []gwapiv1.ParentReference{{Name: "edge"}}, "web")
	routeA.Spec.Hostnames = []gwapiv1.Hostname{"a.example.com"}
	create(t, routeA)
	routeB := httpRoute("team-xds-b", "app", []gwapiv1.ParentReference{{Name: "edge"}}, "web")
	routeB.Spec.Hostnames = []gwapiv1.Hostname{"b.example.com"}
	create(t, routeB)

	confA, confB := fleetTLS(t, gwA), fleetTLS(t, gwB)
	a := dialFleet(t, confA, "team-xds-a/edge")
	waitXDS(t, a, "fleet A's configuration", func() error {
		if got := a.Names(resource.ListenerType); !slices.Contains(got, "http-80") || !slices.Contains(got, "udp-53") {
			return fmt.Errorf("listeners %v", got)
		}
		if got := domains(a); !slices.Equal(got, []string{"a.example.com"}) {
			return fmt.Errorf("domains %v", got)
		}
		if got := endpointAddresses(a); !slices.Equal(got, []string{"10.1.0.1"}) {
			return fmt.Errorf("endpoints %v", got)
		}
		if len(a.Names(resource.ClusterType)) != 1 {
			return fmt.Errorf("clusters %v", a.Names(resource.ClusterType))
		}
		return nil
	})
	dataPlaneCondition(t, gwA, metav1.ConditionTrue, controller.ReasonDataPlaneAccepted, "accepted")
	b := dialFleet(t, confB, "team-xds-b/edge")
	waitXDS(t, b, "fleet B's configuration", func() error {
		if got := domains(b); !slices.Equal(got, []string{"b.example.com"}) {
			return fmt.Errorf("domains %v", got)
		}
		return nil
	})
	if got := endpointAddresses(b); len(got) != 0 {
		t.Errorf("fleet B sees endpoints %v of a Service it has none of", got)
	}

	// A's certificate cannot claim B.
	impostor := dialFleet(t, confA, "team-xds-b/edge")
	select {
	case <-impostor.Done():
		if impostor.Err() == nil || len(impostor.Names(resource.ListenerType)) != 0 {
			t.Errorf("impostor stream ended with %v after receiving %v", impostor.Err(), impostor.Names(resource.ListenerType))
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("a stream claiming fleet B with fleet A's certificate was not refused; it got listeners %v", impostor.Names(resource.ListenerType))
	}

	// An endpoint change moves EDS only, and costs no full resolution: the fleet's endpoints
	// alone are computed again.
	resolutions0 := settled(t, "flotilla_fleet_resolutions_total", 2*time.Second)
	updates0 := counter(t, "flotilla_fleet_endpoint_updates_total")
	before, bResponses := versions(a), 0
	for _, typ := range allTypes {
		bResponses += b.Responses(typ)
	}
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cur := &discoveryv1.EndpointSlice{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(slice), cur); err != nil {
			return err
		}
		cur.Endpoints = append(cur.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.1.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
		return k8s.Update(ctx, cur)
	})
	waitXDS(t, a, "the new endpoint", func() error {
		if got := endpointAddresses(a); !slices.Equal(got, []string{"10.1.0.1", "10.1.0.2"}) {
			return fmt.Errorf("endpoints %v", got)
		}
		return nil
	})
	after := versions(a)
	for _, typ := range allTypes {
		if moved := before[typ] != after[typ]; moved != (typ == resource.EndpointType) {
			t.Errorf("after an endpoint change, %s version %q → %q", typ, before[typ], after[typ])
		}
	}
	if d := settled(t, "flotilla_fleet_resolutions_total", 2*time.Second) - resolutions0; d != 0 {
		t.Errorf("an endpoint change cost %v full resolutions, want none", d)
	}
	if d := counter(t, "flotilla_fleet_endpoint_updates_total") - updates0; d < 1 {
		t.Errorf("an endpoint change made %v endpoint updates, want at least 1", d)
	}

	// A route change reaches A; B receives nothing.
	setRouteHostname(t, routeA, "a2.example.com")
	waitXDS(t, a, "the route change", func() error {
		if got := domains(a); !slices.Equal(got, []string{"a2.example.com"}) {
			return fmt.Errorf("domains %v", got)
		}
		return nil
	})
	if a.Version(resource.ListenerType) != after[resource.ListenerType] || a.Version(resource.ClusterType) != after[resource.ClusterType] {
		t.Errorf("a route change moved listeners or clusters: %v → %v", after, versions(a))
	}
	total := 0
	for _, typ := range allTypes {
		total += b.Responses(typ)
	}
	if total != bResponses {
		t.Errorf("fleet B received %d responses while only fleet A changed", total-bResponses)
	}

	// Envoy rejects a route configuration: the Gateway says so with Envoy's words; accepting
	// new content clears it.
	a.Reject(resource.RouteType, "route: invalid regex from the test")
	setRouteHostname(t, routeA, "a3.example.com")
	dataPlaneCondition(t, gwA, metav1.ConditionFalse, controller.ReasonDataPlaneRejected, "invalid regex from the test")
	waitForNamespacedEvent(t, gwA, corev1.EventTypeWarning, controller.ReasonDataPlaneRejected, "invalid regex from the test")
	if got := domains(a); !slices.Equal(got, []string{"a2.example.com"}) {
		t.Errorf("after a NACK the client holds %v, want its last accepted a2.example.com", got)
	}
	a.Accept(resource.RouteType)
	setRouteHostname(t, routeA, "a4.example.com")
	dataPlaneCondition(t, gwA, metav1.ConditionTrue, controller.ReasonDataPlaneAccepted, "accepted")
}
