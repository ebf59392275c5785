package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Condition types and reasons on FleetClass and FleetConfig.
const (
	// ConditionAccepted says whether the object's contents are valid and can be used.
	ConditionAccepted = "Accepted"
	// ReasonAccepted is Accepted=True: the object is valid.
	ReasonAccepted = "Accepted"
	// ReasonInvalid is Accepted=False: a check the API server cannot make failed; the message names
	// the field and the problem.
	ReasonInvalid = "Invalid"
)

// EnvoyLogLevel is Envoy's log level.
// +kubebuilder:validation:Enum=trace;debug;info;warning;error;critical;off
type EnvoyLogLevel string

// ServiceType is the type of the Service that exposes a fleet.
// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
type ServiceType string

// Service types a fleet can be exposed with.
const (
	ServiceTypeClusterIP    ServiceType = "ClusterIP"
	ServiceTypeNodePort     ServiceType = "NodePort"
	ServiceTypeLoadBalancer ServiceType = "LoadBalancer"
)

// AccessLogFormat is the format of Envoy's access log on stdout.
// +kubebuilder:validation:Enum=JSON;Text
type AccessLogFormat string

// Access log formats.
const (
	AccessLogFormatJSON AccessLogFormat = "JSON"
	AccessLogFormatText AccessLogFormat = "Text"
)

// Autoscaling runs a HorizontalPodAutoscaler for the fleet instead of a fixed replica count.
// +kubebuilder:validation:XValidation:rule="self.minReplicas <= self.maxReplicas",message="minReplicas must not exceed maxReplicas"
type Autoscaling struct {
	// MinReplicas is the fewest Envoy Pods the autoscaler keeps.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MinReplicas int32 `json:"minReplicas"`

	// MaxReplicas is the most Envoy Pods the autoscaler may run.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxReplicas int32 `json:"maxReplicas"`

	// TargetCPUUtilizationPercentage is the average CPU use, as a percentage of the Pods' CPU request,
	// that the autoscaler aims for. Defaults to 80.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	TargetCPUUtilizationPercentage *int32 `json:"targetCPUUtilizationPercentage,omitempty"`
}

// PodMetadata is extra metadata for the Envoy Pods.
type PodMetadata struct {
	// Labels are added to the Envoy Pods. They never replace the labels Flotilla uses to select them.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Labels map[string]string `json:"labels,omitempty"`

	// Annotations are added to the Envoy Pods.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`
}

// PodDisruptionBudgetSpec asks for a PodDisruptionBudget for the fleet; exactly one of its fields is set.
// +kubebuilder:validation:XValidation:rule="has(self.minAvailable) != has(self.maxUnavailable)",message="exactly one of minAvailable and maxUnavailable must be set"
type PodDisruptionBudgetSpec struct {
	// MinAvailable is the number or percentage of Envoy Pods that must stay up during voluntary
	// disruptions (node drains, upgrades).
	// +optional
	// +kubebuilder:validation:XIntOrString
	MinAvailable *intstr.IntOrString `json:"minAvailable,omitempty"`

	// MaxUnavailable is the number or percentage of Envoy Pods that may be down during voluntary
	// disruptions.
	// +optional
	// +kubebuilder:validation:XIntOrString
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// Scheduling places the Envoy Pods.
type Scheduling struct {
	// NodeSelector restricts the Envoy Pods to nodes with these labels.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations let the Envoy Pods run on tainted nodes.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// Affinity holds node and Pod (anti-)affinity rules for the Envoy Pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// TopologySpreadConstraints spread the Envoy Pods across zones or nodes. Flotilla fills in the
	// label selector of each constraint with the fleet's own Pod labels when it is left empty.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// PriorityClassName is the PriorityClass of the Envoy Pods.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// ReplicaBounds is the closed range a team's replica count (or autoscaling range) must lie in.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="min must not exceed max"
type ReplicaBounds struct {
	// Min is the fewest replicas a team may ask for.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Min int32 `json:"min"`

	// Max is the most replicas a team may ask for.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Max int32 `json:"max"`
}

// ResourceBounds caps the compute resources a team may give its Envoy container.
type ResourceBounds struct {
	// Max is the largest request or limit a team may set, per resource name (cpu, memory, ...). A
	// resource not listed here cannot be set by teams.
	// +kubebuilder:validation:MinProperties=1
	Max corev1.ResourceList `json:"max"`
}

// IssuerReference names a cert-manager issuer.
type IssuerReference struct {
	// Name of the issuer.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Kind of the issuer: ClusterIssuer (the usual choice), or Issuer, which must then exist in every
	// namespace where Flotilla requests certificates (the operator's namespace and each Gateway's).
	// +optional
	// +kubebuilder:default=ClusterIssuer
	// +kubebuilder:validation:Enum=Issuer;ClusterIssuer
	Kind string `json:"kind,omitempty"`

	// Group of the issuer. Defaults to cert-manager.io; set it for external issuers.
	// +optional
	// +kubebuilder:default=cert-manager.io
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group,omitempty"`
}
