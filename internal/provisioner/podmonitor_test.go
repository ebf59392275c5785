package provisioner

import (
	"os"
	"regexp"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// podMonitor is the part of config/prometheus/fleets.yaml the fleets must agree with.
type podMonitor struct {
	Spec struct {
		Selector struct {
			MatchLabels      map[string]string `json:"matchLabels"`
			MatchExpressions []struct {
				Key      string `json:"key"`
				Operator string `json:"operator"`
			} `json:"matchExpressions"`
		} `json:"selector"`
		PodMetricsEndpoints []struct {
			Port        string `json:"port"`
			Path        string `json:"path"`
			Relabelings []struct {
				SourceLabels []string `json:"sourceLabels"`
				TargetLabel  string   `json:"targetLabel"`
			} `json:"relabelings"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// The fleets' PodMonitor selects the fleet Pods by Flotilla's labels and scrapes the stats
// listener's named port and path; a class without Prometheus has no such port.
func TestPodMonitorScrapesFleets(t *testing.T) {
	data, err := os.ReadFile("../../config/prometheus/fleets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var pm podMonitor
	if err := yaml.Unmarshal(data, &pm); err != nil {
		t.Fatal(err)
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("%d endpoints, want 1", len(pm.Spec.PodMetricsEndpoints))
	}
	ep := pm.Spec.PodMetricsEndpoints[0]

	gw := testGateway()
	p, _ := Merge(gw, nil, nil, testDefaults)
	if !p.Prometheus {
		t.Fatal("Prometheus is off by default; the PodMonitor would scrape nothing")
	}
	dep := Deployment(gw, p, "sum")
	pod := dep.Spec.Template
	for k, v := range pm.Spec.Selector.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("the Pod's label %s = %q, the PodMonitor selects %q", k, pod.Labels[k], v)
		}
	}
	for _, e := range pm.Spec.Selector.MatchExpressions {
		if _, ok := pod.Labels[e.Key]; e.Operator != "Exists" || !ok {
			t.Errorf("the PodMonitor selects %s %s; the Pod's labels are %v", e.Key, e.Operator, pod.Labels)
		}
	}
	if port := metricsPort(dep, ep.Port); port != StatsPort {
		t.Errorf("container port %q = %d, want the stats port %d", ep.Port, port, StatsPort)
	}
	if ep.Path != StatsPath {
		t.Errorf("the PodMonitor scrapes %q, the stats listener serves %q", ep.Path, StatsPath)
	}
	// The fleet label comes from the Pod's Gateway-name label.
	sanitize := regexp.MustCompile(`[^a-zA-Z0-9_]`)
	want := "__meta_kubernetes_pod_label_" + sanitize.ReplaceAllString(LabelGatewayName, "_")
	found := false
	for _, r := range ep.Relabelings {
		if r.TargetLabel == "fleet" {
			found = len(r.SourceLabels) == 2 && r.SourceLabels[0] == "__meta_kubernetes_namespace" && r.SourceLabels[1] == want
		}
	}
	if !found || pod.Labels[LabelGatewayName] != gw.Name {
		t.Errorf("fleet is not relabelled from namespace and %s (Pod label %q)", want, pod.Labels[LabelGatewayName])
	}

	p.Prometheus = false
	if port := metricsPort(Deployment(gw, p, "sum"), ep.Port); port != 0 {
		t.Errorf("without Prometheus the Pod still has port %q", ep.Port)
	}
}

func metricsPort(dep *appsv1.Deployment, name string) int32 {
	for _, c := range dep.Spec.Template.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == name {
				return cp.ContainerPort
			}
		}
	}
	return 0
}

// The stats listener exposes StatsPath and nothing else of the admin interface, which listens on
// 127.0.0.1 only: scraping a fleet cannot reach the admin API.
func TestStatsListenerServesStatsOnly(t *testing.T) {
	l := statsListener()
	var hcm hcmv3.HttpConnectionManager
	if err := l.FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	vhs := hcm.GetRouteConfig().GetVirtualHosts()
	if len(vhs) != 1 || len(vhs[0].Routes) != 1 {
		t.Fatalf("virtual hosts %v, want one with one route", vhs)
	}
	r := vhs[0].Routes[0]
	if path, ok := r.Match.PathSpecifier.(*routev3.RouteMatch_Path); !ok || path.Path != StatsPath {
		t.Errorf("the stats route matches %v, want exactly %s", r.Match.PathSpecifier, StatsPath)
	}
	if r.GetRoute().GetCluster() != adminClusterName {
		t.Errorf("the stats route goes to %q", r.GetRoute().GetCluster())
	}
	if a := adminCluster().LoadAssignment.Endpoints[0].LbEndpoints[0].GetEndpoint().Address.GetSocketAddress(); a.Address != "127.0.0.1" || a.GetPortValue() != uint32(AdminPort) {
		t.Errorf("the admin cluster reaches %s:%d", a.Address, a.GetPortValue())
	}
}
