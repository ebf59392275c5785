package controller

import (
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

// testGateway is a Gateway at generation 4 with the given listeners.
func testGateway(listeners ...gwapiv1.Listener) *gwapiv1.Gateway {
	return &gwapiv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "web", Generation: 4},
		Spec:       gwapiv1.GatewaySpec{GatewayClassName: "flotilla", Listeners: listeners},
	}
}

func listener(name string, proto gwapiv1.ProtocolType, port int32) gwapiv1.Listener {
	return gwapiv1.Listener{Name: gwapiv1.SectionName(name), Protocol: proto, Port: gwapiv1.PortNumber(port)}
}

// testDeployment is a fleet Deployment; available sets its Available condition, observed its
// status.observedGeneration (the Deployment is at generation 2).
func testDeployment(available corev1.ConditionStatus, observed int64, ready, replicas int32) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "fleet", Generation: 2}}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: replicas, AvailableReplicas: ready}
	if available != "" {
		d.Status.Conditions = []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue},
			{Type: appsv1.DeploymentAvailable, Status: available},
		}
	}
	return d
}

func clusterIPService(ips ...string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "fleet-svc"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: ips}}
}

func loadBalancerService(ingress ...corev1.LoadBalancerIngress) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "fleet-lb"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.0.0.9"}}}
	s.Status.LoadBalancer.Ingress = ingress
	return s
}

func ipAddr(v string) gwapiv1.GatewayStatusAddress {
	return gwapiv1.GatewayStatusAddress{Type: ptr.To(gwapiv1.IPAddressType), Value: v}
}

func hostAddr(v string) gwapiv1.GatewayStatusAddress {
	return gwapiv1.GatewayStatusAddress{Type: ptr.To(gwapiv1.HostnameAddressType), Value: v}
}

// wantCondition checks a condition's status and reason exactly and its message by substring (or
// exactly, when exact is set), and that it carries the Gateway's generation.
type wantCondition struct {
	status metav1.ConditionStatus
	reason string
	msg    string
	exact  bool
}

func checkCondition(t *testing.T, conds []metav1.Condition, typ string, gen int64, want wantCondition) {
	t.Helper()
	c := meta.FindStatusCondition(conds, typ)
	if c == nil {
		t.Fatalf("no %s condition in %+v", typ, conds)
	}
	if c.Status != want.status || c.Reason != want.reason {
		t.Errorf("%s = %s/%s (%q), want %s/%s", typ, c.Status, c.Reason, c.Message, want.status, want.reason)
	}
	if want.exact && c.Message != want.msg || !strings.Contains(c.Message, want.msg) {
		t.Errorf("%s message = %q, want %s %q", typ, c.Message, map[bool]string{true: "exactly", false: "containing"}[want.exact], want.msg)
	}
	if c.ObservedGeneration != gen {
		t.Errorf("%s observedGeneration = %d, want %d", typ, c.ObservedGeneration, gen)
	}
	if c.LastTransitionTime.IsZero() {
		t.Errorf("%s has no lastTransitionTime", typ)
	}
}

