package provisioner

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Defaults are the operator-level settings every fleet starts from (manager flags).
type Defaults struct {
	// EnvoyImage is the image used when the FleetClass names none.
	EnvoyImage string
	// XDSAddress is the host name (or IP) of the operator's xDS Service, as Envoys dial it. The xDS
	// server's certificate must carry it as a DNS (or IP) SAN: Envoy verifies it.
	XDSAddress string
	// XDSPort is the xDS Service's port.
	XDSPort int32
	// OperatorNamespace is the namespace the operator runs in.
	OperatorNamespace string
	// XDSTrust is the CA bundle (PEM) the xDS server's certificate chains to: Flotilla's CA
	// (the controller loads it; it is not a flag).
	XDSTrust []byte
}

// Built-in defaults, used when neither the FleetClass nor the FleetConfig says otherwise.
const (
	DefaultReplicas             int32 = 2
	DefaultLogLevel                   = flotillav1alpha1.EnvoyLogLevel("info")
	DefaultDrainTimeout               = 30 * time.Second
	DefaultServiceType                = flotillav1alpha1.ServiceTypeLoadBalancer
	DefaultAccessLogFormat            = flotillav1alpha1.AccessLogFormatJSON
	DefaultCertificateLifetime        = 24 * time.Hour
	DefaultTargetCPUUtilization int32 = 80
)

// Params are the effective parameters of one fleet, after Merge. Builders read nothing else.
type Params struct {
	// XDSTrust is Defaults.XDSTrust.
	XDSTrust []byte
	// Image is the Envoy container image.
	Image string
	// LogLevel is Envoy's --log-level.
	LogLevel flotillav1alpha1.EnvoyLogLevel
	// Concurrency is Envoy's --concurrency; nil lets Envoy choose.
	Concurrency *int32
	// DrainTimeout is Envoy's --drain-time-s, the preStop sleep and (plus 10s) the grace period.
	DrainTimeout time.Duration

	// Replicas is the fixed replica count; nil when Autoscaling is set.
	Replicas *int32
	// Autoscaling, when set, gives the fleet an HPA; TargetCPUUtilizationPercentage is never nil.
	Autoscaling *flotillav1alpha1.Autoscaling
	// Resources of the Envoy container.
	Resources corev1.ResourceRequirements
	// Scheduling places the Pods.
	Scheduling flotillav1alpha1.Scheduling
	// PodLabels and PodAnnotations are added to the Pods (class's, then team's).
	PodLabels      map[string]string
	PodAnnotations map[string]string
	// PodDisruptionBudget, when set, gives the fleet a PDB.
	PodDisruptionBudget *flotillav1alpha1.PodDisruptionBudgetSpec

	// Service configures the fleet's Service.
	Service ServiceParams

	// AccessLog and AccessLogFormat configure Envoy's access log (used by the xDS translator).
	AccessLog       bool
	AccessLogFormat flotillav1alpha1.AccessLogFormat
	// AccessLogSink is where the access log goes (OpenTelemetry: to Tracing's collector).
	AccessLogSink flotillav1alpha1.AccessLogSink
	// Tracing, when set, has the fleet trace with OpenTelemetry (resolve checks its collector).
	Tracing *Tracing
	// Prometheus exposes /stats/prometheus on the stats port and annotates the Pods for scraping.
	Prometheus bool
	// TrustedForwardedHops is how many X-Forwarded-For entries the Envoys skip to find the client
	// address (the class's clientAddress; used by the xDS translator).
	TrustedForwardedHops uint32

	// CertificateLifetime is the lifetime of the fleet's client certificate.
	CertificateLifetime time.Duration
	// CertManager, when set, has cert-manager issue the certificate.
	CertManager *flotillav1alpha1.CertManagerIssuer

	// InfrastructureLabels and InfrastructureAnnotations come from the Gateway's spec.infrastructure
	// and go on every fleet object (and the Pods).
	InfrastructureLabels      map[string]string
	InfrastructureAnnotations map[string]string

	// XDSAddress and XDSPort are where Envoy finds the operator's xDS server.
	XDSAddress string
	XDSPort    int32
	// OperatorNamespace is the operator's namespace (for the pki and events).
	OperatorNamespace string
}

// ServiceParams configure the fleet's Service.
type ServiceParams struct {
	Type        flotillav1alpha1.ServiceType
	Annotations map[string]string
	// ExternalTrafficPolicy is dropped for ClusterIP Services, LoadBalancerClass for all but
	// LoadBalancer ones (a team may change the type the class configured them for).
	ExternalTrafficPolicy *corev1.ServiceExternalTrafficPolicy
	LoadBalancerClass     *string
	// StaticAddresses, from the class only, lets the Gateway choose its addresses; nil, it may not.
	StaticAddresses *flotillav1alpha1.StaticAddresses
}

