package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FleetClassSpec is what a platform admin sets for every Gateway of the GatewayClasses that reference
// this FleetClass: how their Envoy fleets run, and what teams may change about them.
// An empty spec gives a working fleet: two Envoy replicas behind a LoadBalancer Service.
// +kubebuilder:validation:XValidation:rule="!(has(self.replicas) && has(self.autoscaling))",message="replicas and autoscaling are mutually exclusive"
type FleetClassSpec struct {
	// Envoy configures the Envoy proxies of each fleet.
	// +optional
	// +kubebuilder:default={}
	Envoy EnvoySpec `json:"envoy,omitempty"`

	// Replicas is the fixed number of Envoy Pods per fleet. Defaults to 2 when autoscaling is not set.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Replicas *int32 `json:"replicas,omitempty"`

	// Autoscaling runs a HorizontalPodAutoscaler per fleet instead of a fixed replica count.
	// +optional
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`

	// Resources are the compute resources of the Envoy container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// Scheduling places the Envoy Pods: node selector, tolerations, affinity, topology spread and
	// priority class.
	// +optional
	Scheduling *Scheduling `json:"scheduling,omitempty"`

	// Pod holds labels and annotations added to every Envoy Pod.
	// +optional
	Pod *PodMetadata `json:"pod,omitempty"`

	// Service configures the Service that exposes each fleet.
	// +optional
	// +kubebuilder:default={}
	Service ServiceSpec `json:"service,omitempty"`

	// PodDisruptionBudget, when set, gives every fleet a PodDisruptionBudget.
	// +optional
	PodDisruptionBudget *PodDisruptionBudgetSpec `json:"podDisruptionBudget,omitempty"`

	// Telemetry configures access logs, Prometheus scraping and tracing.
	// +optional
	// +kubebuilder:default={}
	Telemetry Telemetry `json:"telemetry,omitempty"`

	// Certificates says who issues the certificates fleets use to prove their identity to Flotilla's
	// xDS server. Defaults to Flotilla's built-in CA.
	// +optional
	// +kubebuilder:default={}
	Certificates Certificates `json:"certificates,omitempty"`

	// Tenancy limits who may use the class and what teams may override.
	// +optional
	Tenancy *Tenancy `json:"tenancy,omitempty"`

	// ClientAddress says how the fleets find a request's client address, which RouteFilters'
	// client access lists and per-client rate limits (and Ingresses' whitelist-source-range and
	// limit-rps) key on. It is the platform's decision: it depends on what proxies in front of the
	// fleets, and a team that could raise it could make its clients choose their own address.
	// +optional
	ClientAddress *ClientAddressSpec `json:"clientAddress,omitempty"`
}

// ClientAddressSpec says how a fleet derives the client address from a request.
type ClientAddressSpec struct {
	// TrustedForwardedHops is how many proxies in front of the fleet append to X-Forwarded-For
	// (Envoy's xff_num_trusted_hops): the client address is the entry that many places from the
	// right. 0 (the default): the address of the connection's peer, whatever X-Forwarded-For says.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	TrustedForwardedHops int32 `json:"trustedForwardedHops,omitempty"`
}

// EnvoySpec configures the Envoy proxies of a fleet.
type EnvoySpec struct {
	// Image is the Envoy container image. Defaults to the image this Flotilla release was tested
	// with (the manager's --envoy-image flag).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// LogLevel is Envoy's log level.
	// +optional
	// +kubebuilder:default=info
	LogLevel EnvoyLogLevel `json:"logLevel,omitempty"`

	// Concurrency is the number of Envoy worker threads. Defaults to Envoy's own choice (one per
	// CPU the container may use).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=128
	Concurrency *int32 `json:"concurrency,omitempty"`

	// DrainTimeout is how long an Envoy Pod that is shutting down keeps serving open connections
	// while draining them. It also sets the Pods' termination grace period. Between 0s and 1h.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('1h')",message="drainTimeout must be between 0s and 1h"
	DrainTimeout *metav1.Duration `json:"drainTimeout,omitempty"`
}

// ServiceSpec configures the Service that exposes a fleet.
// +kubebuilder:validation:XValidation:rule="!has(self.loadBalancerClass) || self.type == 'LoadBalancer'",message="loadBalancerClass requires type LoadBalancer"
// +kubebuilder:validation:XValidation:rule="!has(self.externalTrafficPolicy) || self.type != 'ClusterIP'",message="externalTrafficPolicy requires type NodePort or LoadBalancer"
// +kubebuilder:validation:XValidation:rule="!has(self.staticAddresses) || !(self.staticAddresses.carrier in ['LoadBalancerIP', 'Annotation']) || self.type == 'LoadBalancer'",message="staticAddresses carriers LoadBalancerIP and Annotation require type LoadBalancer"
type ServiceSpec struct {
	// Type is the Service type.
	// +optional
	// +kubebuilder:default=LoadBalancer
	Type ServiceType `json:"type,omitempty"`

	// Annotations are added to the Service (load-balancer settings of the cloud provider, say).
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`

	// ExternalTrafficPolicy of the Service. Local keeps client source addresses.
	// +optional
	// +kubebuilder:validation:Enum=Cluster;Local
	ExternalTrafficPolicy *corev1.ServiceExternalTrafficPolicy `json:"externalTrafficPolicy,omitempty"`

	// LoadBalancerClass selects the load-balancer implementation (type LoadBalancer only).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	LoadBalancerClass *string `json:"loadBalancerClass,omitempty"`

	// StaticAddresses lets Gateways of the class ask for addresses of their own in spec.addresses,
	// within the CIDRs given here, and says how the Service carries them. Unset (the default), a
	// Gateway that names an address is accepted but not programmed (AddressNotUsable) and nothing
	// of it reaches the Service: an address is the platform's to hand out, and a team that could
	// put any IP in a Service's externalIPs could take traffic meant for it (CVE-2020-8554). An
	// address entry with an empty value (any address) needs no permission.
	// +optional
	StaticAddresses *StaticAddresses `json:"staticAddresses,omitempty"`
}

