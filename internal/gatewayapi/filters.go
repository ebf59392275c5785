package gatewayapi

import (
	"fmt"
	"slices"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// httpFilters converts a rule's (or a backendRef's) filters. A RequestRedirect becomes the
// route's action instead of a filter. bad says which filter Flotilla cannot implement.
func (r *resolver) httpFilters(rt *route, fs []gwapiv1.HTTPRouteFilter) ([]model.Filter, *model.Redirect, string) {
	var out []model.Filter
	if len(fs) > 0 {
		out = make([]model.Filter, 0, len(fs))
	}
	var redirect *model.Redirect
	for _, f := range fs {
		switch f.Type {
		case gwapiv1.HTTPRouteFilterRequestHeaderModifier:
			if f.RequestHeaderModifier == nil {
				return nil, nil, "requestHeaderModifier is missing"
			}
			out = append(out, model.Filter{Type: model.FilterRequestHeaders, RequestHeaders: headerModifier(f.RequestHeaderModifier)})
		case gwapiv1.HTTPRouteFilterResponseHeaderModifier:
			if f.ResponseHeaderModifier == nil {
				return nil, nil, "responseHeaderModifier is missing"
			}
			out = append(out, model.Filter{Type: model.FilterResponseHeaders, ResponseHeaders: headerModifier(f.ResponseHeaderModifier)})
		case gwapiv1.HTTPRouteFilterRequestRedirect:
			rr := f.RequestRedirect
			if rr == nil {
				return nil, nil, "requestRedirect is missing"
			}
			redirect = &model.Redirect{Scheme: ptrOrZero(rr.Scheme), Hostname: string(ptrOrZero(rr.Hostname)),
				Path: pathModifier(rr.Path), Port: ptrOrZero(rr.Port), StatusCode: 302}
			if rr.StatusCode != nil {
				redirect.StatusCode = *rr.StatusCode
			}
		case gwapiv1.HTTPRouteFilterURLRewrite:
			if f.URLRewrite == nil {
				return nil, nil, "urlRewrite is missing"
			}
			out = append(out, model.Filter{Type: model.FilterURLRewrite, URLRewrite: &model.URLRewrite{
				Hostname: string(ptrOrZero(f.URLRewrite.Hostname)), Path: pathModifier(f.URLRewrite.Path)}})
		case gwapiv1.HTTPRouteFilterRequestMirror:
			if f.RequestMirror == nil {
				return nil, nil, "requestMirror is missing"
			}
			if m := r.mirror(rt, f.RequestMirror); m != nil {
				out = append(out, model.Filter{Type: model.FilterMirror, Mirror: m})
			}
		case gwapiv1.HTTPRouteFilterCORS:
			c := f.CORS
			if c == nil {
				return nil, nil, "cors is missing"
			}
			mc := &model.CORS{AllowCredentials: ptrOrZero(c.AllowCredentials), MaxAge: c.MaxAge}
			for _, o := range c.AllowOrigins {
				mc.AllowOrigins = append(mc.AllowOrigins, string(o))
			}
			for _, m := range c.AllowMethods {
				mc.AllowMethods = append(mc.AllowMethods, string(m))
			}
			for _, h := range c.AllowHeaders {
				mc.AllowHeaders = append(mc.AllowHeaders, string(h))
			}
			for _, h := range c.ExposeHeaders {
				mc.ExposeHeaders = append(mc.ExposeHeaders, string(h))
			}
			out = append(out, model.Filter{Type: model.FilterCORS, CORS: mc})
		case gwapiv1.HTTPRouteFilterExtensionRef:
			// A RouteFilter is resolved into the rule's protections (ruleProtections).
			if f.ExtensionRef == nil || f.ExtensionRef.Group != groupFlotilla || f.ExtensionRef.Kind != kindRouteFilter {
				if f.ExtensionRef == nil {
					return nil, nil, "extensionRef is missing"
				}
				return nil, nil, fmt.Sprintf("extensionRef %s/%s is not supported (only %s/%s is)", f.ExtensionRef.Group, f.ExtensionRef.Kind, groupFlotilla, kindRouteFilter)
			}
		default:
			return nil, nil, fmt.Sprintf("filter type %q is not supported", f.Type)
		}
	}
	return out, redirect, ""
}

// backendFilters converts a backendRef's filters. Envoy applies header changes and a hostname
// rewrite to one backend of a weighted choice, and nothing else: a backendRef with any other
// filter cannot be implemented as written, so bad names the filter (the route is not accepted,
// as Gateway API requires of a filter an implementation does not support).
func (r *resolver) backendFilters(rt *route, fs []gwapiv1.HTTPRouteFilter) ([]model.Filter, string) {
	for _, f := range fs {
		switch f.Type {
		case gwapiv1.HTTPRouteFilterRequestRedirect, gwapiv1.HTTPRouteFilterRequestMirror, gwapiv1.HTTPRouteFilterCORS, gwapiv1.HTTPRouteFilterExtensionRef:
			return nil, fmt.Sprintf("filter %s is not supported on a backendRef (only RequestHeaderModifier, ResponseHeaderModifier "+
				"and a URLRewrite of the hostname are); set it on the rule", f.Type)
		case gwapiv1.HTTPRouteFilterURLRewrite:
			if f.URLRewrite != nil && f.URLRewrite.Path != nil {
				return nil, "filter URLRewrite with a path is not supported on a backendRef (only a URLRewrite of the hostname is); " +
					"set it on the rule"
			}
		}
	}
	out, _, bad := r.httpFilters(rt, fs)
	return out, bad
}

// grpcFilters converts GRPCRoute filters (a subset of HTTPRoute's).
func (r *resolver) grpcFilters(rt *route, fs []gwapiv1.GRPCRouteFilter) ([]model.Filter, string) {
	out, _, bad := r.httpFilters(rt, asHTTPFilters(fs))
	return out, bad
}

func asHTTPFilters(fs []gwapiv1.GRPCRouteFilter) []gwapiv1.HTTPRouteFilter {
	hf := make([]gwapiv1.HTTPRouteFilter, 0, len(fs))
	for _, f := range fs {
		hf = append(hf, gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterType(f.Type), RequestHeaderModifier: f.RequestHeaderModifier,
			ResponseHeaderModifier: f.ResponseHeaderModifier, RequestMirror: f.RequestMirror, ExtensionRef: f.ExtensionRef})
	}
	return hf
}

