package controller

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// readCollector puts the fleet's tracing collector Service (when its tracing names one) into the
// resolution's input, unless it is there already; a missing Service is left out (resolve says so
// on the Gateway).
func (f *FleetInputs) readCollector(ctx context.Context, gw *gwapiv1.Gateway, in *gatewayapi.Input) error {
	ns, name, ok := gatewayapi.CollectorService(gw.Namespace, in.Tracing)
	if !ok {
		return nil
	}
	for _, s := range in.Services {
		if s.Namespace == ns && s.Name == name {
			return nil
		}
	}
	svc := &corev1.Service{}
	if err := f.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, svc, readOnly); err != nil {
		return client.IgnoreNotFound(err)
	}
	in.Services = append(in.Services, svc)
	return nil
}

// collectorRefers says whether a collector reference names the Service svcNS/svcName: named, and
// anyNamespace when the reference has no namespace (each Gateway's own, so only Gateways in
// svcNS use it).
func collectorRefers(c *flotillav1alpha1.TracingCollector, svcNS, svcName string) (named bool, anyNamespace bool) {
	if c == nil || c.Service == nil || c.Service.Name != svcName {
		return false, false
	}
	if c.Service.Namespace == "" {
		return true, true
	}
	return c.Service.Namespace == svcNS, false
}

// gatewaysOfCollector maps a Service to the Gateways whose tracing names it as the collector:
// those of the classes whose FleetClass names it (in the Service's namespace only, when the
// reference has no namespace) and those whose FleetConfig does. FleetClasses and FleetConfigs
// are few and cached: they are listed, not indexed.
func (f *FleetInputs) gatewaysOfCollector(ctx context.Context, svcNS, svcName string) []reconcile.Request {
	log := ctrl.LoggerFrom(ctx)
	var reqs []reconcile.Request
	classes := &flotillav1alpha1.FleetClassList{}
	if err := f.Client.List(ctx, classes); err != nil && !apierrors.IsNotFound(err) {
		log.Error(err, "Listing FleetClasses for a collector Service", "service", svcNS+"/"+svcName)
	}
	for i := range classes.Items {
		fc := &classes.Items[i]
		t := fc.Spec.Telemetry.Tracing
		if t == nil {
			continue
		}
		named, anyNS := collectorRefers(&t.Collector, svcNS, svcName)
		if !named {
			continue
		}
		for _, r := range f.gatewaysOfFleetClass(ctx, fc) {
			if !anyNS || r.Namespace == svcNS {
				reqs = append(reqs, r)
			}
		}
	}
	configs := &flotillav1alpha1.FleetConfigList{}
	if err := f.Client.List(ctx, configs); err != nil && !apierrors.IsNotFound(err) {
		log.Error(err, "Listing FleetConfigs for a collector Service", "service", svcNS+"/"+svcName)
	}
	for i := range configs.Items {
		cfg := &configs.Items[i]
		t := cfg.Spec.Telemetry
		if t == nil || t.Tracing == nil {
			continue
		}
		named, anyNS := collectorRefers(t.Tracing.Collector, svcNS, svcName)
		if named && (!anyNS || cfg.Namespace == svcNS) {
			reqs = append(reqs, f.gatewaysOfFleetConfig(ctx, cfg)...)
		}
	}
	return reqs
}

// resolveParams are what a resolution takes of the fleet's merged parameters.
type resolveParams struct {
	trustedHops   uint32
	tracing       *provisioner.Tracing
	accessLogSink flotillav1alpha1.AccessLogSink
}

func paramsForResolve(p provisioner.Params) resolveParams {
	return resolveParams{trustedHops: p.TrustedForwardedHops, tracing: p.Tracing, accessLogSink: p.AccessLogSink}
}
