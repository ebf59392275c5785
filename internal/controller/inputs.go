package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/builder"

	"github.com/flotilla-dev/flotilla/internal/features"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	infv1 "sigs.k8s.io/gateway-api-inference-extension/api/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwfeatures "sigs.k8s.io/gateway-api/pkg/features"
)

// FleetInputs reads from the cache what one Gateway's resolution needs, and maps changes of those
// objects to the Gateways they concern (through field indexes). The Gateway controller (status,
// provisioning) and the xDS controller (translation) share it.
type FleetInputs struct {
	Client client.Client
	// Unserved are the kinds whose CRDs were missing at start-up (not watched, not resolved).
	Unserved []string
}

// specChanged passes creations, deletions and changes of what resolve reads of the objects whose
// status Flotilla writes (routes, ListenerSets, BackendTLSPolicies, InferencePools): their spec
// (generation), labels and annotations. Status updates — Flotilla's own above all — pass nothing:
// a status write never causes a resolution.
var specChanged = predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{})

// watchInputs adds the watches on everything a resolution reads (routes, ListenerSets,
// ReferenceGrants, Services, EndpointSlices, certificate Secrets), each mapped to its Gateways.
func (f *FleetInputs) watchInputs(b *builder.Builder) *builder.Builder {
	for _, rk := range routeKinds {
		if f.served(rk.kind) {
			b = b.Watches(rk.newObj(), handler.EnqueueRequestsFromMapFunc(f.gatewaysOfRoute(rk)), builder.WithPredicates(specChanged))
		}
	}
	if f.served("ListenerSet") {
		b = b.Watches(&gwapiv1.ListenerSet{}, handler.EnqueueRequestsFromMapFunc(f.gatewayOfListenerSet), builder.WithPredicates(specChanged))
	}
	if f.served("ReferenceGrant") {
		// A grant may allow or forbid references of any route or listener: rare, so all Gateways.
		b = b.Watches(&gwapiv1.ReferenceGrant{}, handler.EnqueueRequestsFromMapFunc(f.allGateways))
	}
	b = f.watchPolicies(b)
	b = f.watchPools(b)
	b = f.watchIngresses(b)
	b = f.watchRouteFilters(b)
	b = f.watchFrontendCAs(b)
	return b.Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(f.gatewaysOfService)).
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(f.gatewaysOfEndpointSlice)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(f.gatewaysOfCertificate))
}

// resolved is one Gateway's resolution and the objects it was computed from.
type resolved struct {
	result gatewayapi.Result
	// routes are every route that names the Gateway or one of its ListenerSets, now or in a status
	// entry of ours, by kind: their status entries for this Gateway are rewritten.
	routes map[string][]client.Object
	// listenerSets are the ListenerSets whose parent is the Gateway.
	listenerSets []*gwapiv1.ListenerSet
	// policies are the BackendTLSPolicies whose ancestor entry for the Gateway is rewritten.
	policies []*gwapiv1.BackendTLSPolicy
	// pools are the InferencePools whose status entry for the Gateway is rewritten.
	pools []*infv1.InferencePool
	// secrets are the certificate Secrets resolve read, by "<ns>/<name>" (the model's Secret
	// names), so that translation uses the very data resolve judged.
	secrets map[string]*corev1.Secret
	// ingress is what resolve read of the Ingress front end (nil: no IngressClass is served by
	// the Gateway).
	ingress *ingressRead
}

// served says whether the CRD of a kind was installed at start-up.
func (f *FleetInputs) served(kind string) bool { return !slices.Contains(f.Unserved, kind) }

// readOnly reads objects from the cache without copying them: resolution only reads its input
// (and the objects stay what the resolution, and the next one's memo, saw: the informer
// replaces an object that changes, never writes into it). Nothing may write into them.
var readOnly = client.UnsafeDisableDeepCopy