func TestGatewayStatusConditions(t *testing.T) {
	available := testDeployment(corev1.ConditionTrue, 2, 2, 3)
	const refusal = `FleetClass "gold" of GatewayClass "flotilla" not found`
	accepted := wantCondition{metav1.ConditionTrue, string(gwapiv1.GatewayReasonAccepted), "Gateway accepted; its Envoy fleet is provisioned", true}
	cases := []struct {
		name       string
		fs         fleetState
		accepted   wantCondition
		programmed wantCondition
		addresses  []gwapiv1.GatewayStatusAddress
	}{
		{
			name:       "refused without a fleet",
			fs:         fleetState{refused: refusal},
			accepted:   wantCondition{metav1.ConditionFalse, string(gwapiv1.GatewayReasonInvalidParameters), refusal + "; no fleet is provisioned", true},
			programmed: wantCondition{metav1.ConditionFalse, string(gwapiv1.GatewayReasonInvalid), "The Gateway is not accepted", true},
		},
		{
			// The fleet from the last accepted spec is left running, but Flotilla serves it
			// nothing: not Programmed, and the status says so.
			name: "refused with a running fleet",
			fs:   fleetState{refused: refusal, fleetExists: true, deployment: available, service: clusterIPService("10.0.0.1")},
			accepted: wantCondition{metav1.ConditionFalse, string(gwapiv1.GatewayReasonInvalidParameters),
				refusal + "; the running fleet is left as it was (its Envoys keep the configuration they have and are sent nothing until the Gateway is accepted again)", true},
			programmed: wantCondition{metav1.ConditionFalse, string(gwapiv1.GatewayReasonInvalid), "The Gateway is not accepted", true},
			addresses:  []gwapiv1.GatewayStatusAddress{ipAddr("10.0.0.1")},
		},
		{
			name: "unsupported address",
			fs: fleetState{unsupportedAddress: `spec.addresses[0] (Hostname "a.example"): address type Hostname is not supported`,
				addressProblems: []provisioner.AddressProblem{{Reason: gwapiv1.GatewayReasonUnsupportedAddress, Message: "x"}}},
			accepted: wantCondition{metav1.ConditionFalse, string(gwapiv1.GatewayReasonUnsupportedAddress),
				`spec.addresses[0] (Hostname "a.example"): address type Hostname is not supported; no fleet is provisioned`, true},
			programmed: wantCondition{metav1.ConditionFalse, string(gwapiv1.GatewayReasonInvalid), "The Gateway is not accepted", true},
		},
		{
			name:     "certificate pending",
			fs:       fleetState{pending: `waiting for cert-manager to issue the fleet certificate into Secret team-a/fleet (issuer ClusterIssuer "ca")`, deployment: available, service: clusterIPService("10.0.0.1")},
			accepted: accepted,
			programmed: wantCondition{metav1.ConditionFalse, string(gwapiv1.GatewayReasonPending),
				`waiting for cert-manager to issue the fleet certificate into Secret team-a/fleet (issuer ClusterIssuer "ca")`, true},
			addresses: []gwapiv1.GatewayStatusAddress{ipAddr("10.0.0.1")},
		},
		{
			name: "address problems",
			fs: fleetState{deployment: available, service: clusterIPService("10.0.0.1"), addressProblems: []provisioner.AddressProblem{
				{Index: 1, Reason: gwapiv1.GatewayReasonAddressNotUsable, Message: `spec.addresses[1] (IPAddress "nope"): is not a valid IP address`},
				{Index: 2, Reason: gwapiv1.GatewayReasonAddressNotUsable, Message: `spec.addresses[2] (IPAddress "10.0.0.3"): a ClusterIP Service takes one address, and 10.0.0.1 is used`},
			}},
			accepted: accepted,
			programmed: wantCondition{metav1.ConditionFalse, string(gwapiv1.GatewayReasonAddressNotUsable),
				`spec.addresses[1] (IPAddress "nope"): is not a valid IP address; spec.addresses[2] (IPAddress "10.0.0.3"): a ClusterIP Service takes one address, and 10.0.0.1 is used`, true},
			addresses: []gwapiv1.GatewayStatusAddress{ipAddr("10.0.0.1")},
		},
		{
			name:       "no Deployment yet",
			fs:         fleetState{service: clusterIPService("10.0.0.1")},
			accepted:   accepted,
			programmed: wantCondition{metav1.ConditionFalse, string(gwapiv1.GatewayReasonPending), "Waiting for the Envoy Deployment to become available", true},
			addresses:  []gwapiv1.GatewayStatusAddress{ipAddr("10.0.0.1")},
		},
		{
			name:       "Deployment not available",
			fs:         fleetState{deployment: testDeployment(corev1.ConditionFalse, 2, 0, 3), service: clusterIPService("10.0.0.1")},
			accepted:   accepted,
			programmed: wantCondition{metav1.ConditionFalse, string(gwapiv1.GatewayReasonPending), "Waiting for the Envoy Deployment to become available", true},
			addresses:  []gwapiv1.GatewayStatusAddress{ipAddr("10.0.0.1")},
		},
		{
			name:       "Deployment without an Available condition",
			fs:         fleetState{deployment: testDeployment("", 2, 0, 3), service: clusterIPService("10.0.0.1")},
			accepted:   accepted,
			programmed: wantCondition{metav1.ConditionFalse, string(gwapiv1.GatewayReasonPending), "Waiting for the Envoy Deployment to become available", true},
			addresses:  []gwapiv1.GatewayStatusAddress{ipAddr("10.0.0.1")},
		},
		{
			// Available=True describes the previous generation's Pods, not the new spec.
			name:       "Deployment observedGeneration behind",
			fs:         fleetState{deployment: testDeployment(corev1.ConditionTrue, 1, 3, 3), service: clusterIPService("10.0.0.1")},
			accepted:   accepted,
			programmed: wantCondition{metav1.ConditionFalse, string(gwapiv1.GatewayReasonPending), "Waiting for the Envoy Deployment to become available", true},
			addresses:  []gwapiv1.GatewayStatusAddress{ipAddr("10.0.0.1")},
		},
		{
			name:       "ClusterIP Service without a cluster IP",
			fs:         fleetState{deployment: available, service: clusterIPService()},
			accepted:   accepted,
			programmed: wantCondition{metav1.ConditionFalse, string(gwapiv1.GatewayReasonAddressNotAssigned), "Waiting for Service fleet-svc to get a cluster IP", true},
		},
		{
			name:       "LoadBalancer Service without ingress",
			fs:         fleetState{deployment: available, service: loadBalancerService()},
			accepted:   accepted,
			programmed: wantCondition{metav1.ConditionFalse, string(gwapiv1.GatewayReasonAddressNotAssigned), "Waiting for a load balancer to assign Service fleet-lb an address", true},
		},
		{
			name:     "no Service (no listener port)",
			fs:       fleetState{deployment: available},
			accepted: accepted,
			programmed: wantCondition{metav1.ConditionFalse, string(gwapiv1.GatewayReasonAddressNotAssigned),
				"The Gateway has no listener port to expose, so no Service and no address", true},
		},
		{
			name:       "programmed behind a dual-stack ClusterIP Service",
			fs:         fleetState{fleetExists: true, deployment: available, service: clusterIPService("10.0.0.1", "fd00::1")},
			accepted:   accepted,
			programmed: wantCondition{metav1.ConditionTrue, string(gwapiv1.GatewayReasonProgrammed), "2 of 3 Envoy replicas available", true},
			addresses:  []gwapiv1.GatewayStatusAddress{ipAddr("10.0.0.1"), ipAddr("fd00::1")},
		},
		{
			name: "programmed behind a LoadBalancer",
			fs: fleetState{fleetExists: true, deployment: testDeployment(corev1.ConditionTrue, 2, 1, 1),
				service: loadBalancerService(corev1.LoadBalancerIngress{IP: "203.0.113.7"}, corev1.LoadBalancerIngress{Hostname: "lb.example.com"})},
			accepted:   accepted,
			programmed: wantCondition{metav1.ConditionTrue, string(gwapiv1.GatewayReasonProgrammed), "1 of 1 Envoy replicas available", true},
			addresses:  []gwapiv1.GatewayStatusAddress{ipAddr("203.0.113.7"), hostAddr("lb.example.com")},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := testGateway(listener("http", gwapiv1.HTTPProtocolType, 80))
			tc.fs.listeners = gatewayapi.Resolve(gatewayapi.Input{Gateway: gw, ControllerName: ControllerName}).Listeners
			var st gwapiv1.GatewayStatus
			gatewayStatus(gw, tc.fs, &st)
			if len(st.Conditions) != 2 {
				t.Errorf("conditions = %+v, want exactly Accepted and Programmed", st.Conditions)
			}
			checkCondition(t, st.Conditions, string(gwapiv1.GatewayConditionAccepted), 4, tc.accepted)
			checkCondition(t, st.Conditions, string(gwapiv1.GatewayConditionProgrammed), 4, tc.programmed)
			if !reflect.DeepEqual(st.Addresses, tc.addresses) {
				t.Errorf("addresses = %s, want %s", addrs(st.Addresses), addrs(tc.addresses))
			}
			if len(st.Listeners) != 1 || st.Listeners[0].Name != "http" {
				t.Fatalf("listeners = %+v, want one entry for http", st.Listeners)
			}
			// The listener is programmed exactly when the Gateway is.
			lp := wantCondition{metav1.ConditionFalse, string(gwapiv1.ListenerReasonPending), "Waiting for the fleet", false}
			if tc.programmed.status == metav1.ConditionTrue {
				lp = wantCondition{metav1.ConditionTrue, string(gwapiv1.ListenerReasonProgrammed), "", false}
			}
			checkCondition(t, st.Listeners[0].Conditions, string(gwapiv1.ListenerConditionProgrammed), 4, lp)
		})
	}
}

