package faults

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/operator"
	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
	"github.com/flotilla-dev/flotilla/test/cluster"
)

func eventually(t *testing.T, timeout time.Duration, cond func(ctx context.Context) error) {
	t.Helper()
	cluster.Eventually(t, timeout, cond)
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// class creates a FleetClass (one replica, ClusterIP) and its GatewayClass.
func class(t *testing.T, name string) {
	t.Helper()
	create(t, &flotillav1alpha1.FleetClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: flotillav1alpha1.FleetClassSpec{
		Replicas: ptr.To[int32](1), Service: flotillav1alpha1.ServiceSpec{Type: flotillav1alpha1.ServiceTypeClusterIP}}})
	create(t, &gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: gwapiv1.GatewayClassSpec{
		ControllerName: controller.ControllerName,
		ParametersRef:  &gwapiv1.ParametersReference{Group: "gateway.flotilla.dev", Kind: "FleetClass", Name: name}}})
}

func namespace(t *testing.T, name string) {
	t.Helper()
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
}

func gateway(ns, name, class string) *gwapiv1.Gateway {
	return &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: gwapiv1.GatewaySpec{GatewayClassName: gwapiv1.ObjectName(class), Listeners: []gwapiv1.Listener{
			{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType}}}}
}

func route(ns, name, gw, host, svc string) *gwapiv1.HTTPRoute {
	return &gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: gwapiv1.HTTPRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: gwapiv1.ObjectName(gw)}}},
			Hostnames:       []gwapiv1.Hostname{gwapiv1.Hostname(host)},
			Rules: []gwapiv1.HTTPRouteRule{{BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{
				BackendObjectReference: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(svc), Port: ptr.To[gwapiv1.PortNumber](80)}}}}}},
		}}
}

func service(ns, name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
}

func fleetName(gw *gwapiv1.Gateway) client.ObjectKey {
	return client.ObjectKey{Namespace: gw.Namespace, Name: "flotilla-" + gw.Name}
}

// programmed waits until the Gateway is Programmed at its generation.
func programmed(t *testing.T, gw *gwapiv1.Gateway, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, func(ctx context.Context) error {
		cur := &gwapiv1.Gateway{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(gw), cur); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(cur.Status.Conditions, string(gwapiv1.GatewayConditionProgrammed)); c == nil ||
			c.Status != metav1.ConditionTrue || c.ObservedGeneration != cur.Generation {
			return fmt.Errorf("Gateway %s Programmed = %+v", gw.Name, c)
		}
		return nil
	})
}

// routeAccepted says why the route's status does not (yet) say Accepted for its Gateway at its
// generation, in exactly one parent entry of Flotilla's ("" when it does).
func routeAccepted(rt *gwapiv1.HTTPRoute) string {
	var ours []gwapiv1.RouteParentStatus
	for _, p := range rt.Status.Parents {
		if p.ControllerName == controller.ControllerName {
			ours = append(ours, p)
		}
	}
	if len(ours) != 1 {
		return fmt.Sprintf("route %s has %d parent entries of Flotilla's, want 1", rt.Name, len(ours))
	}
	c := meta.FindStatusCondition(ours[0].Conditions, string(gwapiv1.RouteConditionAccepted))
	if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != rt.Generation {
		return fmt.Sprintf("route %s Accepted = %+v at generation %d", rt.Name, c, rt.Generation)
	}
	return ""
}

// fleetTLS is what the fleet's Envoy presents and trusts: the fleet Secret and ConfigMap.
func fleetTLS(t *testing.T, gw *gwapiv1.Gateway) *tls.Config {
	t.Helper()
	s, cm := &corev1.Secret{}, &corev1.ConfigMap{}
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		if err := k8s.Get(ctx, fleetName(gw), s); err != nil {
			return err
		}
		if err := k8s.Get(ctx, fleetName(gw), cm); err != nil {
			return err
		}
		if len(s.Data[pki.KeyCert]) == 0 {
			return fmt.Errorf("fleet Secret %s has no certificate yet", fleetName(gw))
		}
		return nil
	})
	conf, err := xdstest.EnvoyTLS(s.Data[pki.KeyCert], s.Data[pki.KeyKey], []byte(cm.Data[provisioner.KeyXDSTrust]),
		"flotilla-xds."+operator.DefaultNamespace+".svc")
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

func dial(t *testing.T, addr string, conf *tls.Config, gw *gwapiv1.Gateway, node string) *xdstest.Client {
	t.Helper()
	c, err := xdstest.Dial(context.Background(), addr, conf, &corev3.Node{Id: node, Cluster: gw.Namespace + "/" + gw.Name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func waitXDS(t *testing.T, c *xdstest.Client, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	if err := c.Wait(ctx, func() bool { last = cond(); return last == nil }); err != nil {
		t.Fatalf("%s: %v (last: %v)", what, err, last)
	}
}

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

var allTypes = []string{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType, resource.SecretType}

func versions(c *xdstest.Client) map[string]string {
	out := map[string]string{}
	for _, typ := range allTypes {
		out[typ] = c.Version(typ)
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
