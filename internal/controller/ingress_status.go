package controller

import (
	"cmp"
	"context"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/ingress"
)

// writeIngressStatuses sets status.loadBalancer of the Ingresses the Gateway serves to the
// Gateway's addresses (empty for those it refuses), and emits the Warning Events of refusals and
// problems once per change.
func (r *GatewayReconciler) writeIngressStatuses(ctx context.Context, gw *gwapiv1.Gateway, res *resolved) error {
	read := res.ingress
	if read == nil {
		read = &ingressRead{}
	}
	attached := map[types.NamespacedName]bool{}
	for _, st := range res.result.Ingresses {
		attached[types.NamespacedName{Namespace: st.Namespace, Name: st.Name}] = st.Attached
	}
	var lb []networkingv1.IngressLoadBalancerIngress
	for _, a := range gw.Status.Addresses {
		if a.Type != nil && *a.Type == gwapiv1.HostnameAddressType {
			lb = append(lb, networkingv1.IngressLoadBalancerIngress{Hostname: a.Value})
		} else {
			lb = append(lb, networkingv1.IngressLoadBalancerIngress{IP: a.Value})
		}
	}
	ours := make(map[types.NamespacedName]*networkingv1.Ingress, len(read.ingresses))
	for _, ing := range read.ingresses {
		key := client.ObjectKeyFromObject(ing)
		ours[key] = ing
		want := lb
		if !attached[key] { // refused, or no listener serves it
			want = nil
		}
		obj := &networkingv1.Ingress{}
		if _, err := r.Status.Update(ctx, key, obj, func() { obj.Status.LoadBalancer.Ingress = want }); err != nil {
			return err
		}
	}
	// An Ingress that left the Gateway's classes (or whose class stopped being served by it) loses
	// the address it got from this Gateway: the ones still carrying exactly that address.
	if err := r.releaseIngresses(ctx, lb, sets.KeySet(ours)); err != nil {
		return err
	}
	var events []ingress.Event
	events = append(events, read.conversion.Refused...)
	events = append(events, read.conversion.Notes...)
	for _, st := range res.result.Ingresses {
		for _, p := range st.Problems {
			events = append(events, ingress.Event{Namespace: st.Namespace, Name: st.Name, Reason: ReasonIngressProblem, Message: p})
		}
	}
	for _, e := range events {
		if r.ingressEvents.seen(gw, e) {
			continue
		}
		// Every Event is about an Ingress resolve read: no second read of it.
		if ing := ours[types.NamespacedName{Namespace: e.Namespace, Name: e.Name}]; ing != nil && r.Recorder != nil {
			r.Recorder.Eventf(ing, nil, corev1.EventTypeWarning, e.Reason, "Validate", "%s", e.Message)
		}
	}
	r.ingressEvents.keep(gw, events)
	return nil
}

// ReasonIngressProblem is the Event reason of a problem resolution found with a served Ingress (a
// missing Service, a TLS Secret that cannot be used, a path an HTTPRoute overrides, a host no
// listener admits).
const ReasonIngressProblem = "IngressProblem"

// ingressEventLog remembers, per Gateway, the Ingress Events emitted for its last resolution, so
// that a resolution that finds the same problems emits nothing (a resync never floods Events).
type ingressEventLog struct {
	mu   sync.Mutex
	last map[types.NamespacedName]sets.Set[ingress.Event]
}

func (l *ingressEventLog) seen(gw *gwapiv1.Gateway, e ingress.Event) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last[client.ObjectKeyFromObject(gw)].Has(e)
}

func (l *ingressEventLog) keep(gw *gwapiv1.Gateway, events []ingress.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[types.NamespacedName]sets.Set[ingress.Event]{}
	}
	if len(events) == 0 {
		delete(l.last, client.ObjectKeyFromObject(gw))
		return
	}
	l.last[client.ObjectKeyFromObject(gw)] = sets.New(events...)
}

// releaseIngresses clears status.loadBalancer on the Ingresses that carry exactly addresses lb
// but are no longer among ours.
func (r *GatewayReconciler) releaseIngresses(ctx context.Context, lb []networkingv1.IngressLoadBalancerIngress, ours sets.Set[types.NamespacedName]) error {
	if len(lb) == 0 {
		return nil
	}
	list := &networkingv1.IngressList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{IndexIngressAddress: cmp.Or(lb[0].IP, lb[0].Hostname)}); err != nil {
		return err
	}
	for i := range list.Items {
		ing := &list.Items[i]
		key := client.ObjectKeyFromObject(ing)
		if ours.Has(key) || !sameAddresses(ing.Status.LoadBalancer.Ingress, lb) {
			continue
		}
		obj := &networkingv1.Ingress{}
		if _, err := r.Status.Update(ctx, key, obj, func() {
			if sameAddresses(obj.Status.LoadBalancer.Ingress, lb) {
				obj.Status.LoadBalancer.Ingress = nil
			}
		}); err != nil {
			return err
		}
	}
	return nil
}

// sameAddresses compares the IPs and hostnames of two load-balancer lists.
func sameAddresses(a, b []networkingv1.IngressLoadBalancerIngress) bool {
	return slices.EqualFunc(a, b, func(x, y networkingv1.IngressLoadBalancerIngress) bool {
		return x.IP == y.IP && x.Hostname == y.Hostname
	})
}

// releaseIngressesOf clears status.loadBalancer on the Ingresses of the classes whose
// IngressClassConfig names the Gateway ns/name, once the Gateway is gone or no longer Flotilla's:
// nothing serves them any more.
func (r *GatewayReconciler) releaseIngressesOf(ctx context.Context, ns, name string) error {
	_, ingresses, err := r.gatewayIngresses(ctx, ns, name)
	if err != nil {
		return err
	}
	for _, ing := range ingresses {
		if len(ing.Status.LoadBalancer.Ingress) == 0 {
			continue
		}
		obj := &networkingv1.Ingress{}
		if _, err := r.Status.Update(ctx, client.ObjectKeyFromObject(ing), obj, func() { obj.Status.LoadBalancer.Ingress = nil }); err != nil {
			return err
		}
	}
	return nil
}
