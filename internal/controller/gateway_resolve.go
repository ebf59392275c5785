package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwfeatures "sigs.k8s.io/gateway-api/pkg/features"

	"github.com/flotilla-dev/flotilla/internal/features"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
)

// resolved is one Gateway's resolution and the objects it was computed from.
type resolved struct {
	result gatewayapi.Result
	// routes are every route that names the Gateway or one of its ListenerSets, now or in a status
	// entry of ours, by kind: their status entries for this Gateway are rewritten.
	routes map[string][]client.Object
	// listenerSets are the ListenerSets whose parent is the Gateway.
	listenerSets []*gwapiv1.ListenerSet
}

// served says whether the CRD of a kind was installed at start-up.
func (r *GatewayReconciler) served(kind string) bool { return !slices.Contains(r.Unserved, kind) }

// resolve reads what the Gateway's resolution needs from the cache and resolves it.
func (r *GatewayReconciler) resolve(ctx context.Context, gw *gwapiv1.Gateway) (*resolved, error) {
	in := gatewayapi.Input{Gateway: gw, ControllerName: ControllerName,
		TLSTerminate: features.Has(gwfeatures.SupportTLSRouteModeTerminate)}
	out := &resolved{routes: map[string][]client.Object{}}
	gwKey := gw.Namespace + "/" + gw.Name
	parentKeys := []string{"Gateway/" + gwKey}
	if r.served("ListenerSet") {
		list := &gwapiv1.ListenerSetList{}
		if err := r.Client.List(ctx, list, client.MatchingFields{IndexListenerSetParent: gwKey}); err != nil {
			return nil, err
		}
		for i := range list.Items {
			ls := &list.Items[i]
			in.ListenerSets = append(in.ListenerSets, ls)
			out.listenerSets = append(out.listenerSets, ls)
			parentKeys = append(parentKeys, "ListenerSet/"+ls.Namespace+"/"+ls.Name)
		}
	}
	services := sets.New[string]()
	for _, rk := range routeKinds {
		if !r.served(rk.kind) {
			continue
		}
		seen := sets.New[types.NamespacedName]()
		for _, key := range parentKeys {
			list := rk.newList()
			if err := r.Client.List(ctx, list, client.MatchingFields{IndexRouteParent: key}); err != nil {
				return nil, fmt.Errorf("listing %ss of %s: %w", rk.kind, key, err)
			}
			for _, o := range rk.items(list) {
				if seen.Has(client.ObjectKeyFromObject(o)) {
					continue
				}
				seen.Insert(client.ObjectKeyFromObject(o))
				out.routes[rk.kind] = append(out.routes[rk.kind], o)
				for _, b := range rk.backends(o) {
					if k := serviceKey(o.GetNamespace(), b); k != "" {
						services.Insert(k)
					}
				}
				addRoute(&in, o)
			}
		}
	}
	if r.served("ReferenceGrant") {
		grants := &gwapiv1.ReferenceGrantList{}
		if err := r.Client.List(ctx, grants); err != nil {
			return nil, err
		}
		for i := range grants.Items {
			in.ReferenceGrants = append(in.ReferenceGrants, &grants.Items[i])
		}
	}
	for _, key := range sets.List(services) {
		ns, name, _ := strings.Cut(key, "/")
		svc := &corev1.Service{}
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, svc); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		in.Services = append(in.Services, svc)
		slices := &discoveryv1.EndpointSliceList{}
		if err := r.Client.List(ctx, slices, client.InNamespace(ns), client.MatchingLabels{discoveryv1.LabelServiceName: name}); err != nil {
			return nil, err
		}
		for i := range slices.Items {
			in.EndpointSlices = append(in.EndpointSlices, &slices.Items[i])
		}
	}
	secrets := sets.New[string]()
	for _, l := range gw.Spec.Listeners {
		secrets.Insert(certificateKeys(gw.Namespace, l.TLS)...)
	}
	for _, ls := range in.ListenerSets {
		for _, l := range ls.Spec.Listeners {
			secrets.Insert(certificateKeys(ls.Namespace, l.TLS)...)
		}
	}
	for _, key := range sets.List(secrets) {
		ns, name, _ := strings.Cut(key, "/")
		s := &corev1.Secret{}
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		in.Secrets = append(in.Secrets, gatewayapi.SecretInfoFrom(s))
	}
	nss := &corev1.NamespaceList{}
	if err := r.Client.List(ctx, nss); err != nil {
		return nil, err
	}
	for i := range nss.Items {
		in.Namespaces = append(in.Namespaces, &nss.Items[i])
	}
	out.result = gatewayapi.Resolve(in)
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

