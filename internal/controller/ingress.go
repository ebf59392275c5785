package controller

import (
	"cmp"
	"context"
	"fmt"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/ingress"
)

// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses;ingressclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses/status,verbs=get;update
// +kubebuilder:rbac:groups=gateway.flotilla.dev,resources=ingressclassconfigs,verbs=get;list;watch

// Ingress indexes.
const (
	// IndexIngressClassConfigGateway indexes IngressClassConfigs by their gatewayRef: "<ns>/<name>".
	IndexIngressClassConfigGateway = "ingressclassconfig.gatewayRef"
	// IndexIngressClassConfig indexes IngressClasses by the IngressClassConfig they name, when
	// their controller is Flotilla's.
	IndexIngressClassConfig = "ingressclass.parameters"
	// IndexIngressClass indexes Ingresses by the class they name (spec.ingressClassName, else the
	// legacy annotation), "" for none.
	IndexIngressClass = "ingress.class"
	// IndexIngressService indexes Ingresses by the Services their backends name: "<ns>/<name>".
	IndexIngressService = "ingress.services"
	// IndexIngressSecret indexes Ingresses by their TLS Secrets: "<ns>/<name>".
	IndexIngressSecret = "ingress.tlsSecrets"
	// IndexIngressAddress indexes Ingresses by the IPs and hostnames of their
	// status.loadBalancer, so that a Gateway finds the Ingresses that still carry its address.
	IndexIngressAddress = "ingress.status.loadBalancer"
)

// ingressBackends are the Service backends of an Ingress.
func ingressBackends(ing *networkingv1.Ingress) []*networkingv1.IngressServiceBackend {
	var out []*networkingv1.IngressServiceBackend
	if b := ing.Spec.DefaultBackend; b != nil && b.Service != nil {
		out = append(out, b.Service)
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for i := range r.HTTP.Paths {
			if s := r.HTTP.Paths[i].Backend.Service; s != nil {
				out = append(out, s)
			}
		}
	}
	return out
}

func setupIngressIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	for _, ix := range []struct {
		obj  client.Object
		name string
		fn   func(client.Object) []string
	}{
		{&flotillav1alpha1.IngressClassConfig{}, IndexIngressClassConfigGateway, func(o client.Object) []string {
			r := o.(*flotillav1alpha1.IngressClassConfig).Spec.GatewayRef
			return []string{r.Namespace + "/" + r.Name}
		}},
		{&networkingv1.IngressClass{}, IndexIngressClassConfig, func(o client.Object) []string {
			ic := o.(*networkingv1.IngressClass)
			if ic.Spec.Controller != flotillav1alpha1.IngressController || ic.Spec.Parameters == nil {
				return nil
			}
			return []string{ic.Spec.Parameters.Name}
		}},
		{&networkingv1.Ingress{}, IndexIngressClass, func(o client.Object) []string { return []string{ingress.ClassName(o.(*networkingv1.Ingress))} }},
		{&networkingv1.Ingress{}, IndexIngressService, func(o client.Object) []string {
			var keys []string
			for _, b := range ingressBackends(o.(*networkingv1.Ingress)) {
				keys = append(keys, o.GetNamespace()+"/"+b.Name)
			}
			svcs, _ := ingress.ProtectionReferences(o.GetNamespace(), o.GetAnnotations())
			keys = append(keys, svcs...)
			return keys
		}},
		{&networkingv1.Ingress{}, IndexIngressSecret, func(o client.Object) []string {
			var keys []string
			for _, t := range o.(*networkingv1.Ingress).Spec.TLS {
				if t.SecretName != "" {
					keys = append(keys, o.GetNamespace()+"/"+t.SecretName)
				}
			}
			for k, v := range o.GetAnnotations() {
				if strings.HasSuffix(k, "/"+proxySSLSecret) {
					keys = append(keys, secretRef(o.GetNamespace(), v))
				}
			}
			if _, sec := ingress.ProtectionReferences(o.GetNamespace(), o.GetAnnotations()); sec != "" {
				keys = append(keys, sec)
			}
			return keys
		}},
		{&networkingv1.Ingress{}, IndexIngressAddress, func(o client.Object) []string {
			var keys []string
			for _, lb := range o.(*networkingv1.Ingress).Status.LoadBalancer.Ingress {
				keys = append(keys, cmp.Or(lb.IP, lb.Hostname))
			}
			return keys
		}},
	} {
		if err := indexer.IndexField(ctx, ix.obj, ix.name, ix.fn); err != nil {
			return fmt.Errorf("indexing %s: %w", ix.name, err)
		}
	}
	return nil
}

