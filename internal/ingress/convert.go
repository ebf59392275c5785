package ingress

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/model"
)

// LegacyClassAnnotation is the annotation Ingresses named their class with before
// spec.ingressClassName.
const LegacyClassAnnotation = "kubernetes.io/ingress.class"

// hsts is ingress-nginx's default Strict-Transport-Security header on hosts with TLS.
const hsts = "max-age=31536000; includeSubDomains"

// Class is an IngressClass Flotilla serves, with its IngressClassConfig.
type Class struct {
	Name string
	Spec flotillav1alpha1.IngressClassConfigSpec
}

// Prefix is the class's annotation prefix.
func (c *Class) Prefix() string {
	return cmp.Or(c.Spec.AnnotationPrefix, "nginx.ingress.kubernetes.io")
}

func (c *Class) sslRedirect() bool { return c.Spec.SSLRedirect == nil || *c.Spec.SSLRedirect }

func (c *Class) redirectCode() int { return int(cmp.Or(c.Spec.SSLRedirectCode, 308)) }

// Select returns the class of classes that serves ing, or nil: spec.ingressClassName, else the
// legacy annotation, else a class that serves Ingresses without a class.
func Select(ing *networkingv1.Ingress, classes []Class) *Class {
	name := ClassName(ing)
	for i := range classes {
		c := &classes[i]
		if name != "" && c.Name == name || name == "" && c.Spec.IngressesWithoutClass {
			return c
		}
	}
	return nil
}

// ClassName is the class an Ingress names: spec.ingressClassName, else the legacy annotation;
// "" for none.
func ClassName(ing *networkingv1.Ingress) string {
	if ing.Spec.IngressClassName != nil {
		return *ing.Spec.IngressClassName
	}
	return ing.Annotations[LegacyClassAnnotation]
}

// Event is what a Warning Event on an Ingress says.
type Event struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Reason    string `json:"reason"`
	Message   string `json:"message"`
}

// Result is the conversion of the Ingresses of a set of classes.
type Result struct {
	// Routes are the served Ingresses, oldest first (a served canary without hosts of its own:
	// its primaries' paths carry its Service).
	Routes []gatewayapi.IngressRoute
	// Refused are the Ingresses of the classes that are not served at all, with why.
	Refused []Event
	// Notes are problems of served Ingresses (ignored annotations).
	Notes []Event
}

