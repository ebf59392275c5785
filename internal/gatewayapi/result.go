package gatewayapi

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// Result is what Resolve decided: the fleet model and the status every object should report.
// Conditions carry observedGeneration and no lastTransitionTime (the status writer keeps it).
type Result struct {
	Fleet model.Fleet `json:"fleet"`
	// Listeners are the Gateway's own listener entries, in spec order.
	Listeners []gwapiv1.ListenerStatus `json:"listeners,omitempty"`
	// AttachedListenerSets counts the accepted ListenerSets of the Gateway.
	AttachedListenerSets int32 `json:"attachedListenerSets"`
	// InvalidListeners names the Gateway's listeners that are not accepted or conflicted, for the
	// Gateway's own Accepted condition (ListenersNotValid), in spec order.
	InvalidListeners []gwapiv1.SectionName `json:"invalidListeners,omitempty"`
	// ListenerSets that name the Gateway as their parent, sorted by namespace and name.
	ListenerSets []ListenerSetStatus `json:"listenerSets,omitempty"`
	// Routes with at least one parentRef to the Gateway or one of its ListenerSets, sorted by kind,
	// namespace and name.
	Routes []RouteStatus `json:"routes,omitempty"`
	// BackendTLSPolicies that target a Service of the Gateway's routes, sorted by namespace and
	// name, with their ancestor entry for this Gateway.
	BackendTLSPolicies []PolicyStatus `json:"backendTLSPolicies,omitempty"`
	// InferencePools that the Gateway's routes name in a backendRef, sorted by namespace and
	// name, with the Gateway's entry for their status.parents.
	InferencePools []InferencePoolStatus `json:"inferencePools,omitempty"`
	// GatewayResolvedRefs is the Gateway's own ResolvedRefs condition, for the controller to set
	// on the Gateway as is: False with RefNotPermitted or InvalidClientCertificateRef when
	// spec.tls.backend.clientCertificateRef cannot be used (the Gateway stays Accepted; TLS
	// backends then get no client certificate), else False with ListenersNotResolved when one of
	// the Gateway's own listeners has ResolvedRefs False, else True. Empty (no type) only when
	// Input.Gateway is nil.
	GatewayResolvedRefs metav1.Condition `json:"gatewayResolvedRefs"`
	// GatewayInsecureFrontend is the Gateway's InsecureFrontendValidationMode condition (True,
	// ConfigurationChanged) while spec.tls.frontend has mode AllowInsecureFallback anywhere; nil:
	// the condition is removed.
	GatewayInsecureFrontend *metav1.Condition `json:"gatewayInsecureFrontend,omitempty"`
	// GatewayTracing is the Gateway's ConditionTracing; nil when the class configures no tracing
	// (the condition is removed).
	GatewayTracing *metav1.Condition `json:"gatewayTracing,omitempty"`
	// Ingresses of Input.Ingresses, sorted by namespace and name.
	Ingresses []IngressStatus `json:"ingresses,omitempty"`

	// byService are the clusters whose endpoints come from each Service's EndpointSlices
	// ("ns/name"), built on first use (see SetEndpoints).
	byService map[string][]fed
	// epSources and epIndex are the resolver's: sources by its cluster index, and that index.
	epSources []endpointSource
	epIndex   map[string]int
	// memo is what the resolution lends the next (ResolveFrom; nil for Resolve).
	memo *resolveMemo
	// epExtra are the endpoint sources of clusters a patch added (see patchClusters);
	// sharedClusters says Fleet.Clusters is also the patch state's (SetEndpoints copies it).
	epExtra        map[string]endpointSource
	sharedClusters bool
	path           ResolutionPath
}

// ResolutionPath is how a resolution was made (see ResolveFrom).
type ResolutionPath string

const (
	// PathFull converted every route.
	PathFull ResolutionPath = "full"
	// PathMemo converted only the routes that changed, and resolved the rest in full.
	PathMemo ResolutionPath = "memo"
	// PathPatch made again only what the changed routes touch.
	PathPatch ResolutionPath = "patch"
)

// Path says how the resolution was made.
func (r *Result) Path() ResolutionPath {
	if r.path == "" {
		return PathFull
	}
	return r.path
}

// PolicyStatus is one policy's ancestor entries for this Gateway (one, naming the Gateway).
type PolicyStatus struct {
	Namespace string                         `json:"namespace"`
	Name      string                         `json:"name"`
	Ancestors []gwapiv1.PolicyAncestorStatus `json:"ancestors"`
}

// ListenerSetStatus is the status of one ListenerSet.
type ListenerSetStatus struct {
	Namespace  string                        `json:"namespace"`
	Name       string                        `json:"name"`
	Conditions []metav1.Condition            `json:"conditions"`
	Listeners  []gwapiv1.ListenerEntryStatus `json:"listeners,omitempty"`
}

// RouteStatus is one route's parent entries for this Gateway: one per parentRef that points at the
// Gateway or one of its ListenerSets, in parentRefs order (equal parentRefs share one entry).
type RouteStatus struct {
	Kind      string                      `json:"kind"`
	Namespace string                      `json:"namespace"`
	Name      string                      `json:"name"`
	Parents   []gwapiv1.RouteParentStatus `json:"parents"`
}

// conds builds a condition list with one observedGeneration.
type conds struct {
	gen  int64
	list []metav1.Condition
}

