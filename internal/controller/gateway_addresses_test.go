package controller

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

func TestGatewayAddresses(t *testing.T) {
	static := func(carrier flotillav1alpha1.StaticAddressCarrier, ips ...string) *provisioner.Addresses {
		a := &provisioner.Addresses{Carrier: carrier, AnnotationKey: "lb.example/ips"}
		for i, ip := range ips {
			a.Static = append(a.Static, provisioner.StaticAddress{Index: i, IP: ip})
		}
		return a
	}
	withExternal := func(svc *corev1.Service, ips ...string) *corev1.Service {
		svc.Spec.ExternalIPs = ips
		return svc
	}
	anyIP := static(flotillav1alpha1.StaticAddressExternalIPs, "203.0.113.1")
	anyIP.AnyIP = true
	cases := []struct {
		name    string
		svc     *corev1.Service
		a       *provisioner.Addresses
		want    string
		waiting string // a substring of the wait message; "" for none
	}{
		{name: "no plan: the Service's own", svc: clusterIPService("10.0.0.1"), want: "[IPAddress=10.0.0.1]"},
		{name: "no static address: the Service's own", svc: clusterIPService("10.0.0.1"), a: &provisioner.Addresses{AnyIP: true},
			want: "[IPAddress=10.0.0.1]"},
		{name: "static cluster IP in use", svc: clusterIPService("10.96.200.10"), a: static(flotillav1alpha1.StaticAddressClusterIP, "10.96.200.10"),
			want: "[IPAddress=10.96.200.10]"},
		{name: "static cluster IP not (yet) the Service's", svc: clusterIPService("10.96.0.7"), a: static(flotillav1alpha1.StaticAddressClusterIP, "10.96.200.10"),
			want: "[]", waiting: "10.96.200.10 to appear in spec.clusterIP of Service fleet-svc"},
		{name: "externalIPs only, not the load balancer's unrelated ones",
			svc:  withExternal(loadBalancerService(corev1.LoadBalancerIngress{IP: "198.51.100.9"}), "203.0.113.1", "2001:db8::1"),
			a:    static(flotillav1alpha1.StaticAddressExternalIPs, "203.0.113.1", "2001:db8::1"),
			want: "[IPAddress=203.0.113.1 IPAddress=2001:db8::1]"},
		{name: "an empty entry as well: the Service's own too",
			svc: withExternal(loadBalancerService(corev1.LoadBalancerIngress{IP: "198.51.100.9"}), "203.0.113.1"), a: anyIP,
			want: "[IPAddress=203.0.113.1 IPAddress=198.51.100.9]"},
		{name: "loadBalancerIP waits for the load balancer", svc: loadBalancerService(corev1.LoadBalancerIngress{IP: "198.51.100.9"}),
			a: static(flotillav1alpha1.StaticAddressLoadBalancerIP, "198.51.100.1"), want: "[]",
			waiting: "198.51.100.1 to appear in the status of its load balancer (asked for in spec.loadBalancerIP)"},
		{name: "annotation honoured when the load balancer reports it", svc: loadBalancerService(corev1.LoadBalancerIngress{IP: "198.51.100.1"}),
			a: static(flotillav1alpha1.StaticAddressAnnotation, "198.51.100.1"), want: "[IPAddress=198.51.100.1]"},
		{name: "any host name, and the Service has only IPs", svc: clusterIPService("10.0.0.1"), a: &provisioner.Addresses{AnyHostname: true},
			want: "[IPAddress=10.0.0.1]", waiting: "asks for a host name"},
		{name: "any host name from the load balancer", svc: loadBalancerService(corev1.LoadBalancerIngress{Hostname: "lb.example.com"}),
			a: &provisioner.Addresses{AnyHostname: true}, want: "[Hostname=lb.example.com]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, waiting := gatewayAddresses(tc.svc, tc.a)
			if addrs(got) != tc.want {
				t.Errorf("addresses %s, want %s", addrs(got), tc.want)
			}
			if (tc.waiting == "") != (waiting == "") || !strings.Contains(waiting, tc.waiting) {
				t.Errorf("waiting %q, want %q", waiting, tc.waiting)
			}
		})
	}
}

func TestClusterIPProblem(t *testing.T) {
	a := &provisioner.Addresses{Carrier: flotillav1alpha1.StaticAddressClusterIP,
		Static: []provisioner.StaticAddress{{Index: 2, IP: "10.96.200.10"}}}
	desired := &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.96.200.10"}}
	if p := clusterIPProblem(clusterIPService("10.96.200.10"), desired, a); p != nil {
		t.Errorf("same address: %+v", p)
	}
	live := clusterIPService("10.96.0.7")
	live.Spec.ClusterIP = "10.96.0.7"
	p := clusterIPProblem(live, desired, a)
	if p == nil || p.Reason != gwapiv1.GatewayReasonAddressNotUsable || p.Index != 2 ||
		!strings.Contains(p.Message, "already has cluster IP 10.96.0.7") || !strings.Contains(p.Message, "delete Service team-a/fleet-svc") {
		t.Fatalf("problem %+v", p)
	}
	if desired.Spec.ClusterIP != "10.96.0.7" {
		t.Errorf("desired cluster IP %q, want the live one kept", desired.Spec.ClusterIP)
	}
	if p := clusterIPProblem(live, desired, &provisioner.Addresses{Carrier: flotillav1alpha1.StaticAddressExternalIPs}); p != nil {
		t.Errorf("other carrier: %+v", p)
	}
}
