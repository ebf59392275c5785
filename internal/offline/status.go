package offline

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
)

// gatewayNote says which status is not computed offline.
const gatewayNote = "The Gateway's own Accepted and Programmed conditions depend on the cluster (GatewayClass, " +
	"FleetClass bounds, the running fleet) and are not computed offline; listener conditions are resolve's, " +
	"as the controller writes them once the fleet is programmed."

// Status is the status every object would get from one Gateway's resolution, in a form a person
// reads: one entry per object (and listener, or route parent), conditions as type, status,
// reason and message.
type Status struct {
	Gateway      GatewaySummary `json:"gateway"`
	Listeners    []ObjectStatus `json:"listeners,omitempty"`
	ListenerSets []ObjectStatus `json:"listenerSets,omitempty"`
	Routes       []ObjectStatus `json:"routes,omitempty"`
	// InferencePools the routes use, with the Gateway's status.parents entry.
	InferencePools []ObjectStatus `json:"inferencePools,omitempty"`
}

// GatewaySummary is what resolve decides of the Gateway itself.
type GatewaySummary struct {
	Object               string   `json:"object"`
	InvalidListeners     []string `json:"invalidListeners,omitempty"`
	AttachedListenerSets int32    `json:"attachedListenerSets"`
	Note                 string   `json:"note"`
}

// ObjectStatus is one status entry: of a listener (Listener set), of a ListenerSet, or of a
// route's parent (Parent set).
type ObjectStatus struct {
	// Object is "<Kind>/<namespace>/<name>".
	Object   string `json:"object"`
	Listener string `json:"listener,omitempty"`
	// Parent is the route's parentRef: "<Kind>/<namespace>/<name>[/<section>][:<port>]".
	Parent         string      `json:"parent,omitempty"`
	AttachedRoutes *int32      `json:"attachedRoutes,omitempty"`
	SupportedKinds []string    `json:"supportedKinds,omitempty"`
	Conditions     []Condition `json:"conditions"`
}

// Condition is a status condition without its bookkeeping fields.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
}

// StatusOf renders a resolution's status for the Gateway gw.
func StatusOf(gw *gwapiv1.Gateway, r *gatewayapi.Result) Status {
	gwObj := "Gateway/" + gw.Namespace + "/" + gw.Name
	st := Status{Gateway: GatewaySummary{Object: gwObj, AttachedListenerSets: r.AttachedListenerSets, Note: gatewayNote}}
	for _, n := range r.InvalidListeners {
		st.Gateway.InvalidListeners = append(st.Gateway.InvalidListeners, string(n))
	}
	for _, l := range r.Listeners {
		st.Listeners = append(st.Listeners, listenerEntry(gwObj, string(l.Name), l.AttachedRoutes, l.SupportedKinds, l.Conditions))
	}
	for _, ls := range r.ListenerSets {
		obj := "ListenerSet/" + ls.Namespace + "/" + ls.Name
		st.ListenerSets = append(st.ListenerSets, ObjectStatus{Object: obj, Conditions: conditions(ls.Conditions)})
		for _, l := range ls.Listeners {
			st.ListenerSets = append(st.ListenerSets, listenerEntry(obj, string(l.Name), l.AttachedRoutes, l.SupportedKinds, l.Conditions))
		}
	}
	for _, rt := range r.Routes {
		obj := rt.Kind + "/" + rt.Namespace + "/" + rt.Name
		for _, p := range rt.Parents {
			st.Routes = append(st.Routes, ObjectStatus{Object: obj, Parent: parentName(rt.Namespace, p.ParentRef),
				Conditions: conditions(p.Conditions)})
		}
	}
	for _, p := range r.InferencePools {
		st.InferencePools = append(st.InferencePools, ObjectStatus{Object: "InferencePool/" + p.Namespace + "/" + p.Name,
			Parent: "Gateway/" + gw.Namespace + "/" + gw.Name, Conditions: conditions(p.Conditions)})
	}
	return st
}

func listenerEntry(obj, name string, attached int32, kinds []gwapiv1.RouteGroupKind, conds []metav1.Condition) ObjectStatus {
	e := ObjectStatus{Object: obj, Listener: name, AttachedRoutes: &attached, Conditions: conditions(conds)}
	for _, k := range kinds {
		e.SupportedKinds = append(e.SupportedKinds, string(k.Kind))
	}
	return e
}

func conditions(in []metav1.Condition) []Condition {
	out := make([]Condition, 0, len(in))
	for _, c := range in {
		out = append(out, Condition{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message})
	}
	return out
}

// parentName names a parentRef with its defaults filled in.
func parentName(routeNS string, p gwapiv1.ParentReference) string {
	kind, ns := "Gateway", routeNS
	if p.Kind != nil {
		kind = string(*p.Kind)
	}
	if p.Namespace != nil {
		ns = string(*p.Namespace)
	}
	s := kind + "/" + ns + "/" + string(p.Name)
	if p.SectionName != nil {
		s += "/" + string(*p.SectionName)
	}
	if p.Port != nil {
		s += fmt.Sprintf(":%d", *p.Port)
	}
	return s
}

// RouteProblems say what is wrong with the routes of a resolution, as notes: every condition of
// their parent entries that is False (True for Conflicted and PartiallyInvalid, which say a
// problem). With kind, namespace and name set, only that route's; else every route's.
func RouteProblems(r *gatewayapi.Result, kind, namespace, name string) []string {
	var out []string
	for _, rt := range r.Routes {
		if name != "" && (rt.Kind != kind || rt.Namespace != namespace || rt.Name != name) {
			continue
		}
		for _, p := range rt.Parents {
			for _, c := range p.Conditions {
				negative := c.Type == "Conflicted" || c.Type == string(gwapiv1.RouteConditionPartiallyInvalid)
				if (c.Status == metav1.ConditionFalse) != negative {
					out = append(out, fmt.Sprintf("%s %s/%s (parent %s): %s=%s %s: %s", rt.Kind, rt.Namespace, rt.Name,
						parentName(rt.Namespace, p.ParentRef), c.Type, c.Status, c.Reason, c.Message))
				}
			}
		}
	}
	return out
}
