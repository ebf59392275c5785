// Package promtool holds the tests of Flotilla's monitoring: the PrometheusRule in
// config/prometheus/rules.yaml is checked and unit-tested with promtool (built from this module's
// pinned Prometheus and cached by hack/promtool.sh), every rule expression and every query of the
// Grafana dashboard in config/grafana is parsed with the PromQL parser, and the metric names they
// use are kept in config/prometheus/metrics-used.txt, which the main module's tests check against
// what the manager registers. The module exists so that the manager does not link Prometheus.
package promtool

// The tool directive in go.mod pins cmd/promtool; this package has no code of its own.
