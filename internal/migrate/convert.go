package migrate

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/model"
)

var (
	gatewayGroup = gwapiv1.Group(gwapiv1.GroupName)
	flotillaKind = gwapiv1.Kind(flotillav1alpha1.RouteFilterKind)
	flotillaGrp  = gwapiv1.Group(flotillav1alpha1.GroupVersion.Group)
)

// convert prints one Ingress: a RouteFilter for what its annotations ask of every path that
// Gateway API cannot say, RouteFilters for capture-group rewrites, and one HTTPRoute per host
// (two when plain HTTP only redirects or TLS hosts need a ListenerSet listener).
func (m *migration) convert(ir *gatewayapi.IngressRoute, ing *networkingv1.Ingress, ls map[string]*tlsHost) []Object {
	if len(ir.Hosts) == 0 {
		return nil // a canary: its Service is in its primaries' routes
	}
	from := "Ingress/" + key(ir.Meta)
	var out []Object
	filterName := ir.Meta.Name
	var shared *flotillav1alpha1.RouteFilterSpec
	if ir.Filter != nil {
		shared = ir.Filter.DeepCopy()
	}
	idle := "" // every path of an Ingress that forwards has the same (its read and send timeouts)
	for _, h := range ir.Hosts {
		for _, p := range slices.Concat(h.Plain, h.Secure) {
			if p.Timeouts != nil && p.Timeouts.Idle != "" {
				idle = p.Timeouts.Idle
			}
		}
	}
	if idle != "" {
		if shared == nil {
			shared = &flotillav1alpha1.RouteFilterSpec{}
		}
		shared.Timeouts = &flotillav1alpha1.FilterTimeouts{Idle: gwapiv1.Duration(idle)}
	}
	if shared != nil {
		rf := &flotillav1alpha1.RouteFilter{TypeMeta: metav1.TypeMeta{APIVersion: flotillav1alpha1.GroupVersion.String(), Kind: flotillav1alpha1.RouteFilterKind},
			ObjectMeta: meta(ir.Meta.Namespace, filterName, from), Spec: *shared}
		m.filterGrants(rf)
		out = append(out, Object{Comment: sharedComment(shared), Obj: rf})
	}
	// RouteFilters of single rules: a capture-group rewrite, a redirect to a fixed location; one
	// per distinct setting.
	extras := map[string]string{}
	var extraObjs []Object
	extra := func(kind string, spec flotillav1alpha1.RouteFilterSpec) string {
		id := fmt.Sprintf("%s %+v %+v", kind, ptr.Deref(spec.PathRewrite, flotillav1alpha1.RegexPathRewrite{}), ptr.Deref(spec.Redirect, flotillav1alpha1.FixedRedirect{}))
		if n, ok := extras[id]; ok {
			return n
		}
		n := fmt.Sprintf("%s-%s-%d", ir.Meta.Name, kind, len(extras)+1)
		extras[id] = n
		comment := "rewrite-target with capture groups: an HTTPRoute URLRewrite replaces a whole path or a prefix, never with parts of the matched path"
		if kind == "redirect" {
			comment = "a redirect to a fixed location (permanent-redirect, temporal-redirect or app-root) that drops the request's query, as nginx's return does: a RequestRedirect filter keeps the query and cannot send one of its own"
		}
		extraObjs = append(extraObjs, Object{Comment: comment,
			Obj: &flotillav1alpha1.RouteFilter{TypeMeta: metav1.TypeMeta{APIVersion: flotillav1alpha1.GroupVersion.String(), Kind: flotillav1alpha1.RouteFilterKind},
				ObjectMeta: meta(ir.Meta.Namespace, n, from), Spec: spec}})
		return n
	}

	// The rules of one host (several rules of the Ingress may name it) go into one HTTPRoute.
	var hosts []string
	byHost := map[string][]*gatewayapi.IngressHost{}
	for i := range ir.Hosts {
		h := &ir.Hosts[i]
		if byHost[h.Host] == nil {
			hosts = append(hosts, h.Host)
		}
		byHost[h.Host] = append(byHost[h.Host], h)
	}
	var routes []Object
	for _, host := range hosts {
		hs := byHost[host]
		var plain, secure []gatewayapi.IngressPath
		var aliases []string
		for _, h := range hs {
			plain, secure = append(plain, h.Plain...), append(secure, h.Secure...)
			for _, a := range h.Aliases {
				if !slices.Contains(aliases, a) {
					aliases = append(aliases, a)
				}
			}
		}
		name := ir.Meta.Name
		if len(hosts) > 1 {
			name += "-" + slug(host)
		}
		t := ls[host]
		rules := func(paths []gatewayapi.IngressPath, secure bool) []gwapiv1.HTTPRouteRule {
			out := make([]gwapiv1.HTTPRouteRule, 0, len(paths))
			for i := range paths {
				p := paths[i]
				if by := m.overriddenBy(host, &p); by != "" {
					m.note(ir, fmt.Sprintf("host %s: path %s is served by %s, which overrides the Ingress's path (and its canary rules); not printed", cmp.Or(host, "*"), p.Match.Path.Value, by))
					continue
				}
				if p.Name != "" && p.Backend != nil && !m.canaryAdmitted(ir.Meta.Namespace, p.Backend.Of, secure) {
					continue // the canary is not served there: the primary's path serves its requests
				}
				if p.Backends != nil {
					n := len(p.Backends)
					p.Backends = slices.DeleteFunc(slices.Clone(p.Backends), func(b gatewayapi.IngressBackend) bool {
						return !m.canaryAdmitted(ir.Meta.Namespace, b.Of, secure)
					})
					if len(p.Backends) == 1 && n > 1 {
						p.Backends[0].Weight = 1
					}
				}
				out = append(out, m.rule(ir, host, &p, shared != nil && (p.Redirect == nil || ir.Filter != nil), filterName, extra))
			}
			return out
		}
		hostnames := []gwapiv1.Hostname{}
		if host != "" {
			hostnames = append(hostnames, gwapiv1.Hostname(host))
		}
		for _, a := range aliases {
			hostnames = append(hostnames, gwapiv1.Hostname(a))
		}
		mk := func(name string, parents []gwapiv1.ParentReference, rs []gwapiv1.HTTPRouteRule, paths []gatewayapi.IngressPath, comment string) {
			// The canaries whose Services the rules send to come from here too.
			froms := []string{from}
			for _, p := range paths {
				for _, b := range slices.Concat(p.Backends, []gatewayapi.IngressBackend{ptr.Deref(p.Backend, gatewayapi.IngressBackend{})}) {
					if b.Of != nil && !slices.Contains(froms, "Ingress/"+key(b.Of)) {
						froms = append(froms, "Ingress/"+key(b.Of))
					}
				}
			}
			hr := &gwapiv1.HTTPRoute{TypeMeta: metav1.TypeMeta{APIVersion: gwapiv1.GroupVersion.String(), Kind: "HTTPRoute"},
				ObjectMeta: meta(ir.Meta.Namespace, name, strings.Join(froms, ","))}
			hr.Spec.ParentRefs, hr.Spec.Hostnames, hr.Spec.Rules = parents, hostnames, rs
			if len(hr.Spec.Hostnames) == 0 {
				hr.Spec.Hostnames = nil
			}
			routes = append(routes, Object{Comment: comment, Obj: hr})
		}
		plainRules, secureRules := rules(plain, false), rules(secure, true)
		switch {
		case t == nil && !coversAny(host, ls) && reflect.DeepEqual(plainRules, secureRules):
			if len(secureRules) == 0 {
				continue
			}
			mk(name, []gwapiv1.ParentReference{m.gatewayRef("")}, secureRules, secure,
				fmt.Sprintf("%s, host %s: the same rules on HTTP and HTTPS", from, cmp.Or(host, "* (any host)")))
		default:
			if len(secureRules) > 0 {
				var parents []gwapiv1.ParentReference
				covered := []string{host}
				if host == "" || strings.HasPrefix(host, "*.") {
					covered = m.lsSorted
				}
				for _, th := range covered {
					if ls[th] == nil || th != host && !covers(host, th) {
						continue
					}
					lt := ls[th]
					for _, port := range m.httpsPorts() {
						parents = append(parents, gwapiv1.ParentReference{Group: &gatewayGroup, Kind: ptr.To(gwapiv1.Kind("ListenerSet")),
							Namespace: ptr.To(gwapiv1.Namespace(lt.ns)), Name: gwapiv1.ObjectName(lt.setName), SectionName: ptr.To(gwapiv1.SectionName(listenerName(th, port)))})
					}
				}
				for _, l := range m.gw.Spec.Listeners {
					if l.Protocol == gwapiv1.HTTPSProtocolType {
						parents = append(parents, m.gatewayRef(l.Name))
					}
				}
				comment := fmt.Sprintf("%s, host %s on HTTPS", from, cmp.Or(host, "*"))
				if t != nil {
					comment += fmt.Sprintf(" (the ListenerSet listener presents the Ingress's certificate, Secret %s/%s)", t.ns, t.secret)
				}
				mk(name, parents, secureRules, secure, comment)
			}
			if len(plainRules) > 0 {
				var parents []gwapiv1.ParentReference
				for _, l := range m.gw.Spec.Listeners {
					if l.Protocol == gwapiv1.HTTPProtocolType {
						parents = append(parents, m.gatewayRef(l.Name))
					}
				}
				comment := fmt.Sprintf("%s, host %s on plain HTTP", from, cmp.Or(host, "*"))
				if plain[0].Redirect != nil && plain[0].Redirect.Scheme == "https" {
					comment += ": redirected to HTTPS (ssl-redirect, the default on hosts with TLS)"
				}
				if len(parents) > 0 {
					mk(name+"-http", parents, plainRules, plain, comment)
				}
			}
		}
	}
	return slices.Concat(out, extraObjs, routes)
}

