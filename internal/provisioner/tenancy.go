package provisioner

import (
	"cmp"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Admitted reports whether the class's tenancy.namespaceSelector admits Gateways in ns; when it
// does not, the string says why, for the Gateway's Accepted condition. A nil class, no tenancy or
// no selector admits every namespace; so does an empty selector.
func Admitted(ns *corev1.Namespace, class *flotillav1alpha1.FleetClass) (bool, string) {
	if class == nil || class.Spec.Tenancy == nil || class.Spec.Tenancy.NamespaceSelector == nil {
		return true, ""
	}
	sel, err := metav1.LabelSelectorAsSelector(class.Spec.Tenancy.NamespaceSelector)
	if err != nil {
		return false, fmt.Sprintf("FleetClass %q has an invalid tenancy.namespaceSelector: %v", class.Name, err)
	}
	if sel.Matches(labels.Set(ns.Labels)) {
		return true, ""
	}
	return false, fmt.Sprintf("namespace %q is not admitted by FleetClass %q: its labels do not match tenancy.namespaceSelector %q",
		ns.Name, class.Name, sel.String())
}

// OverQuota applies the class's tenancy.maxGatewaysPerNamespace to the Gateways of the class in
// one namespace. Gateways being deleted do not count. The oldest (by creationTimestamp, then name)
// keep their place; each one past the limit is returned, by name, with the message for its
// Accepted condition. Nil when there is no limit or nobody is over it.
func OverQuota(gateways []*gwapiv1.Gateway, class *flotillav1alpha1.FleetClass) map[string]string {
	if class == nil || class.Spec.Tenancy == nil || class.Spec.Tenancy.MaxGatewaysPerNamespace == nil {
		return nil
	}
	limit := int(*class.Spec.Tenancy.MaxGatewaysPerNamespace)
	live := make([]*gwapiv1.Gateway, 0, len(gateways))
	for _, gw := range gateways {
		if gw.DeletionTimestamp == nil {
			live = append(live, gw)
		}
	}
	if len(live) <= limit {
		return nil
	}
	slices.SortStableFunc(live, func(a, b *gwapiv1.Gateway) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	out := make(map[string]string, len(live)-limit)
	for i, gw := range live[limit:] {
		out[gw.Name] = fmt.Sprintf("namespace %q is over its Gateway quota: FleetClass %q allows %d Gateways per namespace (tenancy.maxGatewaysPerNamespace) and this is Gateway %d of %d by age",
			gw.Namespace, class.Name, limit, limit+i+1, len(live))
	}
	return out
}