// ingressRead is what resolve read of the Ingress front end for one Gateway.
type ingressRead struct {
	// ingresses are every Ingress of the Gateway's classes (served or refused), for status.
	ingresses []*networkingv1.Ingress
	// conversion says which are refused, and the notes for Events.
	conversion ingress.Result
	// caSecrets are the proxy-ssl-secret Secrets ("<ns>/<name>"), whose ca.crt resolve reads.
	caSecrets sets.Set[string]
}

// proxySSLSecret is the annotation (after the class's prefix) that names a backend TLS Secret.
const proxySSLSecret = "proxy-ssl-secret"

// secretRef is "<ns>/<name>" of an annotation's "name" or "ns/name".
func secretRef(ns, v string) string {
	if strings.Contains(v, "/") {
		return v
	}
	return ns + "/" + v
}

// readIngresses reads the Ingresses of the IngressClasses the Gateway serves, converts them into
// in.Ingresses, and adds the Services and Secrets they name to those resolve reads.
func (f *FleetInputs) readIngresses(ctx context.Context, gw *gwapiv1.Gateway, in *gatewayapi.Input, services, secrets sets.Set[string]) (*ingressRead, error) {
	classes, ingresses, err := f.gatewayIngresses(ctx, gw.Namespace, gw.Name)
	if err != nil || len(classes) == 0 {
		return nil, err
	}
	out := &ingressRead{ingresses: ingresses, caSecrets: sets.New[string]()}
	for _, ing := range ingresses {
		c := ingress.Select(ing, classes)
		if v, ok := ing.Annotations[c.Prefix()+"/"+proxySSLSecret]; ok && v != "" {
			key := secretRef(ing.Namespace, v)
			if strings.HasPrefix(key, ing.Namespace+"/") || c.Spec.AllowCrossNamespaceReferences {
				secrets.Insert(key)
				out.caSecrets.Insert(key)
			}
		}
		for _, b := range ingressBackends(ing) {
			services.Insert(ing.Namespace + "/" + b.Name)
		}
		for _, t := range ing.Spec.TLS {
			if t.SecretName != "" {
				secrets.Insert(ing.Namespace + "/" + t.SecretName)
			}
		}
	}
	out.conversion = ingress.Convert(classes, out.ingresses)
	in.Ingresses = out.conversion.Routes
	// What the annotations' protections name (auth-secret, the auth-url, default-backend and
	// mirror-target Services), as the conversion allowed them.
	for _, r := range in.Ingresses {
		secrets.Insert(filterSecrets(r.Meta.Namespace, r.Filter)...)
		services.Insert(filterServices(r.Meta.Namespace, r.Filter)...)
		if r.Mirror != nil {
			services.Insert(r.Meta.Namespace + "/" + r.Mirror.Service)
		}
	}
	return out, nil
}

// watchIngresses maps Ingress front end changes to the Gateways that serve them.
func (f *FleetInputs) watchIngresses(b *builder.Builder) *builder.Builder {
	return b.Watches(&networkingv1.Ingress{}, handler.EnqueueRequestsFromMapFunc(f.gatewaysOfIngress), builder.WithPredicates(specChanged)).
		Watches(&networkingv1.IngressClass{}, handler.EnqueueRequestsFromMapFunc(f.gatewaysOfIngressClass)).
		Watches(&flotillav1alpha1.IngressClassConfig{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			r := o.(*flotillav1alpha1.IngressClassConfig).Spec.GatewayRef
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: r.Namespace, Name: r.Name}}}
		}))
}

