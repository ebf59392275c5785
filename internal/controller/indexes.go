package controller

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Field indexes: a change to a referenced object finds the objects that use it through these,
// never by listing and filtering.
const (
	// IndexGatewayClassFleetClass indexes GatewayClasses by the FleetClass their parametersRef names.
	IndexGatewayClassFleetClass = "gatewayclass.parametersRef.fleetClass"
	// IndexGatewayClassName indexes Gateways by spec.gatewayClassName.
	IndexGatewayClassName = "gateway.spec.gatewayClassName"
	// IndexGatewayFleetConfig indexes Gateways by the FleetConfig their
	// spec.infrastructure.parametersRef names (in their own namespace).
	IndexGatewayFleetConfig = "gateway.spec.infrastructure.fleetConfig"
)

// SetupIndexes registers every field index the controllers use.
func SetupIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &gwapiv1.GatewayClass{}, IndexGatewayClassFleetClass, func(o client.Object) []string {
		ref := o.(*gwapiv1.GatewayClass).Spec.ParametersRef
		if ref == nil || string(ref.Group) != flotillav1alpha1.GroupVersion.Group || string(ref.Kind) != flotillav1alpha1.KindFleetClass {
			return nil
		}
		return []string{ref.Name}
	}); err != nil {
		return fmt.Errorf("indexing GatewayClasses by FleetClass: %w", err)
	}
	if err := indexer.IndexField(ctx, &gwapiv1.Gateway{}, IndexGatewayClassName, func(o client.Object) []string {
		return []string{string(o.(*gwapiv1.Gateway).Spec.GatewayClassName)}
	}); err != nil {
		return fmt.Errorf("indexing Gateways by GatewayClass: %w", err)
	}
	if err := indexer.IndexField(ctx, &gwapiv1.Gateway{}, IndexGatewayFleetConfig, func(o client.Object) []string {
		infra := o.(*gwapiv1.Gateway).Spec.Infrastructure
		if infra == nil || infra.ParametersRef == nil || string(infra.ParametersRef.Group) != flotillav1alpha1.GroupVersion.Group ||
			string(infra.ParametersRef.Kind) != flotillav1alpha1.KindFleetConfig {
			return nil
		}
		return []string{infra.ParametersRef.Name}
	}); err != nil {
		return fmt.Errorf("indexing Gateways by FleetConfig: %w", err)
	}
	return nil
}
