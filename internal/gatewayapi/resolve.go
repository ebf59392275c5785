package gatewayapi

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	infv1 "sigs.k8s.io/gateway-api-inference-extension/api/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/model"
)

// resolver holds the indexes of one Resolve call.
type resolver struct {
	in         Input
	gw         *gwapiv1.Gateway
	secrets    map[string]SecretInfo
	services   map[objKey]*corev1.Service
	slices     map[objKey]endpointSlices
	epSources  []endpointSource // by cluster index: where its endpoints come from (port nil: not slices)
	namespaces map[string]*corev1.Namespace
	grants     map[string][]*gwapiv1.ReferenceGrant
	// clusters are the resolved clusters, indexed by name in clusterIndex.
	clusters     []model.Cluster
	clusterIndex map[string]int
	// backends caches the clusters (indexes in clusters) of backendRefs that resolved.
	backends map[backendKey]int
	// selectors caches parsed label selectors (nil: the selector is invalid).
	selectors map[*metav1.LabelSelector]labels.Selector
	stamp     int         // the last route.stamp given (see virtualHost)
	listeners []*listener // Gateway listeners, then ListenerSet listeners, in precedence order
	sets      []*listenerSet

	// usedServices are the Services the backendRefs of the converted routes name (that exist),
	// tracked only when there are BackendTLSPolicies.
	usedServices map[objKey]bool
	// tlsPolicies are the BackendTLSPolicies, oldest first; tlsWinners the one that applies to
	// each target (see backendtls.go).
	tlsPolicies []*tlsPolicy
	tlsWinners  map[tlsTarget]*tlsPolicy
	bundleIndex map[string]*model.TrustBundle
	caIndex     map[caKey]*caEntry
	// frontends are the resolved spec.tls.frontend configurations ("default", "port/<n>").
	frontends map[string]*frontendValidation
	// clientCert is the model Secret of the Gateway's backend client certificate ("" for none);
	// clientCertReason/Msg say why the one it names cannot be used.
	clientCert       string
	clientCertReason gwapiv1.GatewayConditionReason
	clientCertMsg    string

	// pools index Input.InferencePools and podIndex Input.Pods (by the values of one label key
	// of a namespace), when a route names a pool; poolUses are the pools the converted routes
	// name, in poolOrder.
	pools     map[objKey]*infv1.InferencePool
	podIndex  map[podLabel]map[string][]*corev1.Pod
	poolUses  map[objKey]*poolUse
	poolOrder []objKey

	// ingressed are the routes of Input.Ingresses, for their status once the model is built.
	ingressed []*route

	// routeFilters index Input.RouteFilters when a rule names one; filterChecks are the
	// RouteFilters resolved so far (each once per resolution).
	routeFilters map[objKey]*flotillav1alpha1.RouteFilter
	filterChecks map[filterKey]*FilterCheck
	ingressProts map[filterKey]*model.Protections

	// prev is the memo the last resolution lends (nil: none), next the one this one builds
	// (nil: none, for Resolve); see ResolveFrom. While an HTTPRoute is converted (recording),
	// recClusters and recServices are the clusters and Services it used, and impure says it read
	// something its memo would not replay.
	prev, next  *resolveMemo
	recording   bool
	impure      bool
	recClusters []int
	recServices []objKey
	seq         []*entry // scratch space of vhostEntries
	// ours are the routes of the resolution; patchListeners the route groups of its listeners
	// (for the patch state, see keepPatchState).
	ours           []*route
	patchListeners map[string]*patchListener
}

// Resolve turns one Gateway and everything it references into the fleet model and the status of
// the Gateway's listeners, its ListenerSets and every route that names it. It never fails: a bad
// object gets its condition and changes nothing else.
func Resolve(in Input) Result {
	return resolve(in, nil, false)
}