// rule converts one path.
func (m *migration) rule(ir *gatewayapi.IngressRoute, host string, p *gatewayapi.IngressPath, withFilter bool, filterName string, extra func(string, flotillav1alpha1.RouteFilterSpec) string) gwapiv1.HTTPRouteRule {
	var r gwapiv1.HTTPRouteRule
	match := gwapiv1.HTTPRouteMatch{Path: m.pathMatch(host, p.Match.Path)}
	for _, h := range p.Match.Headers {
		typ := gwapiv1.HeaderMatchExact
		if h.Type == model.MatchRegex {
			typ = gwapiv1.HeaderMatchRegularExpression
		}
		match.Headers = append(match.Headers, gwapiv1.HTTPHeaderMatch{Type: &typ, Name: gwapiv1.HTTPHeaderName(h.Name), Value: h.Value})
	}
	r.Matches = []gwapiv1.HTTPRouteMatch{match}
	if rd := p.Redirect; rd != nil && rd.StripQuery {
		r.Filters = append(r.Filters, extensionRef(extra("redirect", fixedRedirect(rd))))
	} else if rd != nil {
		f := &gwapiv1.HTTPRequestRedirectFilter{StatusCode: ptr.To(rd.StatusCode)}
		if rd.Scheme != "" {
			f.Scheme = ptr.To(rd.Scheme)
		}
		r.Filters = append(r.Filters, gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterRequestRedirect, RequestRedirect: f})
	}
	for _, f := range p.Filters {
		switch f.Type {
		case model.FilterURLRewrite:
			u := &gwapiv1.HTTPURLRewriteFilter{}
			if f.URLRewrite.Hostname != "" {
				u.Hostname = ptr.To(gwapiv1.PreciseHostname(f.URLRewrite.Hostname))
			}
			if pm := f.URLRewrite.Path; pm != nil && pm.Regex != nil {
				if !strings.Contains(pm.Regex.Substitution, `\`) {
					// The path's match is the pattern, anchored and to the end: the whole path is replaced.
					u.Path = &gwapiv1.HTTPPathModifier{Type: gwapiv1.FullPathHTTPPathModifier, ReplaceFullPath: ptr.To(pm.Regex.Substitution)}
				} else {
					r.Filters = append(r.Filters, extensionRef(extra("rewrite", flotillav1alpha1.RouteFilterSpec{
						PathRewrite: &flotillav1alpha1.RegexPathRewrite{Pattern: pm.Regex.Pattern, Substitution: pm.Regex.Substitution}})))
				}
			}
			if u.Hostname != nil || u.Path != nil {
				r.Filters = append(r.Filters, gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterURLRewrite, URLRewrite: u})
			}
		case model.FilterRequestHeaders:
			r.Filters = append(r.Filters, gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: headerFilter(f.RequestHeaders)})
		case model.FilterResponseHeaders:
			r.Filters = append(r.Filters, gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterResponseHeaderModifier, ResponseHeaderModifier: headerFilter(f.ResponseHeaders)})
		case model.FilterCORS:
			c := f.CORS
			cf := &gwapiv1.HTTPCORSFilter{MaxAge: c.MaxAge}
			if c.AllowCredentials {
				cf.AllowCredentials = ptr.To(true)
			}
			for _, o := range c.AllowOrigins {
				cf.AllowOrigins = append(cf.AllowOrigins, gwapiv1.CORSOrigin(o))
			}
			for _, x := range c.AllowMethods {
				cf.AllowMethods = append(cf.AllowMethods, gwapiv1.HTTPMethodWithWildcard(x))
			}
			for _, x := range c.AllowHeaders {
				cf.AllowHeaders = append(cf.AllowHeaders, gwapiv1.HTTPHeaderName(x))
			}
			for _, x := range c.ExposeHeaders {
				cf.ExposeHeaders = append(cf.ExposeHeaders, gwapiv1.HTTPHeaderName(x))
			}
			r.Filters = append(r.Filters, gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterCORS, CORS: cf})
		}
	}
	if withFilter {
		r.Filters = append(r.Filters, extensionRef(filterName))
	}
	bs := p.Backends
	if p.Backend != nil {
		b := *p.Backend
		b.Weight = 1
		bs = []gatewayapi.IngressBackend{b}
	}
	for _, b := range bs {
		ns := ir.Meta.Namespace
		var bns *gwapiv1.Namespace
		if b.Of != nil && b.Of.Namespace != ns {
			bns = ptr.To(gwapiv1.Namespace(b.Of.Namespace))
			m.grant(b.Of.Namespace, ns, gatewayGroup, "HTTPRoute", gwapiv1.ReferenceGrantTo{Kind: "Service", Name: ptr.To(gwapiv1.ObjectName(b.Service))})
			ns = b.Of.Namespace
		}
		port := b.Port
		if port == 0 {
			port = m.services[ns+"/"+b.Service][b.PortName]
		}
		br := gwapiv1.HTTPBackendRef{BackendRef: gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{
			Name: gwapiv1.ObjectName(b.Service), Namespace: bns, Port: ptr.To(gwapiv1.PortNumber(port))}}}
		if len(bs) > 1 {
			br.Weight = ptr.To(int32(b.Weight))
		}
		r.BackendRefs = append(r.BackendRefs, br)
	}
	if t := p.Timeouts; t != nil && t.Request != "" {
		r.Timeouts = &gwapiv1.HTTPRouteTimeouts{Request: ptr.To(gwapiv1.Duration(t.Request))}
	}
	return r
}

// pathMatch converts an Ingress path's match. On a host in prefix mode (see prefixHosts) every
// prefix becomes a regular expression padded with no-op anchors to the host's common extra length.
func (m *migration) pathMatch(host string, pm *model.StringMatch) *gwapiv1.HTTPPathMatch {
	if pm == nil {
		return nil
	}
	if core, ok := prefixCore(pm); ok && m.prefixMode[host] {
		pad := m.pad[host] - (len(core) - len(pm.Value))
		return &gwapiv1.HTTPPathMatch{Type: ptr.To(gwapiv1.PathMatchRegularExpression), Value: ptr.To(strings.Repeat("^", pad) + core)}
	}
	switch pm.Type {
	case model.MatchExact:
		return &gwapiv1.HTTPPathMatch{Type: ptr.To(gwapiv1.PathMatchExact), Value: ptr.To(pm.Value)}
	case model.MatchRegex:
		return &gwapiv1.HTTPPathMatch{Type: ptr.To(gwapiv1.PathMatchRegularExpression), Value: ptr.To(pm.Value)}
	}
	// PathPrefix, or a character prefix "/" (which matches what PathPrefix "/" matches).
	return &gwapiv1.HTTPPathMatch{Type: ptr.To(gwapiv1.PathMatchPathPrefix), Value: ptr.To(pm.Value)}
}

func headerFilter(h *model.HeaderModifier) *gwapiv1.HTTPHeaderFilter {
	f := &gwapiv1.HTTPHeaderFilter{Remove: slices.Clone(h.Remove)}
	for _, s := range h.Set {
		f.Set = append(f.Set, gwapiv1.HTTPHeader{Name: gwapiv1.HTTPHeaderName(s.Name), Value: s.Value})
	}
	for _, a := range h.Add {
		f.Add = append(f.Add, gwapiv1.HTTPHeader{Name: gwapiv1.HTTPHeaderName(a.Name), Value: a.Value})
	}
	return f
}

func extensionRef(name string) gwapiv1.HTTPRouteFilter {
	return gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterExtensionRef,
		ExtensionRef: &gwapiv1.LocalObjectReference{Group: flotillaGrp, Kind: flotillaKind, Name: gwapiv1.ObjectName(name)}}
}

// gatewayRef is a parentRef to the Gateway (a listener of it, when section is set).
func (m *migration) gatewayRef(section gwapiv1.SectionName) gwapiv1.ParentReference {
	r := gwapiv1.ParentReference{Name: gwapiv1.ObjectName(m.gw.Name), Namespace: ptr.To(gwapiv1.Namespace(m.gw.Namespace))}
	if section != "" {
		r.SectionName = ptr.To(section)
	}
	return r
}

func (m *migration) httpsPorts() []gwapiv1.PortNumber {
	var out []gwapiv1.PortNumber
	for _, l := range m.gw.Spec.Listeners {
		if l.Protocol == gwapiv1.HTTPSProtocolType && !slices.Contains(out, l.Port) {
			out = append(out, l.Port)
		}
	}
	return out
}

// listenerSet is the ListenerSet of the TLS hosts of one Ingress: for each, one HTTPS listener
// per HTTPS port of the Gateway with the Ingress's certificate, admitting the routes that serve
// the host (of the Ingresses of the host, and of those with no hostname or a wildcard covering it).
func (m *migration) listenerSet(ts []*tlsHost) Object {
	t0 := ts[0]
	var from, hosts []string
	for _, t := range ts {
		hosts = append(hosts, t.host)
		for _, i := range t.ingresses {
			if !slices.Contains(from, "Ingress/"+i) {
				from = append(from, "Ingress/"+i)
			}
		}
	}
	set := &gwapiv1.ListenerSet{TypeMeta: metav1.TypeMeta{APIVersion: gwapiv1.GroupVersion.String(), Kind: "ListenerSet"},
		ObjectMeta: meta(t0.ns, t0.setName, strings.Join(from, ","))}
	set.Spec.ParentRef = gwapiv1.ParentGatewayReference{Name: gwapiv1.ObjectName(m.gw.Name), Namespace: ptr.To(gwapiv1.Namespace(m.gw.Namespace))}
	for _, t := range ts {
		allowed := &gwapiv1.AllowedRoutes{Namespaces: &gwapiv1.RouteNamespaces{From: ptr.To(gwapiv1.NamespacesFromSame)}}
		if len(t.routeNS) > 1 || len(t.routeNS) == 1 && t.routeNS[0] != t.ns {
			ns := slices.Sorted(slices.Values(t.routeNS))
			allowed.Namespaces = &gwapiv1.RouteNamespaces{From: ptr.To(gwapiv1.NamespacesFromSelector), Selector: &metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: ns}}}}
		}
		for _, port := range m.httpsPorts() {
			set.Spec.Listeners = append(set.Spec.Listeners, gwapiv1.ListenerEntry{Name: gwapiv1.SectionName(listenerName(t.host, port)),
				Hostname: ptr.To(gwapiv1.Hostname(t.host)), Port: port, Protocol: gwapiv1.HTTPSProtocolType,
				TLS:           &gwapiv1.ListenerTLSConfig{Mode: ptr.To(gwapiv1.TLSModeTerminate), CertificateRefs: []gwapiv1.SecretObjectReference{{Name: gwapiv1.ObjectName(t.secret)}}},
				AllowedRoutes: allowed})
		}
	}
	return Object{Comment: fmt.Sprintf("TLS hosts %s of Ingress %s: the Gateway serves them with the Ingress's certificates (spec.tls); a ListenerSet keeps them the team's without editing the Gateway (it admits the namespaces of the routes that serve the hosts)",
		strings.Join(hosts, ", "), t0.from), Obj: set}
}

func listenerName(host string, port gwapiv1.PortNumber) string {
	n := slug(host)
	if port != 443 {
		n += "-" + strconv.Itoa(int(port))
	}
	if len(n) > 253 {
		n = n[:253]
	}
	return n
}

// slug turns a host into a name: dots become dashes, "*" "wildcard", "" "any-host".
func slug(host string) string {
	if host == "" {
		return "any-host"
	}
	return strings.ReplaceAll(strings.ReplaceAll(host, "*", "wildcard"), ".", "-")
}

// grant records a cross-namespace reference a ReferenceGrant must allow.
func (m *migration) grant(toNS, fromNS string, fromGroup gwapiv1.Group, fromKind string, to gwapiv1.ReferenceGrantTo) {
	k := grantKey{toNS, fromNS, string(fromGroup), fromKind}
	if !slices.ContainsFunc(m.grants[k], func(t gwapiv1.ReferenceGrantTo) bool { return reflect.DeepEqual(t, to) }) {
		m.grants[k] = append(m.grants[k], to)
	}
}

// filterGrants records the cross-namespace references of a RouteFilter (the IngressClassConfig
// allowed them for the Ingress; a RouteFilter needs a ReferenceGrant).
func (m *migration) filterGrants(rf *flotillav1alpha1.RouteFilter) {
	if ba := rf.Spec.BasicAuth; ba != nil && ba.SecretRef.Namespace != nil && string(*ba.SecretRef.Namespace) != rf.Namespace {
		m.grant(string(*ba.SecretRef.Namespace), rf.Namespace, flotillaGrp, flotillav1alpha1.RouteFilterKind,
			gwapiv1.ReferenceGrantTo{Kind: "Secret", Name: ptr.To(ba.SecretRef.Name)})
	}
	if ea := rf.Spec.ExternalAuth; ea != nil && ea.BackendRef.Namespace != nil && string(*ea.BackendRef.Namespace) != rf.Namespace {
		m.grant(string(*ea.BackendRef.Namespace), rf.Namespace, flotillaGrp, flotillav1alpha1.RouteFilterKind,
			gwapiv1.ReferenceGrantTo{Kind: "Service", Name: ptr.To(ea.BackendRef.Name)})
	}
}

// referenceGrants are the ReferenceGrants of the recorded references, one per target namespace,
// source namespace and kind.
func (m *migration) referenceGrants() []Object {
	ks := make([]grantKey, 0, len(m.grants))
	for k := range m.grants {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b grantKey) int {
		return cmp.Or(cmp.Compare(a.toNS, b.toNS), cmp.Compare(a.fromNS, b.fromNS), cmp.Compare(a.fromKind, b.fromKind))
	})
	var out []Object
	for _, k := range ks {
		to := m.grants[k]
		slices.SortFunc(to, func(a, b gwapiv1.ReferenceGrantTo) int {
			return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(*a.Name, *b.Name))
		})
		name := "from-" + k.fromNS + "-" + strings.ToLower(k.fromKind) + "s"
		g := &gwapiv1.ReferenceGrant{TypeMeta: metav1.TypeMeta{APIVersion: gwapiv1.GroupVersion.String(), Kind: "ReferenceGrant"},
			ObjectMeta: meta(k.toNS, name, ""),
			Spec: gwapiv1.ReferenceGrantSpec{From: []gwapiv1.ReferenceGrantFrom{{Group: gwapiv1.Group(k.fromGroup), Kind: gwapiv1.Kind(k.fromKind), Namespace: gwapiv1.Namespace(k.fromNS)}},
				To: to}}
		delete(g.Annotations, MigratedFromAnnotation)
		out = append(out, Object{Comment: fmt.Sprintf("the IngressClassConfig allowed these cross-namespace references of Ingresses in %s (a canary's Service, an auth Secret or Service); Gateway API needs a ReferenceGrant", k.fromNS), Obj: g})
	}
	return out
}

// sharedComment says why an Ingress's RouteFilter is there: what Gateway API cannot say.
func sharedComment(s *flotillav1alpha1.RouteFilterSpec) string {
	var what []string
	if s.ClientAccess != nil {
		what = append(what, "client address allow/deny lists (whitelist/denylist-source-range)")
	}
	if s.RateLimit != nil {
		what = append(what, "rate limits (limit-rps/limit-rpm)")
	}
	if s.BasicAuth != nil {
		what = append(what, "basic authentication (auth-type basic)")
	}
	if s.ExternalAuth != nil {
		what = append(what, "external authentication (auth-url)")
	}
	if s.RequestBody != nil {
		what = append(what, "the request body limit (proxy-body-size, else the class's default)")
	}
	if s.Timeouts != nil {
		what = append(what, "the idle timeout (proxy-read/send-timeout, else the class's 60s)")
	}
	return "Gateway API has no form for " + strings.Join(what, ", ") + ": every rule of the Ingress's routes names this RouteFilter"
}

func meta(ns, name, from string) metav1.ObjectMeta {
	om := metav1.ObjectMeta{Namespace: ns, Name: name}
	if from != "" {
		om.Annotations = map[string]string{MigratedFromAnnotation: from}
	}
	return om
}

// overriddenBy names the HTTPRoute of the input whose rule has exactly the path match of an
// Ingress path (or of the primary's path a canary rule ranks as) on the host, and nothing else:
// it serves the path instead of the Ingress (an HTTPRoute wins over an Ingress with the same
// match). "" for none.
func (m *migration) overriddenBy(host string, p *gatewayapi.IngressPath) string {
	match := &p.Match
	if p.RankAs != nil {
		match = p.RankAs
	}
	if match.Path == nil || match.Method != "" || len(match.QueryParams) > 0 || len(match.Headers) > 0 {
		return ""
	}
	if m.overrides == nil {
		m.overrides = map[string]string{}
		for _, hr := range m.set.Docs.HTTPRoutes {
			if !slices.ContainsFunc(hr.Spec.ParentRefs, func(r gwapiv1.ParentReference) bool {
				ns := hr.Namespace
				if r.Namespace != nil {
					ns = string(*r.Namespace)
				}
				return string(r.Name) == m.gw.Name && ns == m.gw.Namespace && (r.Kind == nil || *r.Kind == "Gateway")
			}) {
				continue
			}
			for _, rule := range hr.Spec.Rules {
				for _, mt := range rule.Matches {
					if mt.Method != nil || len(mt.Headers) > 0 || len(mt.QueryParams) > 0 {
						continue
					}
					typ, val := gwapiv1.PathMatchPathPrefix, "/"
					if mt.Path != nil && mt.Path.Type != nil {
						typ = *mt.Path.Type
					}
					if mt.Path != nil && mt.Path.Value != nil {
						val = *mt.Path.Value
					}
					mtyp := map[gwapiv1.PathMatchType]model.MatchType{gwapiv1.PathMatchExact: model.MatchExact,
						gwapiv1.PathMatchPathPrefix: model.MatchPathPrefix, gwapiv1.PathMatchRegularExpression: model.MatchRegex}[typ]
					for _, h := range hr.Spec.Hostnames {
						k := string(h) + "\x00" + string(mtyp) + "\x00" + val
						if m.overrides[k] == "" {
							m.overrides[k] = "HTTPRoute " + hr.Namespace + "/" + hr.Name
						}
					}
				}
			}
		}
	}
	typ := match.Path.Type
	if typ == model.MatchPrefix && match.Path.Value == "/" {
		typ = model.MatchPathPrefix
	}
	return m.overrides[host+"\x00"+string(typ)+"\x00"+match.Path.Value]
}

// canaryAdmitted says whether the backend of a canary Ingress (of) may be served on the routes of
// an Ingress in routeNS for the HTTP (secure false) or HTTPS listeners, as the controller decides.
func (m *migration) canaryAdmitted(routeNS string, of *metav1.ObjectMeta, secure bool) bool {
	return of == nil || of.Namespace == routeNS || m.policy.CanaryDeniedBy(secure, routeNS, of.Namespace) == ""
}

// note adds a note to an Ingress's report.
func (m *migration) note(ir *gatewayapi.IngressRoute, n string) {
	if r := m.reports[key(ir.Meta)]; r != nil && !slices.Contains(r.Notes, n) {
		r.Notes = append(r.Notes, n)
	}
}

// coversAny says whether a route of host also serves a TLS host of a ListenerSet.
func coversAny(host string, ls map[string]*tlsHost) bool {
	if host != "" && !strings.HasPrefix(host, "*.") {
		return false
	}
	for th := range ls {
		if covers(host, th) {
			return true
		}
	}
	return false
}

// fixedRedirect is a RouteFilter's redirect for an Ingress's redirect to a fixed location.
func fixedRedirect(rd *model.Redirect) flotillav1alpha1.RouteFilterSpec {
	loc := ""
	if rd.Path != nil && rd.Path.ReplaceFullPath != nil {
		loc = *rd.Path.ReplaceFullPath
	}
	if rd.Hostname != "" {
		host := rd.Hostname
		if rd.Port != 0 {
			host += ":" + strconv.Itoa(int(rd.Port))
		}
		loc = cmp.Or(rd.Scheme, "http") + "://" + host + loc
	}
	return flotillav1alpha1.RouteFilterSpec{Redirect: &flotillav1alpha1.FixedRedirect{Location: loc, StatusCode: rd.StatusCode}}
}