// writeRouteStatuses writes, on every route of the resolution, this Gateway's parent entries:
// entries of other controllers and of other parents are kept; ours for this Gateway (or its
// ListenerSets) are replaced by what resolve decided, or removed when the route no longer names
// it. Conditions keep their lastTransitionTime when unchanged.
func (r *GatewayReconciler) writeRouteStatuses(ctx context.Context, gw *gwapiv1.Gateway, res *resolved) error {
	mine := sets.New("Gateway/" + gw.Namespace + "/" + gw.Name)
	for _, ls := range res.listenerSets {
		mine.Insert("ListenerSet/" + ls.Namespace + "/" + ls.Name)
	}
	decided := map[string][]gwapiv1.RouteParentStatus{}
	for _, rs := range res.result.Routes {
		decided[rs.Kind+"/"+rs.Namespace+"/"+rs.Name] = rs.Parents
	}
	for _, rk := range routeKinds {
		for _, o := range res.routes[rk.kind] {
			want := decided[rk.kind+"/"+o.GetNamespace()+"/"+o.GetName()]
			obj := rk.newObj()
			before := map[string][]metav1.Condition{}
			wrote, err := r.Status.Update(ctx, client.ObjectKeyFromObject(o), obj, func() {
				parents := rk.parents(obj)
				ours := func(p gwapiv1.RouteParentStatus) bool {
					return p.ControllerName == ControllerName && mine.Has(parentKey(obj.GetNamespace(), p.ParentRef))
				}
				for _, p := range *parents {
					if ours(p) {
						before[refID(obj.GetNamespace(), p.ParentRef)] = slices.Clone(p.Conditions)
					}
				}
				*parents = mergeParents(*parents, want, obj.GetNamespace(), ours)
			})
			if err != nil {
				return err
			}
			if wrote {
				recordRouteTransitions(r.Recorder, obj, before, want)
			}
		}
	}
	return nil
}

// mergeParents replaces the entries ours() selects with want, keeping lastTransitionTime of
// conditions that did not change and the order of entries that stay.
func mergeParents(cur, want []gwapiv1.RouteParentStatus, ns string, ours func(gwapiv1.RouteParentStatus) bool) []gwapiv1.RouteParentStatus {
	old := map[string]gwapiv1.RouteParentStatus{}
	var out []gwapiv1.RouteParentStatus
	for _, p := range cur {
		if ours(p) {
			old[refID(ns, p.ParentRef)] = p
			continue
		}
		out = append(out, p)
	}
	for _, w := range want {
		w.Conditions = mergeConditions(old[refID(ns, w.ParentRef)].Conditions, w.Conditions)
		out = append(out, w)
	}
	return out
}

// refID identifies a parentRef including sectionName and port.
func refID(ns string, ref gwapiv1.ParentReference) string {
	id := parentKey(ns, ref)
	if ref.SectionName != nil {
		id += "#" + string(*ref.SectionName)
	}
	if ref.Port != nil {
		id += fmt.Sprintf(":%d", *ref.Port)
	}
	return id
}

// writeListenerSetStatuses writes each ListenerSet's conditions and listener entries.
func (r *GatewayReconciler) writeListenerSetStatuses(ctx context.Context, res *resolved) error {
	for _, st := range res.result.ListenerSets {
		ls := &gwapiv1.ListenerSet{}
		if _, err := r.Status.Update(ctx, types.NamespacedName{Namespace: st.Namespace, Name: st.Name}, ls, func() {
			ls.Status.Conditions = mergeConditions(ls.Status.Conditions, st.Conditions)
			ls.Status.Listeners = mergeListenerEntries(ls.Status.Listeners, st.Listeners)
		}); err != nil {
			return err
		}
	}
	return nil
}

func mergeListenerEntries(cur, want []gwapiv1.ListenerEntryStatus) []gwapiv1.ListenerEntryStatus {
	out := make([]gwapiv1.ListenerEntryStatus, 0, len(want))
	for _, w := range want {
		var before []metav1.Condition
		for _, c := range cur {
			if c.Name == w.Name {
				before = c.Conditions
			}
		}
		w.Conditions = mergeConditions(before, w.Conditions)
		out = append(out, w)
	}
	return out
}

// recordRouteTransitions emits an Event for each parent entry whose Accepted or ResolvedRefs
// condition changed what it says (a Warning when it turned False).
func recordRouteTransitions(rec recorder.EventRecorder, route client.Object, before map[string][]metav1.Condition, after []gwapiv1.RouteParentStatus) {
	for _, p := range after {
		prev := before[refID(route.GetNamespace(), p.ParentRef)]
		for _, typ := range []string{string(gwapiv1.RouteConditionAccepted), string(gwapiv1.RouteConditionResolvedRefs)} {
			if c := meta.FindStatusCondition(p.Conditions, typ); c != nil {
				recordTransition(rec, route, meta.FindStatusCondition(prev, typ), *c)
			}
		}
	}
}
