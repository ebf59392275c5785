package controller

import (
	"cmp"
	"context"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"k8s.io/klog/v2"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
)

// BackendTLSPolicy indexes.
const (
	// IndexPolicyTarget indexes BackendTLSPolicies by the Services they target: "<ns>/<name>".
	IndexPolicyTarget = "backendtlspolicy.targets"
	// IndexPolicyCARef indexes BackendTLSPolicies by the objects of their caCertificateRefs:
	// "<Kind>/<ns>/<name>" (any kind, so a ref of an unsupported kind is found too).
	IndexPolicyCARef = "backendtlspolicy.caCertificateRefs"
	// IndexPolicyAncestor indexes BackendTLSPolicies by the Gateways of our ancestor entries:
	// "<ns>/<name>", so an entry is removed once the policy no longer concerns the Gateway.
	IndexPolicyAncestor = "backendtlspolicy.ancestors"
)

// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=backendtlspolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=backendtlspolicies/status,verbs=get;update

func setupPolicyIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &gwapiv1.BackendTLSPolicy{}, IndexPolicyTarget, func(o client.Object) []string {
		var out []string
		for _, t := range o.(*gwapiv1.BackendTLSPolicy).Spec.TargetRefs {
			if t.Group == "" && t.Kind == "Service" {
				out = append(out, o.GetNamespace()+"/"+string(t.Name))
			}
		}
		return out
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &gwapiv1.BackendTLSPolicy{}, IndexPolicyCARef, func(o client.Object) []string {
		var out []string
		for _, r := range o.(*gwapiv1.BackendTLSPolicy).Spec.Validation.CACertificateRefs {
			out = append(out, string(r.Kind)+"/"+o.GetNamespace()+"/"+string(r.Name))
		}
		return out
	}); err != nil {
		return err
	}
	return indexer.IndexField(ctx, &gwapiv1.BackendTLSPolicy{}, IndexPolicyAncestor, func(o client.Object) []string {
		var out []string
		for _, a := range o.(*gwapiv1.BackendTLSPolicy).Status.Ancestors {
			if a.ControllerName == ControllerName {
				out = append(out, gatewayapi.AncestorKey(o.GetNamespace(), a.AncestorRef))
			}
		}
		return out
	})
}

// readPolicies adds to the input the BackendTLSPolicies that target the Services and the ca.crt
// of the ConfigMaps and Secrets they name; it returns the policies whose status may need our
// entry for the Gateway (targeting ones, and those that carry one of ours).
func (f *FleetInputs) readPolicies(ctx context.Context, gw *gwapiv1.Gateway, in *gatewayapi.Input, services []string) ([]*gwapiv1.BackendTLSPolicy, error) {
	if !f.served("BackendTLSPolicy") {
		return nil, nil
	}
	seen := sets.New[types.NamespacedName]()
	var touched []*gwapiv1.BackendTLSPolicy
	add := func(list *gwapiv1.BackendTLSPolicyList, target bool) {
		for i := range list.Items {
			p := &list.Items[i]
			if seen.Has(client.ObjectKeyFromObject(p)) {
				continue
			}
			seen.Insert(client.ObjectKeyFromObject(p))
			touched = append(touched, p)
			if target {
				in.BackendTLSPolicies = append(in.BackendTLSPolicies, p)
			}
		}
	}
	for _, svc := range services {
		list := &gwapiv1.BackendTLSPolicyList{}
		if err := f.Client.List(ctx, list, client.MatchingFields{IndexPolicyTarget: svc}); err != nil {
			return nil, err
		}
		add(list, true)
	}
	mine := &gwapiv1.BackendTLSPolicyList{}
	if err := f.Client.List(ctx, mine, client.MatchingFields{IndexPolicyAncestor: provisioner.FleetKey(gw)}); err != nil {
		return nil, err
	}
	add(mine, false)

	refs := sets.New[gatewayapi.CACertificate]()
	for _, p := range in.BackendTLSPolicies {
		for _, r := range p.Spec.Validation.CACertificateRefs {
			if r.Group == "" && (r.Kind == "ConfigMap" || r.Kind == "Secret") {
				refs.Insert(gatewayapi.CACertificate{Kind: string(r.Kind), Namespace: p.Namespace, Name: string(r.Name)})
			}
		}
	}
	for _, ref := range sortedCARefs(refs) {
		found, err := f.readCACertificate(ctx, &ref)
		if err != nil {
			return nil, err
		}
		if found {
			in.CACertificates = append(in.CACertificates, ref)
		}
	}
	return touched, nil
}