func headerModifier(h *gwapiv1.HTTPHeaderFilter) *model.HeaderModifier {
	m := &model.HeaderModifier{Remove: slices.Clone(h.Remove)}
	for _, s := range h.Set {
		m.Set = append(m.Set, model.Header{Name: string(s.Name), Value: s.Value})
	}
	for _, a := range h.Add {
		m.Add = append(m.Add, model.Header{Name: string(a.Name), Value: a.Value})
	}
	return m
}

func pathModifier(p *gwapiv1.HTTPPathModifier) *model.PathModifier {
	if p == nil {
		return nil
	}
	return &model.PathModifier{ReplaceFullPath: clonePtr(p.ReplaceFullPath), ReplacePrefixMatch: clonePtr(p.ReplacePrefixMatch)}
}

// mirror resolves a RequestMirror filter; an unusable backend drops the mirror (and is reported
// on ResolvedRefs) without touching the rest of the rule.
func (r *resolver) mirror(rt *route, m *gwapiv1.HTTPRequestMirrorFilter) *model.Mirror {
	name, ok := r.backend(rt, m.BackendRef)
	if !ok {
		return nil
	}
	out := &model.Mirror{Cluster: name, Numerator: 100, Denominator: 100}
	switch {
	case m.Percent != nil:
		out.Numerator = *m.Percent
	case m.Fraction != nil:
		out.Numerator, out.Denominator = m.Fraction.Numerator, 100
		if m.Fraction.Denominator != nil {
			out.Denominator = *m.Fraction.Denominator
		}
	}
	return out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