// defaultParams are the parameters of a fleet whose class has no FleetClass.
func defaultParams(d Defaults) Params {
	replicas := DefaultReplicas
	return Params{
		Image:               d.EnvoyImage,
		XDSTrust:            d.XDSTrust,
		LogLevel:            DefaultLogLevel,
		DrainTimeout:        DefaultDrainTimeout,
		Replicas:            &replicas,
		Service:             ServiceParams{Type: DefaultServiceType},
		AccessLog:           true,
		AccessLogFormat:     DefaultAccessLogFormat,
		AccessLogSink:       flotillav1alpha1.AccessLogSinkStdout,
		Prometheus:          true,
		CertificateLifetime: DefaultCertificateLifetime,
		XDSAddress:          d.XDSAddress,
		XDSPort:             d.XDSPort,
		OperatorNamespace:   d.OperatorNamespace,
	}
}

// applyClass lays the FleetClass's settings over the defaults. The class is trusted: the API
// server and FleetClass.Validate have checked it.
func applyClass(p *Params, className string, spec *flotillav1alpha1.FleetClassSpec) {
	if spec.Envoy.Image != "" {
		p.Image = spec.Envoy.Image
	}
	if spec.Envoy.LogLevel != "" {
		p.LogLevel = spec.Envoy.LogLevel
	}
	p.Concurrency = copyPtr(spec.Envoy.Concurrency)
	if spec.Envoy.DrainTimeout != nil {
		p.DrainTimeout = spec.Envoy.DrainTimeout.Duration
	}
	if spec.Replicas != nil {
		p.Replicas = copyPtr(spec.Replicas)
	}
	if spec.Autoscaling != nil {
		p.Replicas = nil
		p.Autoscaling = withTarget(spec.Autoscaling, nil)
	}
	if spec.Resources != nil {
		p.Resources = *spec.Resources.DeepCopy()
	}
	if spec.Scheduling != nil {
		p.Scheduling = *spec.Scheduling.DeepCopy()
	}
	if spec.Pod != nil {
		p.PodLabels = cloneMap(spec.Pod.Labels)
		p.PodAnnotations = cloneMap(spec.Pod.Annotations)
	}
	if spec.PodDisruptionBudget != nil {
		p.PodDisruptionBudget = spec.PodDisruptionBudget.DeepCopy()
	}
	if spec.Service.Type != "" {
		p.Service.Type = spec.Service.Type
	}
	p.Service.Annotations = cloneMap(spec.Service.Annotations)
	p.Service.ExternalTrafficPolicy = copyPtr(spec.Service.ExternalTrafficPolicy)
	p.Service.LoadBalancerClass = copyPtr(spec.Service.LoadBalancerClass)
	p.Service.StaticAddresses = spec.Service.StaticAddresses.DeepCopy()
	if e := spec.Telemetry.AccessLog.Enabled; e != nil {
		p.AccessLog = *e
	}
	if f := spec.Telemetry.AccessLog.Format; f != "" {
		p.AccessLogFormat = f
	}
	if sink := spec.Telemetry.AccessLog.Sink; sink != "" {
		p.AccessLogSink = sink
	}
	applyClassTracing(p, className, spec.Telemetry.Tracing)
	if e := spec.Telemetry.Prometheus.Enabled; e != nil {
		p.Prometheus = *e
	}
	if l := spec.Certificates.Lifetime; l != nil {
		p.CertificateLifetime = l.Duration
	}
	if ca := spec.ClientAddress; ca != nil && ca.TrustedForwardedHops > 0 {
		p.TrustedForwardedHops = uint32(ca.TrustedForwardedHops)
	}
	if cm := spec.Certificates.CertManager; cm != nil {
		p.CertManager = cm.DeepCopy()
	}
}

// withTarget copies a, filling an unset CPU target from fallback, else the built-in default.
func withTarget(a *flotillav1alpha1.Autoscaling, fallback *int32) *flotillav1alpha1.Autoscaling {
	out := a.DeepCopy()
	if out.TargetCPUUtilizationPercentage == nil {
		t := DefaultTargetCPUUtilization
		if fallback != nil {
			t = *fallback
		}
		out.TargetCPUUtilizationPercentage = &t
	}
	return out
}

func copyPtr[T any](v *T) *T {
	if v == nil {
		return nil
	}
	c := *v
	return &c
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
