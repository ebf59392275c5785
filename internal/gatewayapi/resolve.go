package gatewayapi

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// resolver holds the indexes of one Resolve call.
type resolver struct {
	in         Input
	gw         *gwapiv1.Gateway
	secrets    map[string]SecretInfo
	services   map[string]*corev1.Service
	slices     map[string][]*discoveryv1.EndpointSlice
	namespaces map[string]*corev1.Namespace
	grants     map[string][]*gwapiv1.ReferenceGrant
	clusters   map[string]model.Cluster
	listeners  []*listener // Gateway listeners, then ListenerSet listeners, in precedence order
	sets       []*listenerSet
}

// Resolve turns one Gateway and everything it references into the fleet model and the status of
// the Gateway's listeners, its ListenerSets and every route that names it. It never fails: a bad
// object gets its condition and changes nothing else.
func Resolve(in Input) Result {
	r := &resolver{in: in, gw: in.Gateway, secrets: map[string]SecretInfo{}, services: map[string]*corev1.Service{},
		slices: map[string][]*discoveryv1.EndpointSlice{}, namespaces: map[string]*corev1.Namespace{},
		grants: map[string][]*gwapiv1.ReferenceGrant{}, clusters: map[string]model.Cluster{}}
	if r.gw == nil {
		return Result{}
	}
	r.index()
	for _, spec := range r.gw.Spec.Listeners {
		r.listeners = append(r.listeners, r.newListener(kindGateway, r.gw.Namespace, r.gw.Name, r.gw.Generation, 0, spec))
	}
	r.sets = r.listenerSets()
	for _, s := range r.sets {
		r.listeners = append(r.listeners, s.listeners...)
	}
	markConflicts(r.listeners)
	for _, l := range r.listeners {
		l.finish()
	}

	res := Result{}
	res.Routes = r.routes()
	res.Fleet = r.build()
	for _, l := range r.listeners[:len(r.gw.Spec.Listeners)] {
		res.Listeners = append(res.Listeners, l.status())
		if !l.supported || l.conflict != "" {
			res.InvalidListeners = append(res.InvalidListeners, l.name)
		}
	}
	for _, s := range r.sets {
		st, ok := s.status()
		if ok {
			res.AttachedListenerSets++
		}
		res.ListenerSets = append(res.ListenerSets, st)
	}
	slices.SortFunc(res.ListenerSets, func(a, b ListenerSetStatus) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return res
}

func (r *resolver) index() {
	for _, s := range r.in.Secrets {
		r.secrets[s.Namespace+"/"+s.Name] = s
	}
	for _, s := range r.in.Services {
		r.services[s.Namespace+"/"+s.Name] = s
	}
	for _, es := range r.in.EndpointSlices {
		if svc := es.Labels[discoveryv1.LabelServiceName]; svc != "" {
			r.slices[es.Namespace+"/"+svc] = append(r.slices[es.Namespace+"/"+svc], es)
		}
	}
	for _, n := range r.in.Namespaces {
		r.namespaces[n.Name] = n
	}
	for _, g := range r.in.ReferenceGrants {
		r.grants[g.Namespace] = append(r.grants[g.Namespace], g)
	}
}

// granted says whether a ReferenceGrant in toNS lets (fromGroup, fromKind) objects in fromNS
// refer to the (toGroup, toKind) object named toName.
func (r *resolver) granted(fromGroup gwapiv1.Group, fromKind gwapiv1.Kind, fromNS string, toGroup gwapiv1.Group, toKind gwapiv1.Kind, toNS, toName string) bool {
	for _, g := range r.grants[toNS] {
		from := slices.ContainsFunc(g.Spec.From, func(f gwapiv1.ReferenceGrantFrom) bool {
			return f.Group == fromGroup && f.Kind == fromKind && string(f.Namespace) == fromNS
		})
		to := slices.ContainsFunc(g.Spec.To, func(t gwapiv1.ReferenceGrantTo) bool {
			return t.Group == toGroup && t.Kind == toKind && (t.Name == nil || *t.Name == "" || string(*t.Name) == toName)
		})
		if from && to {
			return true
		}
	}
	return false
}

// namespaceAllowed applies a From/Selector pair (allowedRoutes or allowedListeners): may an
// object in ns attach to a parent in ownNS?
func (r *resolver) namespaceAllowed(from *gwapiv1.FromNamespaces, sel *metav1.LabelSelector, def gwapiv1.FromNamespaces, ownNS, ns string) bool {
	f := def
	if from != nil {
		f = *from
	}
	switch f {
	case gwapiv1.NamespacesFromAll:
		return true
	case gwapiv1.NamespacesFromSame:
		return ns == ownNS
	case gwapiv1.NamespacesFromSelector:
		if sel == nil {
			return false
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		n := r.namespaces[ns]
		return err == nil && n != nil && s.Matches(labels.Set(n.Labels))
	}
	return false
}