func (c *conds) set(t string, ok bool, reason, msg string) {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	for i := range c.list {
		if c.list[i].Type == t {
			c.list[i] = metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: c.gen}
			return
		}
	}
	c.list = append(c.list, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: c.gen})
}

// RouteReasonGatewayNotAccepted is the reason of a route parent entry's Accepted=False when the
// Gateway itself is refused (tenancy limits, parameters, addresses): it serves no route. Gateway
// API has no reason of its own for it.
const RouteReasonGatewayNotAccepted gwapiv1.RouteConditionReason = "GatewayNotAccepted"

// RefuseGateway rewrites the result for a Gateway that is not accepted, and so is served nothing:
// every route parent entry says Accepted=False (GatewayNotAccepted, with why), every ListenerSet
// Accepted=False and Programmed=False (ParentNotAccepted), and none counts as attached. The
// ResolvedRefs conditions stay as resolved: they still tell a team what else to fix.
func (r *Result) RefuseGateway(why string) {
	msg := "The Gateway is not accepted, so it serves no route: " + why
	// Written on copies: a result shares its lists with the state ResolveFrom keeps.
	r.Routes = slices.Clone(r.Routes)
	for i := range r.Routes {
		r.Routes[i].Parents = slices.Clone(r.Routes[i].Parents)
		for j := range r.Routes[i].Parents {
			p := &r.Routes[i].Parents[j]
			p.Conditions = slices.Clone(p.Conditions)
			replaceCondition(&p.Conditions, metav1.Condition{Type: string(gwapiv1.RouteConditionAccepted),
				Status: metav1.ConditionFalse, Reason: string(RouteReasonGatewayNotAccepted), Message: msg})
		}
	}
	r.ListenerSets = slices.Clone(r.ListenerSets)
	for i := range r.ListenerSets {
		ls := &r.ListenerSets[i]
		ls.Conditions = slices.Clone(ls.Conditions)
		for _, typ := range []gwapiv1.ListenerSetConditionType{gwapiv1.ListenerSetConditionAccepted, gwapiv1.ListenerSetConditionProgrammed} {
			replaceCondition(&ls.Conditions, metav1.Condition{Type: string(typ), Status: metav1.ConditionFalse,
				Reason: string(gwapiv1.ListenerSetReasonParentNotAccepted), Message: "The parent Gateway is not accepted: " + why})
		}
	}
	r.AttachedListenerSets = 0
	r.Ingresses = slices.Clone(r.Ingresses)
	for i := range r.Ingresses {
		r.Ingresses[i].Attached = false
	}
}

// replaceCondition sets c in list in place of the condition of its type (keeping that one's
// observedGeneration), or appends it; no lastTransitionTime, as everywhere in a Result.
func replaceCondition(list *[]metav1.Condition, c metav1.Condition) {
	for i := range *list {
		if (*list)[i].Type == c.Type {
			c.ObservedGeneration = (*list)[i].ObservedGeneration
			(*list)[i] = c
			return
		}
	}
	*list = append(*list, c)
}

// MarkUntranslatable reports on route status what translation could not give Envoy as written.
// byRoute maps model route names ("<kind>/<ns>/<name>/rule/<i>/match/<j>") to what translation
// said about them. Every accepted parent entry of such a route gets PartiallyInvalid=True with
// reason UnsupportedValue and the messages, prefixed by rule and match; the route stays Accepted
// (its other rules are served, and the affected ones answer as the message says).
// maxConditionMessage bounds the messages Flotilla builds from lists (the API allows 32768 bytes).
const maxConditionMessage = 4096

func (r *Result) MarkUntranslatable(byRoute map[string][]string) {
	if len(byRoute) == 0 {
		return
	}
	type id struct{ kind, ns, name string }
	msgs := map[id][]string{}
	for name, ms := range byRoute {
		obj, where, ok := strings.Cut(name, "/rule/")
		parts := strings.SplitN(obj, "/", 3)
		if !ok || len(parts) != 3 {
			continue
		}
		where = "rule " + strings.Replace(where, "/match/", " match ", 1)
		k := id{parts[0], parts[1], parts[2]}
		for _, m := range ms {
			msgs[k] = append(msgs[k], where+": "+m)
		}
	}
	r.Routes = slices.Clone(r.Routes) // written on copies, as in RefuseGateway
	for i := range r.Routes {
		rs := &r.Routes[i]
		ms := msgs[id{rs.Kind, rs.Namespace, rs.Name}]
		if len(ms) == 0 {
			continue
		}
		rs.Parents = slices.Clone(rs.Parents)
		slices.Sort(ms)
		msg := strings.Join(slices.Compact(ms), "; ")
		if len(msg) > maxConditionMessage {
			msg = msg[:maxConditionMessage-len(" (more left out)")] + " (more left out)"
		}
		for j := range rs.Parents {
			p := &rs.Parents[j]
			if !meta.IsStatusConditionTrue(p.Conditions, string(gwapiv1.RouteConditionAccepted)) {
				continue
			}
			gen := int64(0)
			if a := meta.FindStatusCondition(p.Conditions, string(gwapiv1.RouteConditionAccepted)); a != nil {
				gen = a.ObservedGeneration
			}
			c := conds{gen: gen, list: slices.Clone(p.Conditions)}
			c.set(string(gwapiv1.RouteConditionPartiallyInvalid), true, string(gwapiv1.RouteReasonUnsupportedValue), msg)
			p.Conditions = c.list
		}
	}
}
