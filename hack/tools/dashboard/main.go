// Command dashboard writes Flotilla's Grafana dashboard (config/grafana/flotilla-dashboard.json):
// the manager's metrics (reconciles, resolutions, translation, publishes, xDS clients, NACKs, API
// writes, certificates) and the fleets' Envoy stats, as the PodMonitor in
// config/prometheus/fleets.yaml labels them (fleet="<namespace>/<gateway>"). `make dashboard`
// runs it; its test fails when the checked-in JSON is stale. It is a module of its own so that the
// manager does not link the Grafana SDK.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

func main() {
	out := flag.String("o", "", "write the dashboard to this file (default: stdout)")
	flag.Parse()
	data, err := Render()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *out == "" {
		os.Stdout.Write(data)
		return
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Selectors the queries share.
const (
	// manager selects controller-runtime's own metrics of Flotilla's manager (every operator
	// exports them); Flotilla's flotilla_* metrics need no selector.
	manager = `job=~".*flotilla.*"`
	fleet   = `fleet=~"$fleet"`
	// gatewayHCM selects the HTTP connection managers of the Gateway listeners: Flotilla sets their
	// stat_prefix to <protocol>-<port> (http-80, https-443); the bootstrap's health and stats
	// listeners and Envoy's admin are left out.
	gatewayHCM = fleet + `, envoy_http_conn_manager_prefix!~"admin|health|stats"`
	// gatewayListeners leaves out the bootstrap's admin, health and stats ports.
	gatewayListeners = fleet + `, envoy_listener_address!~".*_1900[0-2]"`
	rate             = "[$__rate_interval]"
)

var ds = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(ds).Expr(expr).LegendFormat(legend).Range()
}

func graph(title, description, unit string, queries ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().Title(title).Description(description).Datasource(ds).
		Unit(unit).Min(0).Height(8).Span(8).FillOpacity(10).
		Legend(common.NewVizLegendOptionsBuilder().ShowLegend(true).DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementBottom))
	for i, q := range queries {
		p.WithTarget(q.RefId(string(rune('A' + i))))
	}
	return p
}

func single(title, description, unit string, q *prometheus.DataqueryBuilder) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Title(title).Description(description).Datasource(ds).Unit(unit).
		Height(4).Span(6).ColorMode(common.BigValueColorModeValue).GraphMode(common.BigValueGraphModeArea).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		WithTarget(q.RefId("A"))
}

