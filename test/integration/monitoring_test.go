package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/pki"
)

// notOurs are the metrics the dashboard and the alerts use that Flotilla's manager does not
// export, with where they come from.
var notOurs = map[string]string{
	// Envoy's own stats, scraped from the fleets' stats listener (/stats/prometheus on the
	// "metrics" port, config/prometheus/fleets.yaml). http.<stat_prefix>.* of the HTTP connection
	// managers (Flotilla's stat_prefix is <protocol>-<port>), cluster.<name>.* of the backend
	// clusters, listener.<address>.* and control_plane.*.
	"envoy_http_downstream_rq_total":        "Envoy",
	"envoy_http_downstream_rq_xx":           "Envoy",
	"envoy_http_downstream_cx_active":       "Envoy",
	"envoy_listener_downstream_cx_active":   "Envoy",
	"envoy_cluster_upstream_rq_time_bucket": "Envoy (histogram upstream_rq_time, milliseconds)",
	"envoy_cluster_upstream_rq_xx":          "Envoy",
	"envoy_control_plane_connected_state":   "Envoy",
	// kube-state-metrics, with the fleet Deployments' labels allowed (docs/operating.md).
	"kube_deployment_labels":                    "kube-state-metrics",
	"kube_deployment_status_replicas_available": "kube-state-metrics",
}

// registered says whether the manager's registry has a collector of the metric name: registering
// a probe of that name fails exactly when one is (same name, other help or labels, or the same).
func registered(name string) bool {
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe of TestMonitoringMetricsAreExported"})
	if err := ctrlmetrics.Registry.Register(probe); err != nil {
		return true
	}
	ctrlmetrics.Registry.Unregister(probe)
	return false
}

// Every metric the dashboard and the alerts use (config/prometheus/metrics-used.txt, which the
// PromQL parser in hack/tools/promtool extracts) is registered by the running manager, with its
// controllers and xDS server set up, or is Envoy's or kube-state-metrics' (notOurs).
func TestMonitoringMetricsAreExported(t *testing.T) {
	if registered("flotilla_no_such_metric") {
		t.Fatal("the probe finds a metric that does not exist")
	}
	if !registered("flotilla_xds_nacks_total") || !registered("controller_runtime_reconcile_total") {
		t.Fatal("the probe does not find metrics the manager registers")
	}
	f, err := os.Open("../../config/prometheus/metrics-used.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	used := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			used[line] = true
		}
	}
	if len(used) == 0 {
		t.Fatal("metrics-used.txt lists no metric")
	}
	for name := range used {
		if _, ok := notOurs[name]; ok {
			continue
		}
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && !registered(name) {
				base = b
			}
		}
		if !registered(base) {
			t.Errorf("%s is used by the dashboard or the alerts but the manager does not register it", name)
		}
	}
	for name := range notOurs {
		if !used[name] {
			t.Errorf("notOurs lists %s, which nothing uses any more", name)
		}
	}

	// metrics-used.txt is not stale: every flotilla_ name in the rules and the dashboard (queries
	// and descriptions) is in it.
	nameRE := regexp.MustCompile(`\bflotilla_[a-z0-9_]+`)
	for _, file := range []string{"../../config/prometheus/rules.yaml", "../../config/grafana/flotilla-dashboard.json"} {
		data, err := os.ReadFile(file)
		if errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: missing", file)
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		for _, n := range nameRE.FindAllString(string(data), -1) {
			if !used[n] && !used[n+"_bucket"] { // descriptions name a histogram by its base name
				t.Errorf("%s uses %s, which metrics-used.txt does not list: run `cd hack/tools/promtool && go test -run TestExpressionsParse -update`", file, n)
			}
		}
	}
}

// config/prometheus builds with kustomize (make test sets KUSTOMIZE) into the ServiceMonitor, the
// fleets' PodMonitor and the PrometheusRule.
func TestMonitoringKustomization(t *testing.T) {
	kustomize := os.Getenv("KUSTOMIZE")
	if kustomize == "" {
		t.Skip("KUSTOMIZE is not set (make test sets it)")
	}
	out, err := exec.Command(kustomize, "build", "../../config/prometheus").CombinedOutput()
	if err != nil {
		t.Fatalf("kustomize build config/prometheus: %v\n%s", err, out)
	}
	for _, kind := range []string{"ServiceMonitor", "PodMonitor", "PrometheusRule"} {
		if !regexp.MustCompile(`(?m)^kind: ` + kind + `$`).Match(out) {
			t.Errorf("kustomize build config/prometheus has no %s", kind)
		}
	}
}

// sample is the value of the manager's series name{labels...}, and whether it exists.
func sample(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue(), true
			}
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// The series the alerts rest on, from the real manager: a Programmed Gateway has
// flotilla_fleet_programmed 1, its certificate's expiry and renewal time, a published fleet has a
// connected_clients series at 0 before any Envoy connects (FlotillaFleetDisconnected compares it
// with 0), and all of them go with the Gateway.
func TestMonitoringFleetMetrics(t *testing.T) {
	tenantClass(t, "monitoring", nil)
	namespace(t, "monitoring-a", nil)
	gw := gateway("monitoring-a", "web", "monitoring", nil)
	create(t, gw)
	gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)
	const fleet = "monitoring-a/web"

	secret := &corev1.Secret{}
	if err := k8s.Get(context.Background(), fleetName(gw), secret); err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCert(secret.Data["tls.crt"])
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func(context.Context) error {
		if v, ok := sample(t, "flotilla_fleet_programmed", map[string]string{"fleet": fleet, "reason": "Programmed"}); !ok || v != 1 {
			return fmt.Errorf("flotilla_fleet_programmed = %v (exists %v), want 1", v, ok)
		}
		if v, ok := sample(t, "flotilla_certificate_expiration_timestamp_seconds", map[string]string{"kind": "fleet", "fleet": fleet}); !ok || v != float64(cert.NotAfter.Unix()) {
			return fmt.Errorf("certificate expiration = %v (exists %v), want %d", v, ok, cert.NotAfter.Unix())
		}
		if v, ok := sample(t, "flotilla_certificate_renewal_timestamp_seconds", map[string]string{"kind": "fleet", "fleet": fleet}); !ok || v != float64(pki.RenewAt(cert).Unix()) {
			return fmt.Errorf("certificate renewal = %v (exists %v), want %d", v, ok, pki.RenewAt(cert).Unix())
		}
		if _, ok := sample(t, "flotilla_certificate_expiration_timestamp_seconds", map[string]string{"kind": "ca"}); !ok {
			return errors.New("no CA expiration series")
		}
		if v, ok := sample(t, "flotilla_xds_connected_clients", map[string]string{"fleet": fleet}); !ok || v != 0 {
			return fmt.Errorf("flotilla_xds_connected_clients = %v (exists %v), want a series at 0", v, ok)
		}
		if _, ok := sample(t, "flotilla_xds_translation_failed", map[string]string{"fleet": fleet}); ok {
			return errors.New("flotilla_xds_translation_failed exists for a fleet that translates")
		}
		return nil
	})

	if err := k8s.Delete(context.Background(), gw); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func(context.Context) error {
		for _, name := range []string{"flotilla_fleet_programmed", "flotilla_certificate_expiration_timestamp_seconds", "flotilla_xds_connected_clients"} {
			if _, ok := sample(t, name, map[string]string{"fleet": fleet}); ok {
				return fmt.Errorf("%s still has the deleted Gateway's series", name)
			}
		}
		return nil
	})
}
