package controller

import (
	"context"
	"fmt"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"slices"

	discoveryv1 "k8s.io/api/discovery/v1"
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
	// IndexRouteParent indexes routes by their parents (parentRefs, and status entries of ours):
	// "Gateway/<ns>/<name>" or "ListenerSet/<ns>/<name>".
	IndexRouteParent = "route.parents"
	// IndexRouteService indexes routes by the Services their backendRefs name: "<ns>/<name>".
	IndexRouteService = "route.services"
	// IndexEndpointSliceService indexes EndpointSlices by their Service ("ns/name"): a fleet reads
	// the slices of each of its Services without scanning the namespace's.
	IndexEndpointSliceService = "endpointslice.service"
	// IndexListenerSetParent indexes ListenerSets by their parent Gateway: "<ns>/<name>".
	IndexListenerSetParent = "listenerset.parent"
	// IndexCertificateSecret indexes Gateways and ListenerSets by their listeners' certificate
	// Secrets: "<ns>/<name>".
	IndexCertificateSecret = "listeners.certificateRefs"
)

// setupRouteIndexes registers the route, ListenerSet and certificate indexes for the served kinds.
func setupRouteIndexes(ctx context.Context, indexer client.FieldIndexer, served func(kind string) bool) error {
	for _, rk := range routeKinds {
		if !served(rk.kind) {
			continue
		}
		if err := indexer.IndexField(ctx, rk.newObj(), IndexRouteParent, func(o client.Object) []string {
			var keys []string
			for _, ref := range rk.spec(o).ParentRefs {
				if k := gatewayapi.ParentKey(o.GetNamespace(), ref); k != "" {
					keys = append(keys, k)
				}
			}
			for _, p := range *rk.parents(o) {
				if p.ControllerName == ControllerName {
					if k := gatewayapi.ParentKey(o.GetNamespace(), p.ParentRef); k != "" {
						keys = append(keys, k)
					}
				}
			}
			return keys
		}); err != nil {
			return fmt.Errorf("indexing %s parents: %w", rk.kind, err)
		}
		if err := indexer.IndexField(ctx, rk.newObj(), IndexRouteService, func(o client.Object) []string {
			var keys []string
			for _, b := range rk.backends(o) {
				if k := gatewayapi.ServiceKey(o.GetNamespace(), b); k != "" {
					keys = append(keys, k)
				}
			}
			return keys
		}); err != nil {
			return fmt.Errorf("indexing %s backends: %w", rk.kind, err)
		}
	}
	if served("ListenerSet") {
		if err := indexer.IndexField(ctx, &gwapiv1.ListenerSet{}, IndexListenerSetParent, func(o client.Object) []string {
			ls := o.(*gwapiv1.ListenerSet)
			ns := ls.Namespace
			if ls.Spec.ParentRef.Namespace != nil {
				ns = string(*ls.Spec.ParentRef.Namespace)
			}
			return []string{ns + "/" + string(ls.Spec.ParentRef.Name)}
		}); err != nil {
			return fmt.Errorf("indexing ListenerSets by parent: %w", err)
		}
		if err := indexer.IndexField(ctx, &gwapiv1.ListenerSet{}, IndexCertificateSecret, func(o client.Object) []string {
			ls := o.(*gwapiv1.ListenerSet)
			var keys []string
			for _, l := range ls.Spec.Listeners {
				keys = append(keys, gatewayapi.CertificateKeys(ls.Namespace, l.TLS)...)
			}
			return keys
		}); err != nil {
			return fmt.Errorf("indexing ListenerSets by certificate: %w", err)
		}
	}
	if err := indexer.IndexField(ctx, &gwapiv1.Gateway{}, IndexCertificateSecret, func(o client.Object) []string {
		gw := o.(*gwapiv1.Gateway)
		var keys []string
		for _, l := range gw.Spec.Listeners {
			keys = append(keys, gatewayapi.CertificateKeys(gw.Namespace, l.TLS)...)
		}
		return append(keys, gatewayapi.BackendClientCertificateKeys(gw)...)
	}); err != nil {
		return fmt.Errorf("indexing Gateways by certificate: %w", err)
	}
	return nil
}

// SetupIndexes registers every field index the controllers use; kinds in unserved (their CRDs are
// missing) get none.
func SetupIndexes(ctx context.Context, indexer client.FieldIndexer, unserved []string) error {
	if err := indexer.IndexField(ctx, &discoveryv1.EndpointSlice{}, IndexEndpointSliceService, func(o client.Object) []string {
		if svc := o.GetLabels()[discoveryv1.LabelServiceName]; svc != "" {
			return []string{o.GetNamespace() + "/" + svc}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("indexing EndpointSlices by Service: %w", err)
	}
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
	if err := setupFrontendIndex(ctx, indexer); err != nil {
		return err
	}
	if !slices.Contains(unserved, "BackendTLSPolicy") {
		if err := setupPolicyIndexes(ctx, indexer); err != nil {
			return err
		}
	}
	if !slices.Contains(unserved, "InferencePool") && !slices.Contains(unserved, "HTTPRoute") {
		if err := setupInferenceIndexes(ctx, indexer); err != nil {
			return err
		}
	}
	if err := setupRouteFilterIndexes(ctx, indexer, func(kind string) bool { return !slices.Contains(unserved, kind) }); err != nil {
		return err
	}
	if err := setupIngressIndexes(ctx, indexer); err != nil {
		return err
	}
	return setupRouteIndexes(ctx, indexer, func(kind string) bool { return !slices.Contains(unserved, kind) })
}