// StaticAddresses says which addresses Gateways may ask for and how the fleet's Service carries them.
// +kubebuilder:validation:XValidation:rule="self.carrier == 'Annotation' ? has(self.annotationKey) : !has(self.annotationKey)",message="annotationKey is required with carrier Annotation, and only with it"
// +kubebuilder:validation:XValidation:rule="!has(self.maxAddresses) || self.maxAddresses == 1 || self.carrier == 'ExternalIPs' || self.carrier == 'Annotation'",message="carriers ClusterIP and LoadBalancerIP take one address"
type StaticAddresses struct {
	// CIDRs are the IPv4 and IPv6 prefixes every requested address must lie in, such as
	// "203.0.113.0/24" or "2001:db8:1::/64". An address outside them is not used (AddressNotUsable).
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	CIDRs []IPPrefix `json:"cidrs"`

	// Carrier is how the Service carries the addresses:
	// ClusterIP: spec.clusterIP (one address, within the cluster's Service CIDR; Kubernetes never
	// changes a Service's cluster IP, so a new address needs the fleet's Service deleted);
	// ExternalIPs: spec.externalIPs (any Service type; kube-proxy answers on them, so give only
	// CIDRs no one else routes to);
	// LoadBalancerIP: spec.loadBalancerIP (one address, type LoadBalancer; deprecated by
	// Kubernetes but read by several load balancers);
	// Annotation: the annotation annotationKey, the addresses in canonical form joined by ","
	// (type LoadBalancer), for load balancers that read one (MetalLB's
	// metallb.io/loadBalancerIPs, kube-vip's kube-vip.io/loadbalancerIPs).
	// With LoadBalancerIP and Annotation the address is in use, and shown on the Gateway, when the
	// load balancer reports it in the Service's status.
	Carrier StaticAddressCarrier `json:"carrier"`

	// AnnotationKey is the annotation that carries the addresses (carrier Annotation only). Flotilla
	// owns it on the fleet's Service: a value for it from the class's annotations is replaced by the
	// Gateway's checked addresses, or removed; a team setting it (spec.infrastructure, FleetConfig)
	// is refused.
	// +optional
	// +kubebuilder:validation:MaxLength=317
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	AnnotationKey string `json:"annotationKey,omitempty"`

	// MaxAddresses is the most addresses one Gateway may ask for; further ones are not used
	// (AddressNotUsable). Defaults to 1 for ClusterIP and LoadBalancerIP, 16 (Gateway API's own
	// limit) for ExternalIPs and Annotation.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16
	MaxAddresses *int32 `json:"maxAddresses,omitempty"`
}