// Convert turns the Ingresses of classes into what the Gateway serves for them, the way
// ingress-nginx would serve them: Ingresses of one host merge (the oldest first), a host where any
// Ingress asks for regular expressions (use-regex, rewrite-target) matches every path of every
// Ingress as a case-insensitive regular expression anchored at the start, a host with TLS on any
// Ingress redirects plain HTTP to HTTPS unless ssl-redirect says otherwise, and an Ingress that
// cannot be served as written is refused as a whole (never served in part). Ingresses of no class
// in classes are left out. It is a pure function.
func Convert(classes []Class, ingresses []*networkingv1.Ingress) Result {
	var res Result
	var ok []accepted
	for _, ing := range ingresses {
		c := Select(ing, classes)
		if c == nil {
			continue
		}
		a, ref := parseAnnotations(ing.Annotations, c.Prefix(), ing.Namespace)
		if ref == nil {
			ref = checkSpec(ing)
		}
		if ref != nil {
			res.Refused = append(res.Refused, Event{ing.Namespace, ing.Name, ref.reason, ref.msg})
			continue
		}
		for _, u := range a.unknown {
			res.Notes = append(res.Notes, Event{ing.Namespace, ing.Name, ReasonUnknownAnnotation,
				fmt.Sprintf("annotation %s is not an ingress-nginx annotation Flotilla knows; ignored", u)})
		}
		for _, n := range a.notes {
			res.Notes = append(res.Notes, Event{ing.Namespace, ing.Name, ReasonAnnotationIgnored, n})
		}
		if a.canary != nil {
			res.Notes = append(res.Notes, canaryNotes(ing, &a)...)
		}
		ok = append(ok, accepted{ing, c, a})
	}
	slices.SortFunc(ok, func(x, y accepted) int {
		return cmp.Or(x.ing.CreationTimestamp.Compare(y.ing.CreationTimestamp.Time),
			cmp.Compare(x.ing.Namespace, y.ing.Namespace), cmp.Compare(x.ing.Name, y.ing.Name))
	})

	// What is decided per host, across the Ingresses of the host.
	// A canary Ingress counts for none of it: ingress-nginx serves its requests with its primary's
	// server and location.
	regexHost, tlsHost := map[string]bool{}, map[string]string{}
	hosts := map[string]bool{}
	for _, x := range ok {
		if x.a.canary != nil {
			continue // a canary makes no server of its own
		}
		for _, rule := range x.ing.Spec.Rules {
			hosts[rule.Host] = true
		}
	}
	ph := perHost{aliases: map[string][]string{}, passthrough: map[string]*gatewayapi.IngressBackend{}}
	aliasFrom := map[string]string{}
	for _, x := range ok {
		for _, rule := range x.ing.Spec.Rules {
			if from, done := aliasFrom[rule.Host]; done && len(x.a.aliases) > 0 && from != x.ing.Name {
				res.Notes = append(res.Notes, Event{x.ing.Namespace, x.ing.Name, ReasonAnnotationIgnored,
					fmt.Sprintf("annotation %s/server-alias: host %s takes its aliases from its oldest Ingress that sets them, %s; ignored", x.c.Prefix(), rule.Host, from)})
			}
			if _, done := ph.aliases[rule.Host]; !done && len(x.a.aliases) > 0 && rule.Host != "" {
				aliasFrom[rule.Host] = x.ing.Namespace + "/" + x.ing.Name
				// server-alias: the host's oldest Ingress that sets it; a name that is itself a
				// host of some rule stays that rule's (ingress-nginx ignores such an alias).
				var keep []string
				for _, a := range x.a.aliases {
					if !hosts[a] {
						keep = append(keep, a)
					}
				}
				ph.aliases[rule.Host] = keep
			}
			if x.a.passthrough && rule.Host != "" && ph.passthrough[rule.Host] == nil {
				if b := rootBackend(x.ing, rule); b != nil {
					ph.passthrough[rule.Host] = &gatewayapi.IngressBackend{Service: b.Service.Name, Port: b.Service.Port.Number,
						PortName: b.Service.Port.Name, Protocol: model.ClusterTCP}
				}
			}
		}
	}
	for _, x := range ok {
		if x.a.canary != nil {
			continue
		}
		for _, rule := range x.ing.Spec.Rules {
			if x.a.useRegex || x.a.rewriteTarget != "" {
				regexHost[rule.Host] = true
			}
		}
		for _, t := range x.ing.Spec.TLS {
			for _, h := range t.Hosts {
				if _, done := tlsHost[h]; !done {
					tlsHost[h] = x.ing.Namespace + "/" + t.SecretName
				}
			}
		}
	}

	var canaries []accepted
	var served []accepted // parallel to res.Routes until the canaries join them
	for _, x := range ok {
		if x.a.canary != nil {
			canaries = append(canaries, x)
			continue
		}
		if p := x.a.proxySSL; p != nil && p.secretNS != "" && p.secretNS != x.ing.Namespace && !x.c.Spec.AllowCrossNamespaceReferences {
			res.Refused = append(res.Refused, Event{x.ing.Namespace, x.ing.Name, ReasonInvalidAnnotation,
				fmt.Sprintf("annotation %s/proxy-ssl-secret: Secret %s/%s is in another namespace, and the IngressClassConfig of class %s does not allow cross-namespace references (spec.allowCrossNamespaceReferences)",
					x.c.Prefix(), p.secretNS, p.secretName, x.c.Name)})
			continue
		}
		if n, ref := x.a.prot.crossNamespace(x.c); n != "" {
			res.Refused = append(res.Refused, Event{x.ing.Namespace, x.ing.Name, ReasonInvalidAnnotation,
				fmt.Sprintf("annotation %s/%s: %s is in another namespace, and the IngressClassConfig of class %s does not allow cross-namespace references (spec.allowCrossNamespaceReferences)",
					x.c.Prefix(), n, ref, x.c.Name)})
			continue
		}
		if x.a.proxySSL != nil && !x.a.tls {
			res.Notes = append(res.Notes, Event{x.ing.Namespace, x.ing.Name, ReasonAnnotationIgnored,
				fmt.Sprintf("annotations %s/proxy-ssl-*: they apply only with backend-protocol HTTPS or GRPCS; ignored", x.c.Prefix())})
		}
		if x.a.passthrough && !x.c.Spec.SSLPassthrough {
			res.Refused = append(res.Refused, Event{x.ing.Namespace, x.ing.Name, ReasonAnnotationNotSupported,
				fmt.Sprintf("annotation %s/ssl-passthrough: the IngressClassConfig of class %s does not enable SSL passthrough (spec.sslPassthrough)", x.c.Prefix(), x.c.Name)})
			continue
		}
		ir, ref := convertOne(x.ing, x.c, &x.a, regexHost, tlsHost, ph)
		if ref != nil {
			res.Refused = append(res.Refused, Event{x.ing.Namespace, x.ing.Name, ref.reason, ref.msg})
			continue
		}
		ir.Filter = x.a.prot.filterSpec(x.c)
		ir.Mirror = x.a.prot.mirrorBackend()
		res.Routes = append(res.Routes, ir)
		served = append(served, x)
	}
	// The upstreams' load balancing is the primaries' (a canary's own backend keeps round robin).
	res.Notes = append(res.Notes, balance(res.Routes, served)...)
	if len(canaries) > 0 {
		ings := make([]*networkingv1.Ingress, len(served))
		for i := range served {
			ings[i] = served[i].ing
		}
		res.addCanaries(canaries, ings)
		slices.SortStableFunc(res.Routes, func(x, y gatewayapi.IngressRoute) int {
			return cmp.Or(x.Meta.CreationTimestamp.Compare(y.Meta.CreationTimestamp.Time),
				cmp.Compare(x.Meta.Namespace, y.Meta.Namespace), cmp.Compare(x.Meta.Name, y.Meta.Name))
		})
	}
	slices.SortFunc(res.Refused, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return res
}

// accepted is an Ingress of a class whose annotations parse.
type accepted struct {
	ing *networkingv1.Ingress
	c   *Class
	a   annotations
}

// canaryNotes are the Events of a canary Ingress about what does not apply to it.
func canaryNotes(ing *networkingv1.Ingress, a *annotations) []Event {
	var out []Event
	if len(a.ignored) > 0 {
		out = append(out, Event{ing.Namespace, ing.Name, ReasonAnnotationIgnored, fmt.Sprintf(
			"annotations %s are ignored on a canary Ingress: its requests are served as its primary Ingress's path says (only the canary annotations, load-balance, upstream-hash-by and affinity apply to a canary)",
			strings.Join(a.ignored, ", "))})
	}
	if len(ing.Spec.TLS) > 0 {
		out = append(out, Event{ing.Namespace, ing.Name, ReasonAnnotationIgnored,
			"spec.tls is ignored on a canary Ingress: its hosts' certificates are those of the Ingresses that are not canaries"})
	}
	if a.lb != "" || a.hashBy != nil || a.affinity != nil {
		out = append(out, Event{ing.Namespace, ing.Name, ReasonAnnotationIgnored,
			"load-balance, upstream-hash-by and affinity of a canary Ingress are not applied yet: its backend is balanced round robin"})
	}
	for _, n := range a.canary.notes {
		out = append(out, Event{ing.Namespace, ing.Name, ReasonAnnotationIgnored, n})
	}
	return out
}

// strictPath is ingress-nginx's strict path validation of Exact and Prefix paths.
var strictPath = regexp.MustCompile(`^/[A-Za-z0-9/_-]*$`)

// checkSpec refuses what no annotation changes: resource backends, unnamed Services, bad paths.
func checkSpec(ing *networkingv1.Ingress) *refusal {
	bad := func(format string, args ...any) *refusal {
		return &refusal{ReasonInvalidIngress, fmt.Sprintf(format, args...)}
	}
	checkBackend := func(where string, b *networkingv1.IngressBackend) *refusal {
		switch {
		case b.Resource != nil:
			return bad("%s: resource backends are not supported (only Services)", where)
		case b.Service == nil || b.Service.Name == "":
			return bad("%s: the backend names no Service", where)
		case b.Service.Port.Number == 0 && b.Service.Port.Name == "":
			return bad("%s: the backend names no Service port", where)
		}
		return nil
	}
	if b := ing.Spec.DefaultBackend; b != nil {
		if r := checkBackend("defaultBackend", b); r != nil {
			return r
		}
	}
	if len(ing.Spec.Rules) == 0 && ing.Spec.DefaultBackend == nil {
		return bad("the Ingress has neither rules nor a defaultBackend")
	}
	for i, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			if ing.Spec.DefaultBackend == nil {
				return bad("rule %d: no http paths and no defaultBackend", i)
			}
			continue
		}
		for j, p := range rule.HTTP.Paths {
			where := fmt.Sprintf("rule %d path %d", i, j)
			if r := checkBackend(where, &p.Backend); r != nil {
				return r
			}
			typ := networkingv1.PathTypeImplementationSpecific
			if p.PathType != nil {
				typ = *p.PathType
			}
			switch typ {
			case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
				if !strictPath.MatchString(p.Path) {
					return bad("%s: %s path %q may hold only letters, digits, '/', '_' and '-' (ingress-nginx's strict path validation; use ImplementationSpecific for regular expressions)", where, typ, p.Path)
				}
			case networkingv1.PathTypeImplementationSpecific:
				if p.Path != "" && !strings.HasPrefix(p.Path, "/") {
					return bad("%s: path %q must start with /", where, p.Path)
				}
				if strings.ContainsAny(p.Path, " \t\r\n\x00{};") {
					return bad("%s: path %q holds a character a path cannot", where, p.Path)
				}
			default:
				return bad("%s: path type %q is unknown", where, typ)
			}
		}
	}
	return nil
}

