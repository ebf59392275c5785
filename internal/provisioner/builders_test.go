package provisioner

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestBuild(t *testing.T) {
	gw := testGateway()
	gw.Spec.Listeners = append(gw.Spec.Listeners,
		gwapiv1.Listener{Name: "dns", Protocol: gwapiv1.UDPProtocolType, Port: 53},
		gwapiv1.Listener{Name: "https", Protocol: gwapiv1.HTTPSProtocolType, Port: 443})
	p, _ := Merge(gw, nil, nil, testDefaults)
	fleet, err := Build(gw, p)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range fleet.Objects {
		gvk := o.GetObjectKind().GroupVersionKind()
		kinds = append(kinds, gvk.Kind)
		if gvk.Version == "" || o.GetNamespace() != "team-a" || o.GetName() != "flotilla-web" || len(o.GetOwnerReferences()) != 0 {
			t.Errorf("%s: apiVersion %q, namespace %q, name %q, ownerRefs %v", gvk.Kind, gvk.GroupVersion(), o.GetNamespace(), o.GetName(), o.GetOwnerReferences())
		}
		if o.GetLabels()[LabelFleet] != FleetHash(gw) {
			t.Errorf("%s lacks the fleet label", gvk.Kind)
		}
	}
	if got, want := fmt.Sprint(kinds), "[ConfigMap Deployment Service ServiceAccount]"; got != want {
		t.Errorf("kinds %s, want %s", got, want)
	}

	cm := fleet.Objects[0].(*corev1.ConfigMap)
	_, sum, _ := Bootstrap(gw, p)
	if cm.Data[BootstrapKey] == "" || fleet.BootstrapChecksum != sum {
		t.Errorf("ConfigMap/checksum mismatch: %q vs %q", fleet.BootstrapChecksum, sum)
	}
	d := Deployment(gw, p, fleet.BootstrapChecksum)
	if d.Spec.Template.Annotations[AnnotationBootstrapChecksum] != sum {
		t.Errorf("pod template checksum %q, want %q", d.Spec.Template.Annotations[AnnotationBootstrapChecksum], sum)
	}

	// Every Service port reaches a container port of the same number and protocol.
	svc, _ := Service(gw, p)
	containerPorts := map[string]corev1.ContainerPort{}
	for _, cp := range d.Spec.Template.Spec.Containers[0].Ports {
		containerPorts[cp.Name] = cp
	}
	if len(svc.Spec.Ports) != 3 {
		t.Errorf("Service ports %v, want 3", svc.Spec.Ports)
	}
	for _, sp := range svc.Spec.Ports {
		cp, ok := containerPorts[sp.Name]
		if !ok || cp.ContainerPort != sp.TargetPort.IntVal || cp.Protocol != sp.Protocol || sp.TargetPort.IntVal != ContainerPort(sp.Port) {
			t.Errorf("Service port %+v has no matching container port (%+v)", sp, cp)
		}
	}
}

func TestDeploymentDrainAndAutoscaling(t *testing.T) {
	gw := testGateway()
	p, _ := Merge(gw, nil, nil, testDefaults)
	p.DrainTimeout = 0
	p.Replicas = nil
	p.Autoscaling = &flotillav1alpha1.Autoscaling{MinReplicas: 2, MaxReplicas: 4, TargetCPUUtilizationPercentage: ptr.To[int32](60)}
	d := Deployment(gw, p, "x")
	c := d.Spec.Template.Spec.Containers[0]
	if d.Spec.Replicas != nil {
		t.Errorf("replicas %v with autoscaling, want unset", *d.Spec.Replicas)
	}
	if c.Lifecycle != nil || *d.Spec.Template.Spec.TerminationGracePeriodSeconds != 10 {
		t.Errorf("drain 0: lifecycle %+v, grace %d", c.Lifecycle, *d.Spec.Template.Spec.TerminationGracePeriodSeconds)
	}
	hpa := HorizontalPodAutoscaler(gw, p)
	if hpa == nil || *hpa.Spec.MinReplicas != 2 || hpa.Spec.MaxReplicas != 4 || *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization != 60 ||
		hpa.Spec.ScaleTargetRef.Name != d.Name {
		t.Errorf("HPA %+v", hpa)
	}
	if PodDisruptionBudget(gw, p) != nil {
		t.Error("PDB without one configured")
	}

	p.DrainTimeout = 90 * time.Second
	p.Concurrency = ptr.To[int32](2)
	d = Deployment(gw, p, "x")
	c = d.Spec.Template.Spec.Containers[0]
	if c.Lifecycle.PreStop.Sleep.Seconds != 90 || *d.Spec.Template.Spec.TerminationGracePeriodSeconds != 100 {
		t.Errorf("drain 90s: preStop %+v, grace %d", c.Lifecycle.PreStop, *d.Spec.Template.Spec.TerminationGracePeriodSeconds)
	}
	if got := fmt.Sprint(c.Args); got != "[--service-node $(POD_NAME) -c /etc/envoy/bootstrap.yaml --log-level info --drain-time-s 90 --drain-strategy immediate --concurrency 2]" {
		t.Errorf("args %s", got)
	}
}

func TestServiceTypeFields(t *testing.T) {
	gw := testGateway()
	local := corev1.ServiceExternalTrafficPolicyLocal
	for _, tt := range []struct {
		typ         flotillav1alpha1.ServiceType
		wantETP     bool
		wantLBClass bool
	}{
		{flotillav1alpha1.ServiceTypeLoadBalancer, true, true},
		{flotillav1alpha1.ServiceTypeNodePort, true, false},
		{flotillav1alpha1.ServiceTypeClusterIP, false, false},
	} {
		p, _ := Merge(gw, nil, nil, testDefaults)
		p.Service = ServiceParams{Type: tt.typ, ExternalTrafficPolicy: &local, LoadBalancerClass: ptr.To("example.com/lb")}
		svc, _ := Service(gw, p)
		if got := svc.Spec.ExternalTrafficPolicy == local; got != tt.wantETP {
			t.Errorf("%s: externalTrafficPolicy %q", tt.typ, svc.Spec.ExternalTrafficPolicy)
		}
		if got := svc.Spec.LoadBalancerClass != nil; got != tt.wantLBClass {
			t.Errorf("%s: loadBalancerClass %v", tt.typ, svc.Spec.LoadBalancerClass)
		}
	}

	gw.Spec.Listeners = []gwapiv1.Listener{{Name: "admin", Protocol: gwapiv1.HTTPProtocolType, Port: 19000}}
	p, _ := Merge(gw, nil, nil, testDefaults)
	if svc, _ := Service(gw, p); svc != nil {
		t.Errorf("Service for a Gateway with only a reserved port: %+v", svc.Spec.Ports)
	}
}

func TestSecret(t *testing.T) {
	gw := withInfra(map[string]string{"team": "a"}, nil)
	p, _ := Merge(gw, nil, nil, testDefaults)
	s := Secret(gw, p)
	if s.Name != SecretName(gw) || s.Namespace != "team-a" || s.Type != corev1.SecretTypeTLS || s.Data == nil || len(s.Data) != 0 ||
		s.Kind != "Secret" || s.Labels["team"] != "a" || s.Labels[LabelFleet] != FleetHash(gw) {
		t.Errorf("Secret skeleton %+v", s)
	}
}