// IPPrefix is an IPv4 or IPv6 prefix, such as "203.0.113.0/24", with no bits set past its length
// (unlike CIDR, never a bare address).
// +kubebuilder:validation:MaxLength=43
// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self) == cidr(self).masked()",message="must be an IP prefix with no bits set past its length, such as 203.0.113.0/24"
type IPPrefix string

// StaticAddressCarrier is how a fleet's Service carries a Gateway's static addresses.
// +kubebuilder:validation:Enum=ClusterIP;ExternalIPs;LoadBalancerIP;Annotation
type StaticAddressCarrier string

// Static address carriers.
const (
	StaticAddressClusterIP      StaticAddressCarrier = "ClusterIP"
	StaticAddressExternalIPs    StaticAddressCarrier = "ExternalIPs"
	StaticAddressLoadBalancerIP StaticAddressCarrier = "LoadBalancerIP"
	StaticAddressAnnotation     StaticAddressCarrier = "Annotation"
)

// Telemetry configures what a fleet reports.
// +kubebuilder:validation:XValidation:rule="!has(self.accessLog) || !has(self.accessLog.sink) || self.accessLog.sink != 'OpenTelemetry' || has(self.tracing)",message="accessLog.sink OpenTelemetry sends to the tracing collector: tracing must be set"
type Telemetry struct {
	// AccessLog configures Envoy's access log on stdout.
	// +optional
	// +kubebuilder:default={}
	AccessLog AccessLog `json:"accessLog,omitempty"`

	// Prometheus configures scraping of Envoy's stats.
	// +optional
	// +kubebuilder:default={}
	Prometheus Prometheus `json:"prometheus,omitempty"`

	// Tracing has the fleets trace requests with OpenTelemetry. Unset, they do not trace.
	// +optional
	Tracing *Tracing `json:"tracing,omitempty"`
}

// AccessLog configures Envoy's access log.
type AccessLog struct {
	// Enabled turns the access log on.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`

	// Format of each log line.
	// +optional
	// +kubebuilder:default=JSON
	Format AccessLogFormat `json:"format,omitempty"`

	// Sink is where the access log goes: Stdout (the default) or OpenTelemetry, OTLP log records
	// sent to the tracing collector (Envoy's envoy.access_loggers.open_telemetry) instead.
	// +optional
	Sink AccessLogSink `json:"sink,omitempty"`
}

// Prometheus configures scraping of Envoy's stats.
type Prometheus struct {
	// Enabled exposes Envoy's stats in Prometheus format on the Pods' metrics port and annotates the
	// Pods for scraping.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`
}

// Certificates says who issues fleet certificates and for how long.
type Certificates struct {
	// CertManager, when set, has cert-manager issue the certificates through this issuer (as
	// cert-manager Certificate objects) instead of Flotilla's built-in CA.
	// +optional
	CertManager *CertManagerIssuer `json:"certManager,omitempty"`

	// Lifetime of each fleet certificate; it is renewed when two thirds of it have passed. Between
	// 1h and 2160h (90 days).
	// +optional
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h') && duration(self) <= duration('2160h')",message="lifetime must be between 1h and 2160h"
	Lifetime *metav1.Duration `json:"lifetime,omitempty"`
}

// CertManagerIssuer names the cert-manager issuer for fleet certificates.
type CertManagerIssuer struct {
	// IssuerRef is the cert-manager issuer.
	IssuerRef IssuerReference `json:"issuerRef"`

	// CABundle is the PEM bundle of the CA certificates the issuer signs fleet certificates with
	// (for a cert-manager CA issuer, the ca.crt of its Secret; during a CA rotation, both CAs).
	// The xDS server admits a cert-manager-issued fleet certificate only when it chains to one of
	// these: trust comes from the platform admin, never from the fleet Secret (whose ca.crt the
	// team owning the namespace can write).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=65536
	CABundle string `json:"caBundle"`

	// BackendClientCertificates has the issuer also give each Gateway of the class a client
	// certificate that its fleet presents to TLS backends (BackendTLSPolicy), unless the Gateway
	// names its own in spec.tls.backend.clientCertificateRef. Flotilla creates a cert-manager
	// Certificate filling the Secret "flotilla-<gateway>-backend" (URI SAN
	// spiffe://flotilla/fleet/<namespace>/<gateway>); renewals reach Envoy over SDS.
	// +optional
	BackendClientCertificates bool `json:"backendClientCertificates,omitempty"`
}