// convertOne converts one accepted Ingress.
func convertOne(ing *networkingv1.Ingress, c *Class, a *annotations, regexHost map[string]bool, tlsHost map[string]string, ph perHost) (gatewayapi.IngressRoute, *refusal) {
	ir := gatewayapi.IngressRoute{Meta: &ing.ObjectMeta}
	own := map[string]string{} // the hosts this Ingress's tls entries name, to their Secret
	for _, t := range ing.Spec.TLS {
		for _, h := range t.Hosts {
			if _, done := own[h]; !done {
				own[h] = t.SecretName
			}
		}
	}
	// Rules of the same host stay apart (each with its rule index): they attach to the same
	// virtual host, so they merge there as ingress-nginx merges them into one server.
	for i, rule := range ing.Spec.Rules {
		var paths []networkingv1.HTTPIngressPath
		if rule.HTTP != nil {
			paths = rule.HTTP.Paths
		}
		h, ref := convertHost(ing, c, a, i, rule.Host, paths, regexHost[rule.Host], tlsHost, own)
		if ref != nil {
			return ir, ref
		}
		h.Aliases = ph.aliases[rule.Host]
		if c.Spec.SSLPassthrough {
			h.Passthrough = ph.passthrough[rule.Host]
		}
		ir.Hosts = append(ir.Hosts, h)
	}
	if len(ing.Spec.Rules) == 0 {
		h, ref := convertHost(ing, c, a, 0, "", nil, regexHost[""], tlsHost, own)
		if ref != nil {
			return ir, ref
		}
		ir.Hosts = append(ir.Hosts, h)
	}
	return ir, nil
}