// resolve reads what the Gateway's resolution needs from the cache and resolves it, from prev
// (the fleet's last resolution, nil for none; see gatewayapi.ResolveFrom).
func (f *FleetInputs) resolve(ctx context.Context, gw *gwapiv1.Gateway, p resolveParams, prev *gatewayapi.Result) (*resolved, error) {
	resolutionsTotal.Inc()
	in := gatewayapi.Input{Gateway: gw, ControllerName: ControllerName,
		TLSTerminate: features.Has(gwfeatures.SupportTLSRouteModeTerminate), TrustedForwardedHops: p.trustedHops,
		Tracing: p.tracing, AccessLogSink: p.accessLogSink}
	out := &resolved{routes: map[string][]client.Object{}, secrets: map[string]*corev1.Secret{}}
	gwKey := provisioner.FleetKey(gw)
	parentKeys := []string{"Gateway/" + gwKey}
	if f.served("ListenerSet") {
		list := &gwapiv1.ListenerSetList{}
		if err := f.Client.List(ctx, list, client.MatchingFields{IndexListenerSetParent: gwKey}, readOnly); err != nil {
			return nil, err
		}
		for i := range list.Items {
			ls := &list.Items[i]
			in.ListenerSets = append(in.ListenerSets, ls)
			out.listenerSets = append(out.listenerSets, ls)
			parentKeys = append(parentKeys, "ListenerSet/"+ls.Namespace+"/"+ls.Name)
		}
	}
	services, filters := sets.New[string](), sets.New[string]()
	for _, rk := range routeKinds {
		if !f.served(rk.kind) {
			continue
		}
		seen := sets.New[types.NamespacedName]()
		for _, key := range parentKeys {
			list := rk.newList()
			if err := f.Client.List(ctx, list, client.MatchingFields{IndexRouteParent: key}, readOnly); err != nil {
				return nil, fmt.Errorf("listing %ss of %s: %w", rk.kind, key, err)
			}
			for _, o := range rk.items(list) {
				if seen.Has(client.ObjectKeyFromObject(o)) {
					continue
				}
				seen.Insert(client.ObjectKeyFromObject(o))
				out.routes[rk.kind] = append(out.routes[rk.kind], o)
				for _, b := range rk.backends(o) {
					if k := gatewayapi.ServiceKey(o.GetNamespace(), b); k != "" {
						services.Insert(k)
					}
				}
				filters.Insert(routeFilterRefs(o)...)
				addRoute(&in, o)
			}
		}
	}
	ingressSecrets := sets.New[string]()
	if err := f.readRouteFilters(ctx, &in, filters, services, ingressSecrets); err != nil {
		return nil, fmt.Errorf("reading RouteFilters: %w", err)
	}
	read, err := f.readIngresses(ctx, gw, &in, services, ingressSecrets)
	if err != nil {
		return nil, fmt.Errorf("reading Ingresses: %w", err)
	}
	out.ingress = read
	if f.served("ReferenceGrant") {
		grants := &gwapiv1.ReferenceGrantList{}
		if err := f.Client.List(ctx, grants); err != nil {
			return nil, err
		}
		for i := range grants.Items {
			in.ReferenceGrants = append(in.ReferenceGrants, &grants.Items[i])
		}
	}
	pools, err := f.readPools(ctx, gw, &in, services)
	if err != nil {
		return nil, err
	}
	out.pools = pools
	for _, key := range sets.List(services) {
		ns, name, _ := strings.Cut(key, "/")
		svc := &corev1.Service{}
		if err := f.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, svc, readOnly); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		in.Services = append(in.Services, svc)
		slices := &discoveryv1.EndpointSliceList{}
		if err := f.Client.List(ctx, slices, client.MatchingFields{IndexEndpointSliceService: key}, readOnly); err != nil {
			return nil, err
		}
		for i := range slices.Items {
			in.EndpointSlices = append(in.EndpointSlices, &slices.Items[i])
		}
	}
	policies, err := f.readPolicies(ctx, gw, &in, sets.List(services))
	if err != nil {
		return nil, err
	}
	if err := f.readCollector(ctx, gw, &in); err != nil {
		return nil, fmt.Errorf("reading the tracing collector Service: %w", err)
	}
	out.policies = policies
	managed := gw.Namespace + "/" + provisioner.BackendClientSecretName(gw)
	secrets := sets.New(append(gatewayapi.BackendClientCertificateKeys(gw), managed)...).Union(ingressSecrets)
	for _, l := range gw.Spec.Listeners {
		secrets.Insert(gatewayapi.CertificateKeys(gw.Namespace, l.TLS)...)
	}
	for _, ls := range in.ListenerSets {
		for _, l := range ls.Spec.Listeners {
			secrets.Insert(gatewayapi.CertificateKeys(ls.Namespace, l.TLS)...)
		}
	}
	for _, key := range sets.List(secrets) {
		ns, name, _ := strings.Cut(key, "/")
		s := &corev1.Secret{}
		if err := f.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		if key == managed {
			// Only a Secret of ours (cert-manager copies our labels onto it) is used unasked.
			if s.Labels[provisioner.LabelManagedBy] != provisioner.ManagedByValue {
				continue
			}
			in.ManagedBackendClientCertificate = key
		}
		in.Secrets = append(in.Secrets, gatewayapi.SecretInfoFrom(s))
		out.secrets[key] = s
		if read != nil && read.caSecrets.Has(key) {
			in.CACertificates = append(in.CACertificates, gatewayapi.CACertificate{Kind: "Secret", Namespace: ns, Name: name, PEM: string(s.Data["ca.crt"])})
		}
	}
	if err := f.readFrontendCAs(ctx, gw, &in); err != nil {
		return nil, fmt.Errorf("reading frontend CA certificates: %w", err)
	}
	nss := &corev1.NamespaceList{}
	if err := f.Client.List(ctx, nss, readOnly); err != nil {
		return nil, err
	}
	for i := range nss.Items {
		in.Namespaces = append(in.Namespaces, &nss.Items[i])
	}
	out.result = gatewayapi.ResolveFrom(in, prev)
	resolutionPaths.WithLabelValues(string(out.result.Path())).Inc()
	return out, nil
}

