package migrate

import (
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/ingress"
	"github.com/flotilla-dev/flotilla/internal/model"
	"github.com/flotilla-dev/flotilla/internal/offline"
)

// MigratedFromAnnotation is set on every object migrate prints: "Ingress/<ns>/<name>" of the
// Ingresses it comes from (comma-separated), so that a cut-over can be found and rolled back.
const MigratedFromAnnotation = "gateway.flotilla.dev/migrated-from"

// Results of an Ingress in the report.
const (
	// ResultMigrated: the printed objects serve what the Ingress served; delete the Ingress once
	// they are applied (they take precedence over it meanwhile).
	ResultMigrated = "Migrated"
	// ResultNotMigrated: the Ingress (and the Ingresses sharing its hosts) stays an Ingress: it
	// uses something the printed objects could not say exactly.
	ResultNotMigrated = "NotMigrated"
	// ResultRefused: the controller refuses the Ingress (it serves nothing today); fix it first.
	ResultRefused = "Refused"
	// ResultSkipped: the Ingress is of another class (or none the Gateway serves).
	ResultSkipped = "Skipped"
)

// Options select what to migrate.
type Options struct {
	// Gateway is "namespace/name" of the Gateway whose Ingress classes are migrated; empty: the
	// one Gateway the input's IngressClassConfigs name.
	Gateway string
	// IngressClass limits the migration to one IngressClass; empty: every class of the Gateway.
	IngressClass string
}

// Object is one printed object with the comment that says why it is there.
type Object struct {
	Comment string
	Obj     client.Object
}

// Result is a migration: the objects to apply and the report.
type Result struct {
	Gateway *gwapiv1.Gateway
	Objects []Object
	Report  Report
	// Migrated are the Ingresses ("ns/name") the objects replace.
	Migrated map[string]bool
	set      *offline.Set
	conv     ingress.Result
}

// Report says, per Ingress and annotation, what became of it.
type Report struct {
	Gateway   string          `json:"gateway"`
	Summary   Summary         `json:"summary"`
	Ingresses []IngressReport `json:"ingresses"`
}

// Summary counts the Ingresses by result.
type Summary struct {
	Migrated    int `json:"migrated"`
	NotMigrated int `json:"notMigrated"`
	Refused     int `json:"refused"`
	Skipped     int `json:"skipped"`
}

// IngressReport is what became of one Ingress.
type IngressReport struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Class     string `json:"class,omitempty"`
	Result    string `json:"result"`
	// Reason says why an Ingress is not migrated, refused or skipped.
	Reason string `json:"reason,omitempty"`
	// Objects are the printed objects that serve the Ingress's requests ("Kind ns/name").
	Objects     []string           `json:"objects,omitempty"`
	Annotations []AnnotationReport `json:"annotations,omitempty"`
	// Notes are what the controller says of the Ingress today (ignored annotations): the
	// migrated objects behave the same, so they say it of the migration too.
	Notes []string `json:"notes,omitempty"`
}

// AnnotationReport is what one annotation became.
type AnnotationReport struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	To    string `json:"to"`
}

// Migrate converts the Ingresses of set that the Gateway's classes serve.
func Migrate(set *offline.Set, opts Options) (*Result, error) {
	gw, err := gateway(set, opts.Gateway)
	if err != nil {
		return nil, err
	}
	classes := ingress.ClassesFor(gw.Namespace, gw.Name, set.Docs.IngressClasses, set.Docs.IngressClassConfigs)
	if opts.IngressClass != "" {
		i := slices.IndexFunc(classes, func(c ingress.Class) bool { return c.Name == opts.IngressClass })
		if i < 0 {
			return nil, fmt.Errorf("IngressClass %s is not in the input or not served by Gateway %s/%s", opts.IngressClass, gw.Namespace, gw.Name)
		}
		classes = classes[i : i+1]
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("no IngressClass of the input is served by Gateway %s/%s (an IngressClass of controller %s whose IngressClassConfig names the Gateway)",
			gw.Namespace, gw.Name, flotillav1alpha1.IngressController)
	}
	m := &migration{set: set, gw: gw, classes: classes, policy: gatewayapi.NewNamespacePolicy(gw, set.Docs.Namespaces), res: &Result{Gateway: gw, Migrated: map[string]bool{}, set: set},
		reports: map[string]*IngressReport{}, services: map[string]map[string]int32{}}
	for _, svc := range set.Docs.Services {
		ports := map[string]int32{}
		for _, p := range svc.Spec.Ports {
			ports[p.Name] = p.Port
		}
		m.services[svc.Namespace+"/"+svc.Name] = ports
	}
	m.run()
	return m.res, nil
}