// convertHost converts the paths of one rule (host) of an Ingress, with the Ingress's
// defaultBackend for what they leave unmatched and app-root.
func convertHost(ing *networkingv1.Ingress, c *Class, a *annotations, rule int, host string, paths []networkingv1.HTTPIngressPath,
	regex bool, tlsHost, own map[string]string) (gatewayapi.IngressHost, *refusal) {
	h := gatewayapi.IngressHost{Host: host, Rule: rule}
	if s, ok := own[host]; ok && tlsHost[host] == ing.Namespace+"/"+s && host != "" {
		h.TLSSecret = s
	}
	_, hasTLS := tlsHost[host]
	redirect := a.forceSSLRedirect || hasTLS && host != "" && (a.sslRedirect != nil && *a.sslRedirect || a.sslRedirect == nil && c.sslRedirect())
	// No Envoy 15s route timeout (nginx has none); the inactivity timeout is the larger of the
	// read and send timeouts (the annotation's, else the class's, else 60s).
	read, send := a.read, a.send
	if read < 0 {
		read = int(ptrOr(c.Spec.ProxyReadTimeoutSeconds, 60))
	}
	if send < 0 {
		send = int(ptrOr(c.Spec.ProxySendTimeoutSeconds, 60))
	}
	timeouts := &model.Timeouts{Request: "0s", Idle: strconv.Itoa(max(read, send)) + "s"}
	var secure []gatewayapi.IngressPath
	hasRoot := false
	add := func(index int, m model.Match, rewrite *model.PathModifier, b *networkingv1.IngressBackend) {
		p := gatewayapi.IngressPath{Index: index, Match: m, Timeouts: timeouts}
		if a.redirect != nil {
			p.Redirect, p.Timeouts = a.redirect, nil
		} else {
			p.Backend = &gatewayapi.IngressBackend{Service: b.Service.Name, Port: b.Service.Port.Number, PortName: b.Service.Port.Name,
				Protocol: a.protocol, TLS: a.tls, ServiceUpstream: a.serviceUpstream, ConnectTimeout: a.connect}
			if ps := a.proxySSL; ps != nil && a.tls {
				u := &gatewayapi.IngressUpstreamTLS{Verify: ps.verify, Name: ps.name, SNI: ps.serverName}
				if ps.secretName != "" {
					u.Secret = cmp.Or(ps.secretNS, ing.Namespace) + "/" + ps.secretName
				}
				p.Backend.UpstreamTLS = u
			}
			var rw *model.URLRewrite
			if rewrite != nil || a.vhost != "" {
				rw = &model.URLRewrite{Hostname: a.vhost, Path: rewrite}
				p.Filters = append(p.Filters, model.Filter{Type: model.FilterURLRewrite, URLRewrite: rw})
			}
			if rewrite != nil && a.forwardedPrefix != "" {
				p.Filters = append(p.Filters, model.Filter{Type: model.FilterRequestHeaders,
					RequestHeaders: &model.HeaderModifier{Set: []model.Header{{Name: "X-Forwarded-Prefix", Value: a.forwardedPrefix}}}})
			}
			if a.cors != nil {
				p.Filters = append(p.Filters, model.Filter{Type: model.FilterCORS, CORS: a.cors})
			}
		}
		secure = append(secure, p)
	}
	for j, p := range paths {
		typ := networkingv1.PathTypeImplementationSpecific
		if p.PathType != nil {
			typ = *p.PathType
		}
		value := cmp.Or(p.Path, "/")
		if value == "/" && typ != networkingv1.PathTypeExact {
			hasRoot = true
		}
		var m model.StringMatch
		switch {
		case regex:
			m = model.StringMatch{Type: model.MatchRegex, Value: "(?i)(?:" + value + ").*"}
			if bad := gatewayapi.CheckRegex("path", m.Value); bad != "" {
				return h, &refusal{ReasonInvalidIngress, fmt.Sprintf("rule %d path %d: %s (on host %q every path is a regular expression: an Ingress of the host sets use-regex or rewrite-target)", rule, j, bad, host)}
			}
		case typ == networkingv1.PathTypeExact:
			m = model.StringMatch{Type: model.MatchExact, Value: value}
		case typ == networkingv1.PathTypePrefix:
			m = model.StringMatch{Type: model.MatchPathPrefix, Value: value}
		default:
			m = model.StringMatch{Type: model.MatchPrefix, Value: value}
		}
		var rewrite *model.PathModifier
		if a.rewriteTarget != "" && a.rewriteTarget != value {
			rewrite = &model.PathModifier{Regex: &model.RegexRewrite{Pattern: "(?i)^(?:" + value + ").*", Substitution: substitution(a.rewriteTarget)}}
			if bad := gatewayapi.CheckRegex("rewrite", rewrite.Regex.Pattern); bad != "" {
				return h, &refusal{ReasonInvalidIngress, fmt.Sprintf("rule %d path %d: %s", rule, j, bad)}
			}
		}
		add(j, model.Match{Path: &m}, rewrite, &paths[j].Backend)
	}
	if d := ing.Spec.DefaultBackend; d != nil && !hasRoot {
		m := model.StringMatch{Type: model.MatchPrefix, Value: "/"}
		if regex {
			m = model.StringMatch{Type: model.MatchRegex, Value: "(?i)(?:/).*"}
		}
		add(len(paths), model.Match{Path: &m}, nil, d)
	}
	if a.appRoot != "" {
		root := a.appRoot
		secure = append([]gatewayapi.IngressPath{{Index: len(paths) + 1, Match: model.Match{Path: &model.StringMatch{Type: model.MatchExact, Value: "/"}},
			Redirect: &model.Redirect{Path: &model.PathModifier{ReplaceFullPath: &root}, StatusCode: 302, StripQuery: true}}}, secure...)
	}
	if len(secure) == 0 {
		return h, nil
	}
	plain := secure
	if redirect {
		plain = make([]gatewayapi.IngressPath, len(secure))
		for i, p := range secure {
			plain[i] = gatewayapi.IngressPath{Index: p.Index, Match: p.Match,
				Redirect: &model.Redirect{Scheme: "https", StatusCode: c.redirectCode()}}
		}
	}
	if hasTLS && host != "" && (c.Spec.HSTS == nil || *c.Spec.HSTS) {
		// HSTS on the hosts with TLS, as ingress-nginx's hsts default does.
		withHSTS := make([]gatewayapi.IngressPath, len(secure))
		for i, p := range secure {
			p.Filters = append(slices.Clip(p.Filters), model.Filter{Type: model.FilterResponseHeaders,
				ResponseHeaders: &model.HeaderModifier{Set: []model.Header{{Name: "Strict-Transport-Security", Value: hsts}}}})
			withHSTS[i] = p
		}
		secure = withHSTS
	}
	h.Plain, h.Secure = plain, secure
	return h, nil
}