func addrs(as []gwapiv1.GatewayStatusAddress) string {
	var parts []string
	for _, a := range as {
		typ := "<nil>"
		if a.Type != nil {
			typ = string(*a.Type)
		}
		parts = append(parts, typ+"="+a.Value)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestGatewayStatusProgrammedPrecedence(t *testing.T) {
	available := testDeployment(corev1.ConditionTrue, 2, 1, 1)
	problems := []provisioner.AddressProblem{{Reason: gwapiv1.GatewayReasonAddressNotUsable, Message: "bad address"}}
	cases := []struct {
		name     string
		fs       fleetState
		accepted bool
		status   metav1.ConditionStatus
		reason   gwapiv1.GatewayConditionReason
		msg      string
	}{
		{"not accepted beats pending", fleetState{pending: "cert"}, false, metav1.ConditionFalse, gwapiv1.GatewayReasonInvalid, "The Gateway is not accepted"},
		{"not accepted with a fleet is not programmed either", fleetState{fleetExists: true, pending: "cert"}, false, metav1.ConditionFalse, gwapiv1.GatewayReasonInvalid, "The Gateway is not accepted"},
		{"pending beats address problems", fleetState{pending: "cert", addressProblems: problems, deployment: available}, true, metav1.ConditionFalse, gwapiv1.GatewayReasonPending, "cert"},
		{"address problems beat an unavailable Deployment", fleetState{addressProblems: problems}, true, metav1.ConditionFalse, gwapiv1.GatewayReasonAddressNotUsable, "bad address"},
		{"unavailable Deployment beats a missing address", fleetState{service: clusterIPService()}, true, metav1.ConditionFalse, gwapiv1.GatewayReasonPending, "Waiting for the Envoy Deployment"},
		{"headless cluster IP is no address", fleetState{deployment: available, service: clusterIPService(corev1.ClusterIPNone)}, true, metav1.ConditionFalse, gwapiv1.GatewayReasonAddressNotAssigned, "to get a cluster IP"},
		{"programmed", fleetState{deployment: available, service: clusterIPService("10.0.0.1")}, true, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed, "1 of 1 Envoy replicas available"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, r, m := programmedState(tc.fs, tc.accepted)
			if s != tc.status || r != tc.reason || !strings.Contains(m, tc.msg) {
				t.Errorf("programmedState = %s/%s %q, want %s/%s containing %q", s, r, m, tc.status, tc.reason, tc.msg)
			}
		})
	}
}

func TestGatewayStatusServiceAddresses(t *testing.T) {
	nodePort := clusterIPService("10.0.0.4")
	nodePort.Spec.Type = corev1.ServiceTypeNodePort
	cases := []struct {
		name string
		svc  *corev1.Service
		want []gwapiv1.GatewayStatusAddress
	}{
		{"no Service", nil, nil},
		{"ClusterIP", clusterIPService("10.0.0.1"), []gwapiv1.GatewayStatusAddress{ipAddr("10.0.0.1")}},
		{"dual-stack ClusterIP keeps the family order", clusterIPService("fd00::1", "10.0.0.1"), []gwapiv1.GatewayStatusAddress{ipAddr("fd00::1"), ipAddr("10.0.0.1")}},
		{"headless and empty cluster IPs are skipped", clusterIPService(corev1.ClusterIPNone, ""), nil},
		{"NodePort reports its cluster IP", nodePort, []gwapiv1.GatewayStatusAddress{ipAddr("10.0.0.4")}},
		{"LoadBalancer without ingress has none (its cluster IP is not reported)", loadBalancerService(), nil},
		{
			"LoadBalancer ingress: IP first when both are set, hostname otherwise, empty entries skipped",
			loadBalancerService(corev1.LoadBalancerIngress{IP: "203.0.113.7", Hostname: "ignored.example.com"},
				corev1.LoadBalancerIngress{}, corev1.LoadBalancerIngress{Hostname: "lb.example.com"}),
			[]gwapiv1.GatewayStatusAddress{ipAddr("203.0.113.7"), hostAddr("lb.example.com")},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := serviceAddresses(tc.svc); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("serviceAddresses = %s, want %s", addrs(got), addrs(tc.want))
			}
		})
	}
}

