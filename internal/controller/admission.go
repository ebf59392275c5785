package controller

import (
	"context"
	"crypto/x509"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

// admission is the one decision of whether a Gateway of a Flotilla class may have a fleet at all:
// both controllers take it from FleetInputs.admit, so a Gateway the Gateway controller refuses
// (Accepted=False) is one the xDS controller serves nothing to.
type admission struct {
	params provisioner.Params
	// refused is the InvalidParameters message (class not accepted, FleetClass or FleetConfig
	// missing, namespace not admitted, over quota, overrides out of bounds).
	refused string
	// unsupportedAddress is the UnsupportedAddress message (spec.addresses of a type the fleet's
	// Service cannot have).
	unsupportedAddress string
}

func (a admission) admitted() bool { return a.refused == "" && a.unsupportedAddress == "" }

// reason is the Gateway's Accepted=False reason and message, when it is refused.
func (a admission) reason() (gwapiv1.GatewayConditionReason, string) {
	if a.refused != "" {
		return gwapiv1.GatewayReasonInvalidParameters, a.refused
	}
	return gwapiv1.GatewayReasonUnsupportedAddress, a.unsupportedAddress
}

// issuers are the CAs trusted for the fleet's certificates when its class names a cert-manager
// issuer: the FleetClass's caBundle (validated with the FleetClass; unparsable, nothing is trusted).
func (a admission) issuers() (certManager bool, cas []*x509.Certificate) {
	cm := a.params.CertManager
	if cm == nil {
		return false, nil
	}
	cas, _ = flotillav1alpha1.ParseCABundle(cm.CABundle)
	return true, cas
}

// admit reads the class's FleetClass, the Gateway's FleetConfig and its namespace, checks the
// tenancy limits, merges the parameters and checks the addresses the Gateway asks for.
func (f *FleetInputs) admit(ctx context.Context, gw *gwapiv1.Gateway, class *gwapiv1.GatewayClass, defaults provisioner.Defaults) (admission, error) {
	refuse := func(format string, args ...any) (admission, error) {
		return admission{refused: fmt.Sprintf(format, args...)}, nil
	}
	if !meta.IsStatusConditionTrue(class.Status.Conditions, string(gwapiv1.GatewayClassConditionStatusAccepted)) {
		return refuse("GatewayClass %q is not accepted", class.Name)
	}
	var fc *flotillav1alpha1.FleetClass
	if ref := class.Spec.ParametersRef; ref != nil {
		fc = &flotillav1alpha1.FleetClass{}
		if err := f.Client.Get(ctx, types.NamespacedName{Name: ref.Name}, fc); err != nil {
			if apierrors.IsNotFound(err) {
				return refuse("FleetClass %q of GatewayClass %q not found", ref.Name, class.Name)
			}
			return admission{}, err
		}
	}
	ns := &corev1.Namespace{}
	if err := f.Client.Get(ctx, types.NamespacedName{Name: gw.Namespace}, ns); err != nil {
		return admission{}, err
	}
	if ok, why := provisioner.Admitted(ns, fc); !ok {
		return refuse("%s", why)
	}
	if fc != nil && fc.Spec.Tenancy != nil && fc.Spec.Tenancy.MaxGatewaysPerNamespace != nil {
		list := &gwapiv1.GatewayList{}
		if err := f.Client.List(ctx, list, client.InNamespace(gw.Namespace), client.MatchingFields{IndexGatewayClassName: class.Name}); err != nil {
			return admission{}, err
		}
		gws := make([]*gwapiv1.Gateway, 0, len(list.Items))
		for i := range list.Items {
			gws = append(gws, &list.Items[i])
		}
		if why, over := provisioner.OverQuota(gws, fc)[gw.Name]; over {
			return refuse("%s", why)
		}
	}
	var cfg *flotillav1alpha1.FleetConfig
	if ref := gw.Spec.Infrastructure; ref != nil && ref.ParametersRef != nil &&
		string(ref.ParametersRef.Group) == flotillav1alpha1.GroupVersion.Group && string(ref.ParametersRef.Kind) == flotillav1alpha1.KindFleetConfig {
		cfg = &flotillav1alpha1.FleetConfig{}
		if err := f.Client.Get(ctx, types.NamespacedName{Namespace: gw.Namespace, Name: ref.ParametersRef.Name}, cfg); err != nil {
			if apierrors.IsNotFound(err) {
				return refuse("FleetConfig %q (spec.infrastructure.parametersRef) not found", ref.ParametersRef.Name)
			}
			return admission{}, err
		}
	}
	p, refusals := provisioner.Merge(gw, fc, cfg, defaults)
	if len(refusals) > 0 {
		return refuse("%s", provisioner.RefusalMessage(refusals))
	}
	adm := admission{params: p}
	for _, pr := range provisioner.GatewayAddresses(gw, p.Service).Problems {
		if pr.Reason == gwapiv1.GatewayReasonUnsupportedAddress {
			adm.unsupportedAddress = pr.Message
			break
		}
	}
	return adm, nil
}
