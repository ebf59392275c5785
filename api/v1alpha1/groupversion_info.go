// Package v1alpha1 holds Flotilla's own API: FleetClass, the platform admin's fleet defaults and tenancy
// limits, and FleetConfig, the overrides a team may ask for within those limits.
// +kubebuilder:object:generate=true
// +groupName=gateway.flotilla.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is group version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: "gateway.flotilla.dev", Version: "v1alpha1"}

	// SchemeBuilder is used to add go types to the GroupVersionKind scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types in this group-version to the given scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kind names, as GatewayClass and Gateway parametersRefs spell them.
const (
	KindFleetClass  = "FleetClass"
	KindFleetConfig = "FleetConfig"
)