func kinds(ks ...gwapiv1.Kind) []gwapiv1.RouteGroupKind {
	out := []gwapiv1.RouteGroupKind{}
	for _, k := range ks {
		out = append(out, gwapiv1.RouteGroupKind{Group: ptr.To(gwapiv1.Group(gwapiv1.GroupName)), Kind: k})
	}
	return out
}

func kindNames(rgks []gwapiv1.RouteGroupKind) []string {
	out := []string{}
	for _, k := range rgks {
		g := "<nil>"
		if k.Group != nil {
			g = string(*k.Group)
		}
		out = append(out, g+"/"+string(k.Kind))
	}
	return out
}

// Listener entries come from resolve (golden-tested in internal/gatewayapi); the status keeps their
// lastTransitionTime and says Pending while the fleet is not programmed.
func TestGatewayStatusListenersFollowTheFleet(t *testing.T) {
	gw := testGateway(listener("http", gwapiv1.HTTPProtocolType, 80), listener("bad", "SCTP", 81))
	res := gatewayapi.Resolve(gatewayapi.Input{Gateway: gw, ControllerName: ControllerName})
	fs := fleetState{fleetExists: true, deployment: testDeployment(corev1.ConditionFalse, 2, 0, 1), service: clusterIPService("10.0.0.1"),
		listeners: res.Listeners, invalidListeners: res.InvalidListeners}
	var st gwapiv1.GatewayStatus
	gatewayStatus(gw, fs, &st)
	if len(st.Listeners) != 2 {
		t.Fatalf("listeners %+v", st.Listeners)
	}
	checkCondition(t, st.Listeners[0].Conditions, string(gwapiv1.ListenerConditionProgrammed), gw.Generation,
		wantCondition{metav1.ConditionFalse, string(gwapiv1.ListenerReasonPending), "Waiting for the fleet", false})
	checkCondition(t, st.Listeners[1].Conditions, string(gwapiv1.ListenerConditionAccepted), gw.Generation,
		wantCondition{metav1.ConditionFalse, string(gwapiv1.ListenerReasonUnsupportedProtocol), "", false})
	checkCondition(t, st.Conditions, string(gwapiv1.GatewayConditionAccepted), gw.Generation,
		wantCondition{metav1.ConditionTrue, string(gwapiv1.GatewayReasonListenersNotValid), "these listeners are not valid: bad", false})

	fs.deployment = testDeployment(corev1.ConditionTrue, 2, 1, 1)
	gatewayStatus(gw, fs, &st)
	checkCondition(t, st.Listeners[0].Conditions, string(gwapiv1.ListenerConditionProgrammed), gw.Generation,
		wantCondition{metav1.ConditionTrue, string(gwapiv1.ListenerReasonProgrammed), "", false})

	// No valid listener at all: the Gateway is not accepted.
	only := testGateway(listener("bad", "SCTP", 81))
	res = gatewayapi.Resolve(gatewayapi.Input{Gateway: only, ControllerName: ControllerName})
	st = gwapiv1.GatewayStatus{}
	gatewayStatus(only, fleetState{listeners: res.Listeners, invalidListeners: res.InvalidListeners}, &st)
	checkCondition(t, st.Conditions, string(gwapiv1.GatewayConditionAccepted), only.Generation,
		wantCondition{metav1.ConditionFalse, string(gwapiv1.GatewayReasonListenersNotValid), "No listener is valid: bad", false})
}