// gateway is the Gateway named, or the one the IngressClassConfigs name.
func gateway(set *offline.Set, name string) (*gwapiv1.Gateway, error) {
	if name == "" {
		var refs []string
		for _, c := range set.Docs.IngressClassConfigs {
			r := c.Spec.GatewayRef.Namespace + "/" + c.Spec.GatewayRef.Name
			if !slices.Contains(refs, r) {
				refs = append(refs, r)
			}
		}
		switch len(refs) {
		case 0:
			return nil, fmt.Errorf("the input has no IngressClassConfig: give the IngressClasses and IngressClassConfigs the Ingresses use, or --gateway")
		case 1:
			name = refs[0]
		default:
			slices.Sort(refs)
			return nil, fmt.Errorf("the input's IngressClassConfigs name several Gateways (%s): say which with --gateway", strings.Join(refs, ", "))
		}
	}
	gws, _, err := set.Gateways(name)
	if err != nil {
		return nil, fmt.Errorf("%w (migrate needs the Gateway: its listeners are what the HTTPRoutes attach to)", err)
	}
	return gws[0], nil
}

// migration is one run of Migrate.
type migration struct {
	set      *offline.Set
	gw       *gwapiv1.Gateway
	classes  []ingress.Class
	res      *Result
	reports  map[string]*IngressReport
	services map[string]map[string]int32 // "ns/name" → port name → number
	// prefixMode are the hosts whose prefix paths become regular expressions (see pathMatch);
	// pad is, per such host, the longest wrapping of its paths.
	prefixMode map[string]bool
	pad        map[string]int
	grants     map[grantKey][]gwapiv1.ReferenceGrantTo
	lsSorted   []string                   // the TLS hosts of ListenerSets, sorted
	policy     gatewayapi.NamespacePolicy // the Gateway's namespace admission, as resolution decides it
	overrides  map[string]string          // "host\x00type\x00path" → the HTTPRoute that has the match
}

type grantKey struct{ toNS, fromNS, fromGroup, fromKind string }

func key(m *metav1.ObjectMeta) string { return m.Namespace + "/" + m.Name }

func (m *migration) report(ing *networkingv1.Ingress) *IngressReport {
	k := ing.Namespace + "/" + ing.Name
	r := m.reports[k]
	if r == nil {
		r = &IngressReport{Namespace: ing.Namespace, Name: ing.Name}
		m.reports[k] = r
	}
	return r
}

