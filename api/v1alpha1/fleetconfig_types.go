package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FleetConfigSpec is what a team asks to change about its Gateway's fleet. Every field is optional;
// each one set must be allowed, and within bounds, by the FleetClass of the Gateway's class, or the
// Gateway is refused with a status message naming the field, the value and the bound.
// +kubebuilder:validation:XValidation:rule="!(has(self.replicas) && has(self.autoscaling))",message="replicas and autoscaling are mutually exclusive"
type FleetConfigSpec struct {
	// Replicas is the fixed number of Envoy Pods (bound: the class's overrides.replicas).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Replicas *int32 `json:"replicas,omitempty"`

	// Autoscaling runs a HorizontalPodAutoscaler (bound: the class's overrides.replicas).
	// +optional
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`

	// Resources of the Envoy container (bound: the class's overrides.resources).
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// Service changes the fleet's Service.
	// +optional
	Service *FleetConfigService `json:"service,omitempty"`

	// Pod adds labels and annotations to the Envoy Pods (bound: the class's
	// overrides.labelKeyPrefixes and overrides.annotationKeyPrefixes).
	// +optional
	Pod *PodMetadata `json:"pod,omitempty"`

	// Envoy changes Envoy's own settings.
	// +optional
	Envoy *FleetConfigEnvoy `json:"envoy,omitempty"`

	// Telemetry changes the fleet's tracing.
	// +optional
	Telemetry *FleetConfigTelemetry `json:"telemetry,omitempty"`
}

// FleetConfigService is the part of the Service a team may change.
type FleetConfigService struct {
	// Type of the Service (bound: the class's overrides.serviceTypes).
	// +optional
	Type *ServiceType `json:"type,omitempty"`

	// Annotations added to the Service (bound: the class's overrides.annotationKeyPrefixes).
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`
}

// FleetConfigEnvoy is the part of Envoy's settings a team may change.
type FleetConfigEnvoy struct {
	// LogLevel is Envoy's log level (allowed when the class sets overrides.logLevel).
	// +optional
	LogLevel *EnvoyLogLevel `json:"logLevel,omitempty"`
}

// FleetConfigStatus is the observed state of a FleetConfig.
type FleetConfigStatus struct {
	// Conditions: Accepted says whether the FleetConfig is valid on its own. Whether a Gateway may
	// use it is decided against its class's bounds and shown on the Gateway.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// FleetConfig is a team's overrides for the Envoy fleet of a Gateway in the same namespace, referenced
// from the Gateway's spec.infrastructure.parametersRef (group gateway.flotilla.dev, kind FleetConfig).
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=fcfg,categories=flotilla
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Service",type=string,JSONPath=`.spec.service.type`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type FleetConfig struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what the team asks for.
	// +optional
	Spec FleetConfigSpec `json:"spec,omitempty"`

	// Status is what Flotilla observed.
	// +optional
	Status FleetConfigStatus `json:"status,omitempty"`
}

// FleetConfigList contains a list of FleetConfig.
// +kubebuilder:object:root=true
type FleetConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FleetConfig `json:"items"`
}

func init() {
	SchemeBuilder.Register(&FleetConfig{}, &FleetConfigList{})
}
