package controller

import (
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// routeKind gives the controller one way to handle HTTPRoute, GRPCRoute, TLSRoute, TCPRoute and
// UDPRoute: their parentRefs, the Services they reference and their status parents.
type routeKind struct {
	kind     string
	newObj   func() client.Object
	newList  func() client.ObjectList
	items    func(client.ObjectList) []client.Object
	spec     func(client.Object) *gwapiv1.CommonRouteSpec
	parents  func(client.Object) *[]gwapiv1.RouteParentStatus
	backends func(client.Object) []gwapiv1.BackendObjectReference
}

func itemsOf[T any, P interface {
	*T
	client.Object
}](items []T) []client.Object {
	out := make([]client.Object, len(items))
	for i := range items {
		out[i] = P(&items[i])
	}
	return out
}

var routeKinds = []routeKind{
	{
		kind:    "HTTPRoute",
		newObj:  func() client.Object { return &gwapiv1.HTTPRoute{} },
		newList: func() client.ObjectList { return &gwapiv1.HTTPRouteList{} },
		items:   func(l client.ObjectList) []client.Object { return itemsOf(l.(*gwapiv1.HTTPRouteList).Items) },
		spec:    func(o client.Object) *gwapiv1.CommonRouteSpec { return &o.(*gwapiv1.HTTPRoute).Spec.CommonRouteSpec },
		parents: func(o client.Object) *[]gwapiv1.RouteParentStatus { return &o.(*gwapiv1.HTTPRoute).Status.Parents },
		backends: func(o client.Object) (out []gwapiv1.BackendObjectReference) {
			for _, r := range o.(*gwapiv1.HTTPRoute).Spec.Rules {
				for _, b := range r.BackendRefs {
					out = append(out, b.BackendObjectReference)
				}
			}
			return out
		},
	},
	{
		kind:    "GRPCRoute",
		newObj:  func() client.Object { return &gwapiv1.GRPCRoute{} },
		newList: func() client.ObjectList { return &gwapiv1.GRPCRouteList{} },
		items:   func(l client.ObjectList) []client.Object { return itemsOf(l.(*gwapiv1.GRPCRouteList).Items) },
		spec:    func(o client.Object) *gwapiv1.CommonRouteSpec { return &o.(*gwapiv1.GRPCRoute).Spec.CommonRouteSpec },
		parents: func(o client.Object) *[]gwapiv1.RouteParentStatus { return &o.(*gwapiv1.GRPCRoute).Status.Parents },
		backends: func(o client.Object) (out []gwapiv1.BackendObjectReference) {
			for _, r := range o.(*gwapiv1.GRPCRoute).Spec.Rules {
				for _, b := range r.BackendRefs {
					out = append(out, b.BackendObjectReference)
				}
			}
			return out
		},
	},
	{
		kind:    "TLSRoute",
		newObj:  func() client.Object { return &gwapiv1.TLSRoute{} },
		newList: func() client.ObjectList { return &gwapiv1.TLSRouteList{} },
		items:   func(l client.ObjectList) []client.Object { return itemsOf(l.(*gwapiv1.TLSRouteList).Items) },
		spec:    func(o client.Object) *gwapiv1.CommonRouteSpec { return &o.(*gwapiv1.TLSRoute).Spec.CommonRouteSpec },
		parents: func(o client.Object) *[]gwapiv1.RouteParentStatus { return &o.(*gwapiv1.TLSRoute).Status.Parents },
		backends: func(o client.Object) (out []gwapiv1.BackendObjectReference) {
			for _, r := range o.(*gwapiv1.TLSRoute).Spec.Rules {
				for _, b := range r.BackendRefs {
					out = append(out, b.BackendObjectReference)
				}
			}
			return out
		},
	},
	{
		kind:    "TCPRoute",
		newObj:  func() client.Object { return &gwapiv1.TCPRoute{} },
		newList: func() client.ObjectList { return &gwapiv1.TCPRouteList{} },
		items:   func(l client.ObjectList) []client.Object { return itemsOf(l.(*gwapiv1.TCPRouteList).Items) },
		spec:    func(o client.Object) *gwapiv1.CommonRouteSpec { return &o.(*gwapiv1.TCPRoute).Spec.CommonRouteSpec },
		parents: func(o client.Object) *[]gwapiv1.RouteParentStatus { return &o.(*gwapiv1.TCPRoute).Status.Parents },
		backends: func(o client.Object) (out []gwapiv1.BackendObjectReference) {
			for _, r := range o.(*gwapiv1.TCPRoute).Spec.Rules {
				for _, b := range r.BackendRefs {
					out = append(out, b.BackendObjectReference)
				}
			}
			return out
		},
	},
	{
		kind:    "UDPRoute",
		newObj:  func() client.Object { return &gwapiv1.UDPRoute{} },
		newList: func() client.ObjectList { return &gwapiv1.UDPRouteList{} },
		items:   func(l client.ObjectList) []client.Object { return itemsOf(l.(*gwapiv1.UDPRouteList).Items) },
		spec:    func(o client.Object) *gwapiv1.CommonRouteSpec { return &o.(*gwapiv1.UDPRoute).Spec.CommonRouteSpec },
		parents: func(o client.Object) *[]gwapiv1.RouteParentStatus { return &o.(*gwapiv1.UDPRoute).Status.Parents },
		backends: func(o client.Object) (out []gwapiv1.BackendObjectReference) {
			for _, r := range o.(*gwapiv1.UDPRoute).Spec.Rules {
				for _, b := range r.BackendRefs {
					out = append(out, b.BackendObjectReference)
				}
			}
			return out
		},
	},
}