func addRoute(in *gatewayapi.Input, o client.Object) {
	switch rt := o.(type) {
	case *gwapiv1.HTTPRoute:
		in.HTTPRoutes = append(in.HTTPRoutes, rt)
	case *gwapiv1.GRPCRoute:
		in.GRPCRoutes = append(in.GRPCRoutes, rt)
	case *gwapiv1.TLSRoute:
		in.TLSRoutes = append(in.TLSRoutes, rt)
	case *gwapiv1.TCPRoute:
		in.TCPRoutes = append(in.TCPRoutes, rt)
	case *gwapiv1.UDPRoute:
		in.UDPRoutes = append(in.UDPRoutes, rt)
	}
}

func gatewayRequests(list *gwapiv1.GatewayList) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, gw := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name}})
	}
	return reqs
}

func (f *FleetInputs) listGateways(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	list := &gwapiv1.GatewayList{}
	if err := f.Client.List(ctx, list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing Gateways")
		return nil
	}
	return gatewayRequests(list)
}

func (f *FleetInputs) gatewaysOfClass(ctx context.Context, o client.Object) []reconcile.Request {
	return f.listGateways(ctx, client.MatchingFields{IndexGatewayClassName: o.GetName()})
}

func (f *FleetInputs) gatewaysOfFleetClass(ctx context.Context, o client.Object) []reconcile.Request {
	classes := &gwapiv1.GatewayClassList{}
	if err := f.Client.List(ctx, classes, client.MatchingFields{IndexGatewayClassFleetClass: o.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing GatewayClasses of a FleetClass")
		return nil
	}
	var reqs []reconcile.Request
	for _, c := range classes.Items {
		reqs = append(reqs, f.gatewaysOfClass(ctx, &c)...)
	}
	return reqs
}

func (f *FleetInputs) gatewaysOfFleetConfig(ctx context.Context, o client.Object) []reconcile.Request {
	return f.listGateways(ctx, client.InNamespace(o.GetNamespace()), client.MatchingFields{IndexGatewayFleetConfig: o.GetName()})
}

// gatewayOfFleetObjectName maps an object by its name to the Gateway whose fleet object it is named
// after: a Secret Flotilla has cert-manager fill (the fleet certificate, the backend client
// certificate), or any object that took a fleet object's name.
func (f *FleetInputs) gatewayOfFleetObjectName(ctx context.Context, o client.Object) []reconcile.Request {
	list := &gwapiv1.GatewayList{}
	if err := f.Client.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing Gateways")
		return nil
	}
	for _, gw := range list.Items {
		if provisioner.FleetName(&gw) == o.GetName() || provisioner.SecretName(&gw) == o.GetName() || provisioner.BackendClientSecretName(&gw) == o.GetName() {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name}}}
		}
	}
	return nil
}

// gatewaysInNamespace answers a namespace label change: tenancy admission of the namespace's own
// Gateways, and allowedRoutes/allowedListeners selectors of any Gateway, may change. Rare: all.
func (f *FleetInputs) gatewaysInNamespace(ctx context.Context, _ client.Object) []reconcile.Request {
	return f.listGateways(ctx)
}

func (f *FleetInputs) allGateways(ctx context.Context, _ client.Object) []reconcile.Request {
	return f.listGateways(ctx)
}

// gatewaysOfRoute maps a route to the Gateways it names (directly or through a ListenerSet) and those
// whose status entries it still carries.
func (f *FleetInputs) gatewaysOfRoute(rk routeKind) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		keys := sets.New[string]()
		for _, ref := range rk.spec(o).ParentRefs {
			keys.Insert(gatewayapi.ParentKey(o.GetNamespace(), ref))
		}
		for _, p := range *rk.parents(o) {
			if p.ControllerName == ControllerName {
				keys.Insert(gatewayapi.ParentKey(o.GetNamespace(), p.ParentRef))
			}
		}
		return f.gatewaysOfParents(ctx, keys)
	}
}