// Build is the dashboard.
func Build() (dashboard.Dashboard, error) {
	b := dashboard.NewDashboardBuilder("Flotilla").
		Uid("flotilla").
		Description("Flotilla's manager (controllers, xDS, certificates) and its fleets' Envoys. Runbooks: docs/operating.md.").
		Tags([]string{"flotilla", "gateway-api", "envoy"}).
		Refresh("30s").Time("now-3h", "now").Timezone("browser").Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder("fleet").Label("Fleet").Datasource(ds).
			Description("Gateways (namespace/name) with a published fleet").
			Query(dashboard.StringOrMap{String: cog.ToPtr("label_values(flotilla_xds_connected_clients, fleet)")}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc).
			Multi(true).IncludeAll(true).AllValue(".*"))

	b.WithRow(dashboard.NewRowBuilder("Fleets at a glance")).
		WithPanel(single("Programmed Gateways", "Gateways whose Programmed condition is True (flotilla_fleet_programmed, from the leader).", "none",
			query(`sum(max by (fleet) (flotilla_fleet_programmed{`+fleet+`}))`, "programmed"))).
		WithPanel(single("Gateways not Programmed", "Gateways whose Programmed condition is not True; see FlotillaFleetNotProgrammed.", "none",
			query(`count(max by (fleet) (flotilla_fleet_programmed{`+fleet+`}) == 0) or vector(0)`, "not programmed"))).
		WithPanel(single("Connected Envoys", "xDS streams with a verified fleet identity, all replicas.", "none",
			query(`sum(flotilla_xds_connected_clients{`+fleet+`})`, "envoys"))).
		WithPanel(single("Failing translations", "Fleets whose latest translation failed on some replica; see FlotillaTranslationFailed.", "none",
			query(`count(max by (fleet) (flotilla_xds_translation_failed{`+fleet+`}) > 0) or vector(0)`, "failing")))

	b.WithRow(dashboard.NewRowBuilder("Manager: controllers")).
		WithPanel(graph("Reconciles by controller", "controller_runtime_reconcile_total, per second.", "ops",
			query(`sum by (controller) (rate(controller_runtime_reconcile_total{`+manager+`}`+rate+`))`, "{{controller}}"))).
		WithPanel(graph("Reconcile errors by controller", "controller_runtime_reconcile_errors_total, per second; see FlotillaReconcileErrors.", "ops",
			query(`sum by (controller) (rate(controller_runtime_reconcile_errors_total{`+manager+`}`+rate+`))`, "{{controller}}"))).
		WithPanel(graph("Reconcile time p99 by controller", "controller_runtime_reconcile_time_seconds.", "s",
			query(`histogram_quantile(0.99, sum by (controller, le) (rate(controller_runtime_reconcile_time_seconds_bucket{`+manager+`}`+rate+`)))`, "{{controller}}"))).
		WithPanel(graph("Work queue depth", "workqueue_depth by controller queue.", "none",
			query(`sum by (name) (workqueue_depth{`+manager+`})`, "{{name}}"))).
		WithPanel(graph("Fleet resolutions", "flotilla_fleet_resolutions_total per second, by replica: one per input change per replica.", "ops",
			query(`sum by (instance) (rate(flotilla_fleet_resolutions_total`+rate+`))`, "{{instance}}"))).
		WithPanel(graph("API server writes", "flotilla_apiserver_writes_total per second by kind and verb: flat at steady state.", "ops",
			query(`sum by (kind, verb) (rate(flotilla_apiserver_writes_total`+rate+`))`, "{{verb}} {{kind}}")))

	b.WithRow(dashboard.NewRowBuilder("Manager: xDS")).
		WithPanel(graph("Translation time", "flotilla_xds_translation_duration_seconds: resolve and translate one fleet.", "s",
			query(`histogram_quantile(0.5, sum by (le) (rate(flotilla_xds_translation_duration_seconds_bucket`+rate+`)))`, "p50"),
			query(`histogram_quantile(0.99, sum by (le) (rate(flotilla_xds_translation_duration_seconds_bucket`+rate+`)))`, "p99"))).
		WithPanel(graph("Translation failures", "flotilla_xds_translation_failures_total per second (a Flotilla bug when not zero).", "ops",
			query(`sum by (instance) (rate(flotilla_xds_translation_failures_total`+rate+`))`, "{{instance}}"))).
		WithPanel(graph("Snapshot publishes by fleet", "flotilla_xds_snapshot_publish_total per second: publishes that changed something.", "ops",
			query(`sum by (fleet) (rate(flotilla_xds_snapshot_publish_total{`+fleet+`}`+rate+`))`, "{{fleet}}"))).
		WithPanel(graph("Connected xDS clients by fleet", "flotilla_xds_connected_clients summed over the replicas; see FlotillaFleetDisconnected.", "none",
			query(`sum by (fleet) (flotilla_xds_connected_clients{`+fleet+`})`, "{{fleet}}"))).
		WithPanel(graph("xDS pushes by type", "flotilla_xds_pushes_total per second.", "ops",
			query(`sum by (type) (rate(flotilla_xds_pushes_total{`+fleet+`}`+rate+`))`, "{{type}}"))).
		WithPanel(graph("NACKs by fleet and type", "flotilla_xds_nacks_total: configurations Envoy rejected; see FlotillaEnvoyConfigRejected.", "none",
			query(`sum by (fleet, type) (increase(flotilla_xds_nacks_total{`+fleet+`}`+rate+`))`, "{{fleet}} {{type}}"))).
		WithPanel(graph("Refused xDS streams by reason", "flotilla_xds_refused_streams_total per second.", "ops",
			query(`sum by (reason) (rate(flotilla_xds_refused_streams_total`+rate+`))`, "{{reason}}"))).
		WithPanel(graph("Certificate time left", "flotilla_certificate_expiration_timestamp_seconds - time(): the built-in CA and each fleet's xDS client certificate; renewal is due at two thirds of the life.", "s",
			query(`min by (kind, fleet) (flotilla_certificate_expiration_timestamp_seconds{fleet=~"$fleet|"}) - time()`, "{{kind}} {{fleet}}"))).
		WithPanel(graph("Certificate renewal overdue", "time() - flotilla_certificate_renewal_timestamp_seconds where positive; see FlotillaCertificateRenewalOverdue.", "s",
			query(`(time() - max by (kind, fleet) (flotilla_certificate_renewal_timestamp_seconds{kind="fleet", `+fleet+`})) > 0`, "{{fleet}}")))

	b.WithRow(dashboard.NewRowBuilder("Fleets: Envoy")).
		WithPanel(graph("Downstream requests by fleet", "envoy_http_downstream_rq_total of the Gateway listeners' HTTP connection managers (stat_prefix <protocol>-<port>).", "reqps",
			query(`sum by (fleet) (rate(envoy_http_downstream_rq_total{`+gatewayHCM+`}`+rate+`))`, "{{fleet}}"))).
		WithPanel(graph("Downstream requests by listener", "envoy_http_downstream_rq_total by envoy_http_conn_manager_prefix (http-80, https-443...).", "reqps",
			query(`sum by (fleet, envoy_http_conn_manager_prefix) (rate(envoy_http_downstream_rq_total{`+gatewayHCM+`}`+rate+`))`, "{{fleet}} {{envoy_http_conn_manager_prefix}}"))).
		WithPanel(graph("5xx ratio by fleet", "envoy_http_downstream_rq_xx{envoy_response_code_class=\"5\"} over envoy_http_downstream_rq_total.", "percentunit",
			query(`sum by (fleet) (rate(envoy_http_downstream_rq_xx{`+gatewayHCM+`, envoy_response_code_class="5"}`+rate+`)) / sum by (fleet) (rate(envoy_http_downstream_rq_total{`+gatewayHCM+`}`+rate+`))`, "{{fleet}}"))).
		WithPanel(graph("Upstream latency p99 by fleet", "envoy_cluster_upstream_rq_time (milliseconds), all backend clusters.", "ms",
			query(`histogram_quantile(0.99, sum by (fleet, le) (rate(envoy_cluster_upstream_rq_time_bucket{`+fleet+`}`+rate+`)))`, "{{fleet}}"))).
		WithPanel(graph("Upstream latency p99 by backend", "envoy_cluster_upstream_rq_time by envoy_cluster_name (Flotilla names clusters <namespace>/<service>/<port>/<protocol>).", "ms",
			query(`histogram_quantile(0.99, sum by (fleet, envoy_cluster_name, le) (rate(envoy_cluster_upstream_rq_time_bucket{`+fleet+`}`+rate+`)))`, "{{envoy_cluster_name}}"))).
		WithPanel(graph("Upstream 5xx by backend", "envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"5\"} per second.", "reqps",
			query(`sum by (fleet, envoy_cluster_name) (rate(envoy_cluster_upstream_rq_xx{`+fleet+`, envoy_response_code_class="5"}`+rate+`))`, "{{envoy_cluster_name}}"))).
		WithPanel(graph("Active downstream connections", "envoy_http_downstream_cx_active (HTTP listeners) and envoy_listener_downstream_cx_active (every Gateway listener, TCP/TLS/UDP too).", "none",
			query(`sum by (fleet) (envoy_http_downstream_cx_active{`+gatewayHCM+`})`, "{{fleet}} HTTP"),
			query(`sum by (fleet) (envoy_listener_downstream_cx_active{`+gatewayListeners+`})`, "{{fleet}} all listeners"))).
		WithPanel(graph("Envoys connected to the control plane", "envoy_control_plane_connected_state: Envoy's own view of its xDS stream (1 connected).", "none",
			query(`sum by (fleet) (envoy_control_plane_connected_state{`+fleet+`})`, "{{fleet}}")))
	return b.Build()
}

// Render is the dashboard as indented JSON with a final newline.
func Render() ([]byte, error) {
	d, err := Build()
	if err != nil {
		return nil, fmt.Errorf("building the dashboard: %w", err)
	}
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}