func TestGatewayStatusKeepsTransitionTimes(t *testing.T) {
	gw := testGateway(listener("http", gwapiv1.HTTPProtocolType, 80))
	res := gatewayapi.Resolve(gatewayapi.Input{Gateway: gw, ControllerName: ControllerName})
	res.Listeners[0].AttachedRoutes = 2 // as if a route attached
	pending := fleetState{fleetExists: true, deployment: testDeployment(corev1.ConditionFalse, 2, 0, 1), service: clusterIPService("10.0.0.1"),
		listeners: res.Listeners}
	var st gwapiv1.GatewayStatus
	gatewayStatus(gw, pending, &st)
	past := metav1.NewTime(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	for i := range st.Conditions {
		st.Conditions[i].LastTransitionTime = past
	}
	for i := range st.Listeners[0].Conditions {
		st.Listeners[0].Conditions[i].LastTransitionTime = past
	}
	before := st.DeepCopy()

	gatewayStatus(gw, pending, &st)
	if !reflect.DeepEqual(before, &st) {
		t.Fatalf("the same input changed the status:\nbefore %+v\nafter  %+v", before, &st)
	}

	// The spec changes (generation 5) and the fleet becomes available.
	gw.Generation = 5
	programmed := pending
	programmed.deployment = testDeployment(corev1.ConditionTrue, 2, 1, 1)
	programmed.listeners = gatewayapi.Resolve(gatewayapi.Input{Gateway: gw, ControllerName: ControllerName}).Listeners
	programmed.listeners[0].AttachedRoutes = 2
	gatewayStatus(gw, programmed, &st)
	ltt := func(conds []metav1.Condition, typ string) metav1.Time {
		t.Helper()
		c := meta.FindStatusCondition(conds, typ)
		if c == nil {
			t.Fatalf("no %s condition", typ)
		}
		if c.ObservedGeneration != 5 {
			t.Errorf("%s observedGeneration = %d, want 5", typ, c.ObservedGeneration)
		}
		return c.LastTransitionTime
	}
	if got := ltt(st.Conditions, string(gwapiv1.GatewayConditionAccepted)); !got.Equal(&past) {
		t.Errorf("Accepted did not change but its lastTransitionTime moved to %v", got)
	}
	if got := ltt(st.Conditions, string(gwapiv1.GatewayConditionProgrammed)); got.Equal(&past) {
		t.Error("Programmed turned True but kept its old lastTransitionTime")
	}
	lc := st.Listeners[0].Conditions
	for _, typ := range []gwapiv1.ListenerConditionType{gwapiv1.ListenerConditionAccepted, gwapiv1.ListenerConditionConflicted, gwapiv1.ListenerConditionResolvedRefs} {
		if got := ltt(lc, string(typ)); !got.Equal(&past) {
			t.Errorf("listener %s did not change but its lastTransitionTime moved to %v", typ, got)
		}
	}
	if got := ltt(lc, string(gwapiv1.ListenerConditionProgrammed)); got.Equal(&past) {
		t.Error("listener Programmed turned True but kept its old lastTransitionTime")
	}
	if st.Listeners[0].AttachedRoutes != 2 {
		t.Errorf("attachedRoutes = %d, want resolve's 2", st.Listeners[0].AttachedRoutes)
	}
}