// gatewaysOfParents turns "Gateway/ns/name" and "ListenerSet/ns/name" keys into Gateway requests.
func (f *FleetInputs) gatewaysOfParents(ctx context.Context, keys sets.Set[string]) []reconcile.Request {
	var reqs []reconcile.Request
	for _, k := range sets.List(keys) {
		kind, rest, _ := strings.Cut(k, "/")
		ns, name, _ := strings.Cut(rest, "/")
		switch kind {
		case "Gateway":
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
		case "ListenerSet":
			if !f.served("ListenerSet") {
				continue
			}
			ls := &gwapiv1.ListenerSet{}
			if err := f.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, ls); err == nil {
				reqs = append(reqs, f.gatewayOfListenerSet(ctx, ls)...)
			}
		}
	}
	return reqs
}

func (f *FleetInputs) gatewayOfListenerSet(_ context.Context, o client.Object) []reconcile.Request {
	ls := o.(*gwapiv1.ListenerSet)
	ns := ls.Namespace
	if ls.Spec.ParentRef.Namespace != nil {
		ns = string(*ls.Spec.ParentRef.Namespace)
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: string(ls.Spec.ParentRef.Name)}}}
}

// gatewaysOfServiceKey maps a Service ("ns/name") to the Gateways of the routes that use it.
func (f *FleetInputs) gatewaysOfServiceKey(ctx context.Context, key string) []reconcile.Request {
	keys := sets.New[string]()
	for _, rk := range routeKinds {
		if !f.served(rk.kind) {
			continue
		}
		list := rk.newList()
		if err := f.Client.List(ctx, list, client.MatchingFields{IndexRouteService: key}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Listing routes of a Service", "service", key)
			continue
		}
		for _, o := range rk.items(list) {
			for _, ref := range rk.spec(o).ParentRefs {
				keys.Insert(gatewayapi.ParentKey(o.GetNamespace(), ref))
			}
		}
	}
	reqs := append(f.gatewaysOfParents(ctx, keys), f.gatewaysOfPicker(ctx, key)...)
	reqs = append(reqs, f.gatewaysOfRouteFiltersUsing(ctx, IndexRouteFilterService, key)...)
	return append(reqs, f.gatewaysOfIngressesUsing(ctx, IndexIngressService, key)...)
}

func (f *FleetInputs) gatewaysOfService(ctx context.Context, o client.Object) []reconcile.Request {
	return append(f.gatewaysOfServiceKey(ctx, o.GetNamespace()+"/"+o.GetName()), f.gatewaysOfCollector(ctx, o.GetNamespace(), o.GetName())...)
}

// gatewaysOfEndpointSlice maps an EndpointSlice to an endpoints request of each Gateway that
// uses its Service (see endpoints.go): the fleet's endpoints alone are computed again.
func (f *FleetInputs) gatewaysOfEndpointSlice(ctx context.Context, o client.Object) []reconcile.Request {
	svc := o.GetLabels()[discoveryv1.LabelServiceName]
	if svc == "" {
		return nil
	}
	reqs := f.gatewaysOfServiceKey(ctx, o.GetNamespace()+"/"+svc)
	for i, r := range reqs {
		reqs[i] = endpointsRequest(r.NamespacedName, o.GetNamespace(), svc)
	}
	return reqs
}

// gatewaysOfCertificate maps a Secret to the Gateways whose listeners (or ListenerSets' listeners)
// use it as a certificate.
func (f *FleetInputs) gatewaysOfCertificate(ctx context.Context, o client.Object) []reconcile.Request {
	key := o.GetNamespace() + "/" + o.GetName()
	reqs := f.listGateways(ctx, client.MatchingFields{IndexCertificateSecret: key})
	if f.served("ListenerSet") {
		list := &gwapiv1.ListenerSetList{}
		if err := f.Client.List(ctx, list, client.MatchingFields{IndexCertificateSecret: key}); err == nil {
			for i := range list.Items {
				reqs = append(reqs, f.gatewayOfListenerSet(ctx, &list.Items[i])...)
			}
		}
	}
	reqs = append(reqs, f.gatewaysOfRouteFiltersUsing(ctx, IndexRouteFilterSecret, key)...)
	return append(reqs, f.gatewaysOfIngressesUsing(ctx, IndexIngressSecret, key)...)
}