// readCACertificate reads the ca.crt of the ConfigMap or Secret ref names into ref.PEM; found is
// false when the object does not exist (resolve reports the missing object).
func (f *FleetInputs) readCACertificate(ctx context.Context, ref *gatewayapi.CACertificate, opts ...client.GetOption) (found bool, err error) {
	var obj client.Object = &corev1.ConfigMap{}
	if ref.Kind == "Secret" {
		obj = &corev1.Secret{}
	}
	if err := f.Client.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, obj, opts...); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		ref.PEM = o.Data["ca.crt"]
	case *corev1.Secret:
		ref.PEM = string(o.Data["ca.crt"])
	}
	return true, nil
}

func sortedCARefs(refs sets.Set[gatewayapi.CACertificate]) []gatewayapi.CACertificate {
	out := refs.UnsortedList()
	slices.SortFunc(out, func(a, b gatewayapi.CACertificate) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	return out
}

// watchPolicies maps BackendTLSPolicies, and the ConfigMaps and Secrets they name, to Gateways.
func (f *FleetInputs) watchPolicies(b *builder.Builder) *builder.Builder {
	if !f.served("BackendTLSPolicy") {
		return b
	}
	return b.Watches(&gwapiv1.BackendTLSPolicy{}, handler.EnqueueRequestsFromMapFunc(f.gatewaysOfPolicy), builder.WithPredicates(specChanged)).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(f.gatewaysOfCARef("ConfigMap"))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(f.gatewaysOfCARef("Secret")))
}

func (f *FleetInputs) gatewaysOfPolicy(ctx context.Context, o client.Object) []reconcile.Request {
	p := o.(*gwapiv1.BackendTLSPolicy)
	var reqs []reconcile.Request
	for _, t := range p.Spec.TargetRefs {
		if t.Group == "" && t.Kind == "Service" {
			reqs = append(reqs, f.gatewaysOfServiceKey(ctx, p.Namespace+"/"+string(t.Name))...)
		}
	}
	for _, a := range p.Status.Ancestors {
		if a.ControllerName == ControllerName {
			ns, name, _ := strings.Cut(gatewayapi.AncestorKey(p.Namespace, a.AncestorRef), "/")
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
		}
	}
	return reqs
}

func (f *FleetInputs) gatewaysOfCARef(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		list := &gwapiv1.BackendTLSPolicyList{}
		if err := f.Client.List(ctx, list, client.MatchingFields{IndexPolicyCARef: kind + "/" + o.GetNamespace() + "/" + o.GetName()}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Listing BackendTLSPolicies of a CA certificate", "kind", kind)
			return nil
		}
		var reqs []reconcile.Request
		for i := range list.Items {
			reqs = append(reqs, f.gatewaysOfPolicy(ctx, &list.Items[i])...)
		}
		return reqs
	}
}

// writePolicyStatuses writes, on every BackendTLSPolicy that concerns the Gateway, our ancestor
// entry for it (or removes it when the policy no longer does); other entries are kept.
func (r *GatewayReconciler) writePolicyStatuses(ctx context.Context, gw *gwapiv1.Gateway, res *resolved) error {
	decided := map[types.NamespacedName][]gwapiv1.PolicyAncestorStatus{}
	for _, ps := range res.result.BackendTLSPolicies {
		decided[types.NamespacedName{Namespace: ps.Namespace, Name: ps.Name}] = ps.Ancestors
	}
	me := provisioner.FleetKey(gw)
	for _, p := range res.policies {
		key := client.ObjectKeyFromObject(p)
		want := decided[key]
		obj := &gwapiv1.BackendTLSPolicy{}
		list := policyAncestors(key.Namespace, me)
		var before map[string][]metav1.Condition
		var full int
		wrote, err := r.Status.Update(ctx, key, obj, func() {
			obj.Status.Ancestors, before, full = list.merge(obj.Status.Ancestors, want)
		})
		if err != nil {
			return err
		}
		if full > 0 {
			ctrl.LoggerFrom(ctx).Info("BackendTLSPolicy ancestor list is full (GEP-713); this Gateway's entry is left out", "policy", klog.KObj(obj))
		}
		if wrote || full > 0 {
			list.recordEntries(r.Recorder, obj, before, obj.Status.Ancestors, full)
		}
	}
	return nil
}

// policyAncestors is a policy's status.ancestors as a shared list: our entry is the one naming
// this Gateway (me: "<ns>/<name>").
func policyAncestors(ns, me string) sharedList[gwapiv1.PolicyAncestorStatus] {
	return sharedList[gwapiv1.PolicyAncestorStatus]{
		ours: func(a gwapiv1.PolicyAncestorStatus) bool {
			return a.ControllerName == ControllerName && gatewayapi.AncestorKey(ns, a.AncestorRef) == me
		},
		id:         func(a gwapiv1.PolicyAncestorStatus) string { return gatewayapi.AncestorKey(ns, a.AncestorRef) },
		conditions: func(a *gwapiv1.PolicyAncestorStatus) *[]metav1.Condition { return &a.Conditions },
		max:        maxPolicyAncestors,
	}
}