// gatewaysOfIngressClass maps an IngressClass to the Gateway of the IngressClassConfig it names.
func (f *FleetInputs) gatewaysOfIngressClass(ctx context.Context, o client.Object) []reconcile.Request {
	ic := o.(*networkingv1.IngressClass)
	if ic.Spec.Controller != flotillav1alpha1.IngressController || ic.Spec.Parameters == nil {
		return nil
	}
	cfg := &flotillav1alpha1.IngressClassConfig{}
	if err := f.Client.Get(ctx, types.NamespacedName{Name: ic.Spec.Parameters.Name}, cfg); err != nil {
		return nil
	}
	r := cfg.Spec.GatewayRef
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: r.Namespace, Name: r.Name}}}
}

// gatewaysOfIngress maps an Ingress to the Gateways of the classes that may serve it: the class it
// names, or for none the classes that serve Ingresses without a class.
func (f *FleetInputs) gatewaysOfIngress(ctx context.Context, o client.Object) []reconcile.Request {
	name := ingress.ClassName(o.(*networkingv1.Ingress))
	if name != "" {
		ic := &networkingv1.IngressClass{}
		if err := f.Client.Get(ctx, types.NamespacedName{Name: name}, ic); err != nil {
			return nil
		}
		return f.gatewaysOfIngressClass(ctx, ic)
	}
	configs := &flotillav1alpha1.IngressClassConfigList{}
	if err := f.Client.List(ctx, configs); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing IngressClassConfigs")
		return nil
	}
	var reqs []reconcile.Request
	for _, c := range configs.Items {
		if c.Spec.IngressesWithoutClass {
			r := c.Spec.GatewayRef
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: r.Namespace, Name: r.Name}})
		}
	}
	return reqs
}

// gatewaysOfIngressesUsing maps a Service or Secret key to the Gateways of the Ingresses that use it.
func (f *FleetInputs) gatewaysOfIngressesUsing(ctx context.Context, index, key string) []reconcile.Request {
	list := &networkingv1.IngressList{}
	if err := f.Client.List(ctx, list, client.MatchingFields{index: key}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing Ingresses", "index", index, "key", key)
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		for _, r := range f.gatewaysOfIngress(ctx, &list.Items[i]) {
			if !slices.Contains(reqs, r) {
				reqs = append(reqs, r)
			}
		}
	}
	return reqs
}

// gatewayIngresses reads, through the indexes, the IngressClasses Flotilla serves with the Gateway
// ns/name (their IngressClassConfig's gatewayRef names it) and the Ingresses of those classes
// (ingress.Select says which class of classes each is).
func (f *FleetInputs) gatewayIngresses(ctx context.Context, ns, name string) ([]ingress.Class, []*networkingv1.Ingress, error) {
	configs := &flotillav1alpha1.IngressClassConfigList{}
	if err := f.Client.List(ctx, configs, client.MatchingFields{IndexIngressClassConfigGateway: provisioner.FleetKeyFor(ns, name)}); err != nil {
		return nil, nil, err
	}
	if len(configs.Items) == 0 {
		return nil, nil, nil
	}
	var cfgs []*flotillav1alpha1.IngressClassConfig
	var ics []*networkingv1.IngressClass
	for i := range configs.Items {
		cfgs = append(cfgs, &configs.Items[i])
		list := &networkingv1.IngressClassList{}
		if err := f.Client.List(ctx, list, client.MatchingFields{IndexIngressClassConfig: configs.Items[i].Name}); err != nil {
			return nil, nil, err
		}
		for j := range list.Items {
			ics = append(ics, &list.Items[j])
		}
	}
	classes := ingress.ClassesFor(ns, name, ics, cfgs)
	names := sets.New[string]()
	for _, c := range classes {
		names.Insert(c.Name)
		if c.Spec.IngressesWithoutClass {
			names.Insert("")
		}
	}
	var out []*networkingv1.Ingress
	for _, n := range sets.List(names) {
		list := &networkingv1.IngressList{}
		if err := f.Client.List(ctx, list, client.MatchingFields{IndexIngressClass: n}); err != nil {
			return nil, nil, err
		}
		for i := range list.Items {
			if ingress.Select(&list.Items[i], classes) != nil {
				out = append(out, &list.Items[i])
			}
		}
	}
	return classes, out, nil
}