func (m *migration) run() {
	var mine []*networkingv1.Ingress
	for _, ing := range m.set.Docs.Ingresses {
		c := ingress.Select(ing, m.classes)
		r := m.report(ing)
		if c == nil {
			r.Result = ResultSkipped
			if n := ingress.ClassName(ing); n != "" {
				r.Class = n
				r.Reason = fmt.Sprintf("IngressClass %s is not migrated: it is not a class of Gateway %s/%s served by Flotilla (or not the --ingress-class asked for)", n, m.gw.Namespace, m.gw.Name)
			} else {
				r.Reason = "the Ingress names no class, and no migrated class takes Ingresses without a class (spec.ingressesWithoutClass)"
			}
			continue
		}
		r.Class = c.Name
		mine = append(mine, ing)
	}
	conv := ingress.Convert(m.classes, mine)
	m.res.conv = conv
	for _, e := range conv.Refused {
		r := m.reports[e.Namespace+"/"+e.Name]
		r.Result, r.Reason = ResultRefused, fmt.Sprintf("%s: %s", e.Reason, e.Message)
	}
	for _, e := range conv.Notes {
		r := m.reports[e.Namespace+"/"+e.Name]
		r.Notes = append(r.Notes, e.Message)
	}
	byKey := map[string]*networkingv1.Ingress{}
	for _, ing := range mine {
		byKey[ing.Namespace+"/"+ing.Name] = ing
	}

	// Group the served Ingresses: by host, and a canary with its primaries' hosts.
	g := newGroups()
	for i := range conv.Routes {
		ir := &conv.Routes[i]
		me := "i:" + key(ir.Meta)
		g.add(me)
		for _, h := range ir.Hosts {
			g.union(me, "h:"+h.Host)
			for _, a := range h.Aliases {
				g.union(me, "h:"+a)
			}
			for _, p := range slices.Concat(h.Plain, h.Secure) {
				for _, b := range p.Backends {
					if b.Of != nil {
						g.union("i:"+key(b.Of), "h:"+h.Host)
					}
				}
				if b := p.Backend; b != nil && b.Of != nil {
					g.union("i:"+key(b.Of), "h:"+h.Host)
				}
			}
		}
		for _, t := range byKey[key(ir.Meta)].Spec.TLS {
			for _, h := range t.Hosts {
				g.union(me, "h:"+h) // its certificate and ssl-redirect decide the host's
			}
		}
	}
	m.prefixHosts(conv.Routes)
	lsHosts := m.listenerSetHosts(conv.Routes)
	m.lsSorted = slices.Sorted(maps.Keys(lsHosts))
	// A TLS host's ListenerSet listener serves the routes that cover the host (no hostname, a
	// wildcard) too: they migrate with it, or it does not migrate.
	for h := range lsHosts {
		for i := range conv.Routes {
			for _, rh := range conv.Routes[i].Hosts {
				if covers(rh.Host, h) {
					g.union("h:"+h, "h:"+rh.Host)
				}
			}
		}
	}

	// Why each Ingress cannot be migrated, if it cannot; then, per group, the first reason.
	why := map[string]string{}
	for i := range conv.Routes {
		ir := &conv.Routes[i]
		if w := m.unsupported(ir, byKey[key(ir.Meta)], lsHosts); w != "" {
			why[key(ir.Meta)] = w
		}
	}
	blocked := map[string]string{}
	for i := range conv.Routes {
		k := key(conv.Routes[i].Meta)
		if w := why[k]; w != "" && blocked[g.find("i:"+k)] == "" {
			blocked[g.find("i:"+k)] = fmt.Sprintf("Ingress %s %s", k, w)
		}
	}

	m.grants = map[grantKey][]gwapiv1.ReferenceGrantTo{}
	canaries := map[string]*gatewayapi.IngressRoute{}
	var sets []Object
	lsDone := map[string]bool{}
	for i := range conv.Routes {
		ir := &conv.Routes[i]
		k := key(ir.Meta)
		r := m.reports[k]
		if b := blocked[g.find("i:"+k)]; b != "" {
			r.Result = ResultNotMigrated
			if strings.HasPrefix(b, "Ingress "+k+" ") {
				r.Reason = strings.TrimPrefix(b, "Ingress "+k+" ")
			} else {
				r.Reason = b + ", and it shares hosts with this Ingress (a host migrates with all its Ingresses, so what stays is served as before)"
			}
			continue
		}
		r.Result = ResultMigrated
		m.res.Migrated[k] = true
		if len(ir.Hosts) == 0 {
			canaries[k] = ir
		}
		for _, h := range ir.Hosts {
			if ls := lsHosts[h.Host]; ls != nil && ls.from == k && !lsDone[ls.key()] {
				lsDone[ls.key()] = true
				var of []*tlsHost // every TLS host of the Ingress: one ListenerSet
				for _, th := range slices.Sorted(maps.Keys(lsHosts)) {
					if lsHosts[th].key() == ls.key() {
						of = append(of, lsHosts[th])
					}
				}
				sets = append(sets, m.listenerSet(of))
			}
		}
		objs := m.convert(ir, byKey[k], lsHosts)
		for _, o := range objs {
			r.Objects = append(r.Objects, objectName(o.Obj))
		}
		m.res.Objects = append(m.res.Objects, objs...)
	}
	// Canaries are served through their primaries' routes, which name them as their sources.
	for _, o := range m.res.Objects {
		for _, from := range strings.Split(o.Obj.GetAnnotations()[MigratedFromAnnotation], ",") {
			k := strings.TrimPrefix(from, "Ingress/")
			if ir := canaries[k]; ir != nil {
				m.reports[k].Objects = append(m.reports[k].Objects, objectName(o.Obj))
			}
		}
	}
	m.res.Objects = slices.Concat(sets, m.res.Objects, m.referenceGrants())
	for _, o := range sets {
		for _, k := range strings.Split(o.Obj.GetAnnotations()[MigratedFromAnnotation], ",") {
			if r := m.reports[strings.TrimPrefix(k, "Ingress/")]; r != nil {
				r.Objects = append([]string{objectName(o.Obj)}, r.Objects...)
			}
		}
	}
	m.finishReport(byKey)
}