// substitution turns an nginx rewrite target ($1..$9 are captures) into an Envoy regex
// substitution (\1..\9; a literal backslash doubled).
func substitution(target string) string {
	var b strings.Builder
	for i := 0; i < len(target); i++ {
		switch ch := target[i]; {
		case ch == '\\':
			b.WriteString(`\\`)
		case ch == '$' && i+1 < len(target) && target[i+1] >= '0' && target[i+1] <= '9':
			b.WriteByte('\\')
			b.WriteByte(target[i+1])
			i++
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// ClassesFor returns the IngressClasses Flotilla serves with the Gateway ns/name: those whose
// spec.controller is gateway.flotilla.dev/ingress and whose parameters name an
// IngressClassConfig with that gatewayRef, sorted by name.
func ClassesFor(ns, name string, classes []*networkingv1.IngressClass, configs []*flotillav1alpha1.IngressClassConfig) []Class {
	byName := make(map[string]*flotillav1alpha1.IngressClassConfig, len(configs))
	for _, c := range configs {
		byName[c.Name] = c
	}
	var out []Class
	for _, ic := range classes {
		cfg := ConfigOf(ic, byName)
		if cfg != nil && cfg.Spec.GatewayRef.Namespace == ns && cfg.Spec.GatewayRef.Name == name {
			out = append(out, Class{Name: ic.Name, Spec: cfg.Spec})
		}
	}
	slices.SortFunc(out, func(a, b Class) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// ConfigOf is the IngressClassConfig of an IngressClass of Flotilla's, or nil (another
// controller's class, or parameters that name no IngressClassConfig of configs).
func ConfigOf(ic *networkingv1.IngressClass, configs map[string]*flotillav1alpha1.IngressClassConfig) *flotillav1alpha1.IngressClassConfig {
	p := ic.Spec.Parameters
	if ic.Spec.Controller != flotillav1alpha1.IngressController || p == nil || p.APIGroup == nil ||
		*p.APIGroup != flotillav1alpha1.GroupVersion.Group || p.Kind != "IngressClassConfig" ||
		(p.Scope != nil && *p.Scope != networkingv1.IngressClassParametersReferenceScopeCluster) {
		return nil
	}
	return configs[p.Name]
}

// ForGateway converts the Ingresses that the IngressClasses of the Gateway in.Gateway serve and
// sets in.Ingresses to them; the Result's Refused and Notes are for Events.
func ForGateway(in *gatewayapi.Input, classes []*networkingv1.IngressClass, configs []*flotillav1alpha1.IngressClassConfig, ingresses []*networkingv1.Ingress) Result {
	if in.Gateway == nil {
		return Result{}
	}
	cs := ClassesFor(in.Gateway.Namespace, in.Gateway.Name, classes, configs)
	if len(cs) == 0 {
		in.Ingresses = nil
		return Result{}
	}
	res := Convert(cs, ingresses)
	in.Ingresses = res.Routes
	return res
}

// perHost are the decisions the Ingresses of a host share: server-alias (the oldest Ingress
// that sets it) and ssl-passthrough (any Ingress switches it on; the backend of its "/" path).
type perHost struct {
	aliases     map[string][]string
	passthrough map[string]*gatewayapi.IngressBackend
}

// rootBackend is the backend of a rule's "/" path, else the Ingress's defaultBackend.
func rootBackend(ing *networkingv1.Ingress, rule networkingv1.IngressRule) *networkingv1.IngressBackend {
	if rule.HTTP != nil {
		for i, p := range rule.HTTP.Paths {
			if cmp.Or(p.Path, "/") == "/" {
				return &rule.HTTP.Paths[i].Backend
			}
		}
	}
	return ing.Spec.DefaultBackend
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
