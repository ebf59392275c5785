package v1alpha1

import (
	"fmt"
	"strconv"
)

// AccessLogSink is where Envoy's access log goes.
// +kubebuilder:validation:Enum=Stdout;OpenTelemetry
type AccessLogSink string

// Access log sinks.
const (
	// AccessLogSinkStdout writes the access log to the Envoy container's stdout.
	AccessLogSinkStdout AccessLogSink = "Stdout"
	// AccessLogSinkOpenTelemetry sends every access log entry as an OTLP log record (gRPC) to the
	// tracing collector (telemetry.tracing.collector).
	AccessLogSinkOpenTelemetry AccessLogSink = "OpenTelemetry"
)

// Percent is a percentage between 0 and 100 with at most three decimals, written as a string
// ("1", "0.5", "100") so that no float reaches the API.
// +kubebuilder:validation:MaxLength=7
// +kubebuilder:validation:Pattern=`^(100(\.0{1,3})?|[0-9]{1,2}(\.[0-9]{1,3})?)$`
type Percent string

// Value is the percentage as a number; an unparsable value (one the schema would have refused)
// is reported as an error.
func (p Percent) Value() (float64, error) {
	v, err := strconv.ParseFloat(string(p), 64)
	if err != nil || v < 0 || v > 100 {
		return 0, fmt.Errorf("%q is not a percentage between 0 and 100", string(p))
	}
	return v, nil
}

// Tracing has the fleet's Envoys trace requests with OpenTelemetry: every HTTP connection manager
// gets Envoy's OpenTelemetry tracer, which exports spans over OTLP/gRPC to the collector.
type Tracing struct {
	// Collector receives the spans (OTLP over gRPC, plaintext HTTP/2).
	Collector TracingCollector `json:"collector"`

	// SamplingPercent is the share of requests without a sampling decision of their own that are
	// traced (Envoy's random_sampling). Defaults to "1". Teams may change it through a FleetConfig
	// within tenancy.overrides.tracingSampling.
	// +optional
	SamplingPercent *Percent `json:"samplingPercent,omitempty"`

	// ServiceName is the OpenTelemetry service.name of the fleet's spans. Defaults to
	// "<gateway-namespace>/<gateway-name>", the fleet key.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ServiceName string `json:"serviceName,omitempty"`

	// ResourceAttributes are added to the OpenTelemetry resource of every span (and OTLP access
	// log record), beside the ones Flotilla sets: k8s.namespace.name (the Gateway's namespace) and
	// gateway.flotilla.dev/gateway (its name), which these cannot replace.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	ResourceAttributes map[string]string `json:"resourceAttributes,omitempty"`
}

// TracingCollector is an OTLP/gRPC collector: a Service of the cluster or an address.
// +kubebuilder:validation:XValidation:rule="has(self.service) != has(self.address)",message="exactly one of service and address must be set"
type TracingCollector struct {
	// Service is a Service of the cluster, reached by its DNS name. A FleetClass may name one in
	// any namespace (the platform admin's reference is trusted); a FleetConfig only one in the
	// Gateway's namespace, or in another one whose ReferenceGrant allows FleetConfigs of the
	// Gateway's namespace to refer to the Service.
	// +optional
	Service *CollectorServiceRef `json:"service,omitempty"`

	// Address is "host:port" of a collector outside the cluster (or one not behind a Service),
	// resolved by DNS.
	// +optional
	// +kubebuilder:validation:MaxLength=261
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?:[0-9]{1,5}$`
	Address string `json:"address,omitempty"`
}

// CollectorServiceRef names a Service port of an OTLP/gRPC collector.
type CollectorServiceRef struct {
	// Name of the Service.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Namespace of the Service. Defaults to the Gateway's namespace.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// Port is the Service port of the collector's OTLP/gRPC receiver. Defaults to 4317.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port *int32 `json:"port,omitempty"`
}

// SamplingBounds are the sampling percentages a team may choose.
// +kubebuilder:validation:XValidation:rule="double(self.minPercent) <= double(self.maxPercent)",message="minPercent must not exceed maxPercent"
type SamplingBounds struct {
	// MinPercent is the lowest sampling percentage a team may ask for.
	MinPercent Percent `json:"minPercent"`
	// MaxPercent is the highest sampling percentage a team may ask for.
	MaxPercent Percent `json:"maxPercent"`
}

// FleetConfigTelemetry is the part of the telemetry a team may change.
type FleetConfigTelemetry struct {
	// Tracing changes the tracing of the class (which must configure it).
	// +optional
	Tracing *FleetConfigTracing `json:"tracing,omitempty"`
}

// FleetConfigTracing is the part of the tracing a team may change.
type FleetConfigTracing struct {
	// SamplingPercent replaces the class's (bound: the class's overrides.tracingSampling).
	// +optional
	SamplingPercent *Percent `json:"samplingPercent,omitempty"`

	// Collector replaces the class's collector (allowed when the class sets
	// overrides.tracingCollector). A Service in another namespace needs a ReferenceGrant there.
	// +optional
	Collector *TracingCollector `json:"collector,omitempty"`
}