// finishReport sorts the report, counts it and says what each annotation became.
func (m *migration) finishReport(byKey map[string]*networkingv1.Ingress) {
	rep := &m.res.Report
	rep.Gateway = m.gw.Namespace + "/" + m.gw.Name
	for _, ing := range m.set.Docs.Ingresses {
		r := m.reports[ing.Namespace+"/"+ing.Name]
		switch r.Result {
		case ResultMigrated:
			rep.Summary.Migrated++
		case ResultNotMigrated:
			rep.Summary.NotMigrated++
		case ResultRefused:
			rep.Summary.Refused++
		case ResultSkipped:
			rep.Summary.Skipped++
		}
		if c := ingress.Select(ing, m.classes); c != nil {
			r.Annotations = annotationReports(ing, c.Prefix(), r.Result)
		}
		rep.Ingresses = append(rep.Ingresses, *r)
	}
	slices.SortFunc(rep.Ingresses, func(a, b IngressReport) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

func objectName(o client.Object) string {
	kind := reflect.TypeOf(o).Elem().Name()
	return kind + " " + o.GetNamespace() + "/" + o.GetName()
}

// prefixHosts finds the hosts whose paths include an ImplementationSpecific prefix other than
// "/" outside regex mode: nginx matches it as a plain string prefix ("/api" matches "/apis"),
// which Gateway API's segment-wise PathPrefix does not. Every prefix path of such a host becomes
// a regular expression, padded to the same extra length, so that they keep their order of
// precedence (the longest path first) among themselves.
func (m *migration) prefixHosts(routes []gatewayapi.IngressRoute) {
	m.prefixMode, m.pad = map[string]bool{}, map[string]int{}
	each := func(fn func(host string, p *gatewayapi.IngressPath)) {
		for i := range routes {
			for _, h := range routes[i].Hosts {
				for _, ps := range [][]gatewayapi.IngressPath{h.Plain, h.Secure} {
					for j := range ps {
						fn(h.Host, &ps[j])
					}
				}
			}
		}
	}
	each(func(host string, p *gatewayapi.IngressPath) {
		if pm := p.Match.Path; pm != nil && pm.Type == model.MatchPrefix && pm.Value != "/" {
			m.prefixMode[host] = true
		}
	})
	each(func(host string, p *gatewayapi.IngressPath) {
		if m.prefixMode[host] {
			if core, ok := prefixCore(p.Match.Path); ok {
				m.pad[host] = max(m.pad[host], len(core)-len(p.Match.Path.Value))
			}
		}
	})
}

// prefixCore is the regular expression of a prefix path (false for another match).
func prefixCore(pm *model.StringMatch) (string, bool) {
	switch {
	case pm == nil || pm.Type != model.MatchPrefix && pm.Type != model.MatchPathPrefix:
		return "", false
	case pm.Value == "/":
		return "/.*", true
	case pm.Type == model.MatchPrefix:
		return "(?:" + regexp.QuoteMeta(pm.Value) + ").*", true
	}
	return "(?:" + regexp.QuoteMeta(strings.TrimSuffix(pm.Value, "/")) + ")(?:/.*)?", true
}

// tlsHost is a host whose certificate an Ingress names: it gets a listener of a ListenerSet.
type tlsHost struct {
	host, secret string
	ns           string // of the ListenerSet: the Ingress's with the certificate
	from         string // that Ingress, "ns/name"
	setName      string
	routeNS      []string // namespaces of the Ingresses whose HTTPS routes serve the host
	ingresses    []string
}

func (t *tlsHost) key() string { return t.ns + "/" + t.setName }

// listenerSetHosts are the TLS hosts with an Ingress's certificate, by host.
func (m *migration) listenerSetHosts(routes []gatewayapi.IngressRoute) map[string]*tlsHost {
	out := map[string]*tlsHost{}
	for i := range routes {
		ir := &routes[i]
		for _, h := range ir.Hosts {
			if h.TLSSecret != "" && out[h.Host] == nil {
				out[h.Host] = &tlsHost{host: h.Host, secret: h.TLSSecret, ns: ir.Meta.Namespace, from: key(ir.Meta), setName: ir.Meta.Name}
			}
		}
	}
	for i := range routes {
		ir := &routes[i]
		for _, h := range ir.Hosts {
			for th, t := range out {
				if len(h.Secure) == 0 || h.Host != th && !covers(h.Host, th) {
					continue
				}
				if !slices.Contains(t.routeNS, ir.Meta.Namespace) {
					t.routeNS = append(t.routeNS, ir.Meta.Namespace)
				}
				if !slices.Contains(t.ingresses, key(ir.Meta)) {
					t.ingresses = append(t.ingresses, key(ir.Meta))
				}
			}
		}
	}
	return out
}

// covers says whether a route of hostname h ("" for any, "*.example.com") less specific than
// host serves host's requests when host's own routes match none.
func covers(h, host string) bool {
	return h == "" || strings.HasPrefix(h, "*.") && h != host && strings.HasSuffix(host, h[1:])
}

// unsupported says why an Ingress cannot be printed as objects that behave exactly like it, or "".
func (m *migration) unsupported(ir *gatewayapi.IngressRoute, ing *networkingv1.Ingress, ls map[string]*tlsHost) string {
	if ir.Mirror != nil {
		return "uses mirror-target: an HTTPRoute RequestMirror sends the copy with the Host suffixed -shadow, ingress-nginx sends the request's own Host"
	}
	if f := ir.Filter; f != nil && f.ErrorPages != nil {
		return "uses custom-http-errors/default-backend: the error pages of an Ingress carry X-Namespace and X-Ingress-Name, which a RouteFilter's error pages do not send"
	}
	for _, h := range ir.Hosts {
		if h.Passthrough != nil {
			return "uses ssl-passthrough: migrating it needs a TLS listener and a TLSRoute, which this version does not print"
		}
		if t := ls[h.Host]; t != nil && len(h.Secure) > 0 {
			if why := m.listenerSetsAllowed(t.ns); why != "" {
				return fmt.Sprintf("serves TLS host %s with the certificate of Secret %s/%s: %s", h.Host, t.ns, t.secret, why)
			}
		}
		for _, p := range slices.Concat(h.Plain, h.Secure) {
			if w := m.pathUnsupported(ir, &p); w != "" {
				return fmt.Sprintf("(host %q): %s", cmp.Or(h.Host, "*"), w)
			}
		}
	}
	return ""
}

// listenerSetsAllowed says why a ListenerSet in ns cannot attach to the Gateway, or "".
func (m *migration) listenerSetsAllowed(ns string) string {
	if m.policy.ListenerSetsAllowed(ns) {
		return ""
	}
	return fmt.Sprintf("Gateway %s/%s does not admit ListenerSets from namespace %s (spec.allowedListeners); a platform admin must allow them, or the Ingress stays", m.gw.Namespace, m.gw.Name, ns)
}

// pathUnsupported says why a path cannot be written as an HTTPRoute rule (with RouteFilters), or "".
func (m *migration) pathUnsupported(ir *gatewayapi.IngressRoute, p *gatewayapi.IngressPath) string {
	if rd := p.Redirect; rd != nil && !rd.StripQuery && (rd.Path != nil || rd.Hostname != "" || rd.Port != 0) {
		return "redirects in a way this version does not print"
	}
	if len(p.HashPolicies) > 0 {
		return "balances by a hash (upstream-hash-by or affinity), which Gateway API cannot say"
	}
	for _, f := range p.Filters {
		if f.Type == model.FilterCORS {
			return "uses enable-cors: ingress-nginx compares origins without case and a \"*\" as one DNS label, Gateway API's CORS filter exactly"
		}
	}
	bs := p.Backends
	if p.Backend != nil {
		bs = []gatewayapi.IngressBackend{*p.Backend}
	}
	for _, b := range bs {
		switch {
		case b.Protocol != model.ClusterHTTP:
			return "uses backend-protocol GRPC or GRPCS: in Gateway API the Service port's appProtocol says the protocol, which migrate does not change"
		case b.TLS:
			return "uses backend-protocol HTTPS or GRPCS (TLS to the backend, with proxy-ssl-*): not printed by this version"
		case b.ServiceUpstream:
			return "uses service-upstream, which Gateway API cannot say"
		case b.ConnectTimeout != "":
			return "uses proxy-connect-timeout, which Gateway API cannot say"
		case b.LoadBalancer != nil && b.LoadBalancer.Policy != model.LoadBalancerRoundRobin:
			return "uses load-balance, upstream-hash-by or affinity, which Gateway API cannot say"
		case b.Port == 0:
			ns := ir.Meta.Namespace
			if b.Of != nil {
				ns = b.Of.Namespace
			}
			if _, ok := m.services[ns+"/"+b.Service][b.PortName]; !ok {
				return fmt.Sprintf("names port %q of Service %s/%s, which is not in the input: a backendRef needs the port number", b.PortName, ns, b.Service)
			}
		}
	}
	return ""
}

// groups is a union-find of Ingresses and hosts.
type groups struct{ parent map[string]string }

func newGroups() *groups { return &groups{parent: map[string]string{}} }

func (g *groups) add(x string) {
	if _, ok := g.parent[x]; !ok {
		g.parent[x] = x
	}
}

func (g *groups) find(x string) string {
	g.add(x)
	for g.parent[x] != x {
		g.parent[x] = g.parent[g.parent[x]]
		x = g.parent[x]
	}
	return x
}

func (g *groups) union(a, b string) {
	ra, rb := g.find(a), g.find(b)
	if ra != rb {
		g.parent[max(ra, rb)] = min(ra, rb)
	}
}
