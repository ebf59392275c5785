package controller

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
)

// IndexGatewayFrontendCA indexes Gateways by the objects their spec.tls.frontend
// caCertificateRefs name: "<Kind>/<ns>/<name>" (any kind, as IndexPolicyCARef).
const IndexGatewayFrontendCA = "gateway.spec.tls.frontend.caCertificateRefs"

func setupFrontendIndex(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &gwapiv1.Gateway{}, IndexGatewayFrontendCA, func(o client.Object) []string {
		return gatewayapi.FrontendCAKeys(o.(*gwapiv1.Gateway))
	}); err != nil {
		return fmt.Errorf("indexing Gateways by frontend CA certificate: %w", err)
	}
	return nil
}

// watchFrontendCAs maps ConfigMaps and Secrets to the Gateways whose spec.tls.frontend names
// them, so that a created, changed (a rotated CA) or deleted CA bundle resolves those fleets
// again.
func (f *FleetInputs) watchFrontendCAs(b *builder.Builder) *builder.Builder {
	return b.Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(f.gatewaysOfFrontendCA("ConfigMap"))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(f.gatewaysOfFrontendCA("Secret")))
}

func (f *FleetInputs) gatewaysOfFrontendCA(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		return f.listGateways(ctx, client.MatchingFields{IndexGatewayFrontendCA: kind + "/" + o.GetNamespace() + "/" + o.GetName()})
	}
}

// readFrontendCAs adds to the input the ca.crt of the ConfigMaps and Secrets the Gateway's
// spec.tls.frontend names (those another input already read are not read twice). Whether a
// reference is permitted is resolve's decision: a ref of another namespace is read and dropped
// there without a ReferenceGrant (ca.crt is public data).
func (f *FleetInputs) readFrontendCAs(ctx context.Context, gw *gwapiv1.Gateway, in *gatewayapi.Input) error {
	have := map[gatewayapi.CACertificate]bool{}
	for _, c := range in.CACertificates {
		have[gatewayapi.CACertificate{Kind: c.Kind, Namespace: c.Namespace, Name: c.Name}] = true
	}
	for _, key := range gatewayapi.FrontendCAKeys(gw) {
		kind, rest, _ := strings.Cut(key, "/")
		ns, name, _ := strings.Cut(rest, "/")
		ref := gatewayapi.CACertificate{Kind: kind, Namespace: ns, Name: name}
		if have[ref] || kind != "ConfigMap" && kind != "Secret" {
			continue
		}
		have[ref] = true
		found, err := f.readCACertificate(ctx, &ref, readOnly)
		if err != nil {
			return err
		}
		if found {
			in.CACertificates = append(in.CACertificates, ref)
		}
	}
	return nil
}