func resolve(in Input, prev *Result, memoize bool) Result {
	r := newResolver(in)
	if r.gw == nil {
		return Result{}
	}
	var world []any
	if memoize {
		if world, r.prev = worldFrom(prev, &in); world != nil {
			if p := r.prev; p != nil && p.patch != nil {
				r.next = &resolveMemo{world: world, routes: p.routes, vhosts: p.vhosts}
				if res, ok := r.patch(p.patch); ok {
					res.path = PathPatch
					return res
				}
				r = newResolver(in) // the patch path does not apply: start again
				r.prev = p
			}
			r.next = &resolveMemo{world: world, routes: make(map[objID]*routeMemo, len(in.HTTPRoutes)), vhosts: map[vhostKey]*vhostMemo{}}
		}
	}
	r.index()
	r.setupListeners()

	res := Result{}
	res.Routes = r.routes()
	res.Fleet = r.build()
	res.Fleet.Telemetry, res.GatewayTracing = r.tracing()
	res.endpointSources(r)
	for _, l := range r.listeners[:len(r.gw.Spec.Listeners)] {
		res.Listeners = append(res.Listeners, l.status())
		if !l.supported || l.conflict != "" || l.noValidCA {
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
	res.BackendTLSPolicies = r.policyStatuses()
	res.InferencePools = r.poolStatuses()
	res.GatewayResolvedRefs = r.gatewayResolvedRefs(res.Listeners)
	res.GatewayInsecureFrontend = r.insecureFrontend()
	if len(r.in.Ingresses) > 0 {
		res.Ingresses = r.ingressStatuses(r.ingressed)
	}
	if r.next != nil {
		res.memo = r.next
		if r.prev != nil {
			res.path = PathMemo
		}
		r.keepPatchState(&res)
	}
	return res
}

// setupListeners reads the Gateway's policies and backend client certificate, and makes its
// listeners and those of its ListenerSets, conflicts settled.
func (r *resolver) setupListeners() {
	r.indexPolicies()
	if r.tlsPolicies != nil {
		r.usedServices = map[objKey]bool{}
	}
	r.clientCert, r.clientCertReason, r.clientCertMsg = r.backendClientCertificate()
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
		l.refuseWithoutCA()
	}
}

func newResolver(in Input) *resolver {
	return &resolver{in: in, gw: in.Gateway, clusterIndex: map[string]int{}, backends: map[backendKey]int{}}
}

// index indexes the input (the patch path takes the last resolution's indexes instead).
func (r *resolver) index() {
	in := &r.in
	r.secrets, r.services = make(map[string]SecretInfo, len(in.Secrets)), make(map[objKey]*corev1.Service, len(in.Services))
	r.namespaces, r.grants = make(map[string]*corev1.Namespace, len(in.Namespaces)), map[string][]*gwapiv1.ReferenceGrant{}
	for _, s := range r.in.Secrets {
		r.secrets[s.Namespace+"/"+s.Name] = s
	}
	for _, s := range r.in.Services {
		r.services[objKey{s.Namespace, s.Name}] = s
	}
	r.indexSlices()
	for _, n := range r.in.Namespaces {
		r.namespaces[n.Name] = n
	}
	for _, g := range r.in.ReferenceGrants {
		r.grants[g.Namespace] = append(r.grants[g.Namespace], g)
	}
}

// indexSlices indexes the input's EndpointSlices by Service.
func (r *resolver) indexSlices() {
	r.slices = make(map[objKey]endpointSlices, len(r.in.EndpointSlices))
	for _, es := range r.in.EndpointSlices {
		if svc := es.Labels[discoveryv1.LabelServiceName]; svc != "" {
			k := objKey{es.Namespace, svc}
			r.slices[k] = r.slices[k].add(es)
		}
	}
}

// endpointSlices are the EndpointSlices of a Service: most Services have one, which takes no
// allocation.
type endpointSlices struct {
	one  [1]*discoveryv1.EndpointSlice
	more []*discoveryv1.EndpointSlice
}

func (s endpointSlices) add(es *discoveryv1.EndpointSlice) endpointSlices {
	switch {
	case s.one[0] == nil:
		s.one[0] = es
	case s.more == nil:
		s.more = []*discoveryv1.EndpointSlice{s.one[0], es}
	default:
		s.more = append(s.more, es)
	}
	return s
}

func (s *endpointSlices) all() []*discoveryv1.EndpointSlice {
	if s.more != nil {
		return s.more
	}
	if s.one[0] == nil {
		return nil
	}
	return s.one[:]
}

// objKey names a namespaced object.
type objKey struct{ ns, name string }

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
		s, ok := r.selectors[sel]
		if !ok {
			var err error
			if s, err = metav1.LabelSelectorAsSelector(sel); err != nil {
				s = nil
			}
			if r.selectors == nil {
				r.selectors = map[*metav1.LabelSelector]labels.Selector{}
			}
			r.selectors[sel] = s
		}
		n := r.namespaces[ns]
		return s != nil && n != nil && s.Matches(labels.Set(n.Labels))
	}
	return false
}