// Tenancy limits who may use a class and what teams may override.
type Tenancy struct {
	// NamespaceSelector selects the namespaces whose Gateways may use the class. Unset, every
	// namespace may; an empty selector also selects every namespace.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// MaxGatewaysPerNamespace is the most Gateways of this class one namespace may have. Gateways
	// past the limit (the newest first) are refused. Unset, there is no limit.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxGatewaysPerNamespace *int32 `json:"maxGatewaysPerNamespace,omitempty"`

	// Overrides lists what teams may change, through a FleetConfig and the Gateway's
	// spec.infrastructure, and within which bounds. A field with no bound here cannot be overridden:
	// a request for it is refused on the Gateway's status, never silently ignored or clamped.
	// +optional
	Overrides *OverrideBounds `json:"overrides,omitempty"`
}

// OverrideBounds are the bounds of what teams may override.
type OverrideBounds struct {
	// Replicas lets teams set replicas or autoscaling, with every count within this range.
	// +optional
	Replicas *ReplicaBounds `json:"replicas,omitempty"`

	// Resources lets teams set the Envoy container's resources, each request and limit at most
	// the bound.
	// +optional
	Resources *ResourceBounds `json:"resources,omitempty"`

	// ServiceTypes lets teams choose one of these Service types.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=3
	ServiceTypes []ServiceType `json:"serviceTypes,omitempty"`

	// AnnotationKeyPrefixes lets teams add Service and Pod annotations (through a FleetConfig) and
	// annotations on every fleet object (through spec.infrastructure.annotations) whose keys start
	// with one of these prefixes, such as "service.beta.kubernetes.io/aws-load-balancer-". The
	// prefix "" allows every key.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	AnnotationKeyPrefixes []string `json:"annotationKeyPrefixes,omitempty"`

	// LabelKeyPrefixes lets teams add Pod labels (through a FleetConfig) and labels on every fleet
	// object (through spec.infrastructure.labels) whose keys start with one of these prefixes.
	// Labels Flotilla and Gateway API use themselves can never be overridden.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	LabelKeyPrefixes []string `json:"labelKeyPrefixes,omitempty"`

	// LogLevel lets teams set Envoy's log level.
	// +optional
	LogLevel bool `json:"logLevel,omitempty"`

	// TracingSampling lets teams set telemetry.tracing.samplingPercent within these bounds.
	// +optional
	TracingSampling *SamplingBounds `json:"tracingSampling,omitempty"`

	// TracingCollector lets teams send their fleet's spans (and OTLP access logs) to a collector of
	// their own: a Service in the Gateway's namespace (or one a ReferenceGrant allows) or an
	// address. Unset, only the class's collector is used.
	// +optional
	TracingCollector bool `json:"tracingCollector,omitempty"`
}

// FleetClassStatus is the observed state of a FleetClass.
type FleetClassStatus struct {
	// Conditions: Accepted says whether the FleetClass is valid; when it is not, GatewayClasses that
	// reference it are not accepted either.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// FleetClass is a platform admin's parameters for GatewayClasses whose controllerName is
// gateway.flotilla.dev/controller: the defaults every Envoy fleet of the class gets, and the tenancy
// limits within which teams may change them. A GatewayClass references it through
// spec.parametersRef (group gateway.flotilla.dev, kind FleetClass, no namespace).
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=fcl,categories=flotilla
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.envoy.image`,priority=1
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Service",type=string,JSONPath=`.spec.service.type`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type FleetClass struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what the platform admin sets.
	// +optional
	Spec FleetClassSpec `json:"spec,omitempty"`

	// Status is what Flotilla observed.
	// +optional
	Status FleetClassStatus `json:"status,omitempty"`
}

// FleetClassList contains a list of FleetClass.
// +kubebuilder:object:root=true
type FleetClassList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FleetClass `json:"items"`
}

func init() {
	SchemeBuilder.Register(&FleetClass{}, &FleetClassList{})
}
