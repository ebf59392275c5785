package ingress

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/model"
)

// upstreamKey is an ingress-nginx upstream: namespace, Service and port (number or name, as the
// Ingress writes it).
type upstreamKey struct{ ns, svc, port string }

func (k upstreamKey) String() string { return k.ns + "/" + k.svc + ":" + k.port }

func keyOf(ns string, b *gatewayapi.IngressBackend) upstreamKey {
	port := b.PortName
	if b.Port != 0 {
		port = strconv.Itoa(int(b.Port))
	}
	return upstreamKey{ns, b.Service, port}
}

// upstream is who decides an upstream's load balancing, as ingress-nginx decides it: load-balance
// and upstream-hash-by come from the oldest Ingress with a path to the upstream (whether or not it
// sets them), affinity from the oldest Ingress that sets it. Affinity beats upstream-hash-by,
// which beats load-balance.
type upstream struct {
	first, affinityFrom *accepted
}

func (u *upstream) loadBalancer() *model.LoadBalancer {
	switch {
	case u.affinityFrom != nil || u.first.a.hashBy != nil:
		return &model.LoadBalancer{Policy: model.LoadBalancerRingHash}
	case u.first.a.lb == "ewma":
		return &model.LoadBalancer{Policy: model.LoadBalancerLeastRequest}
	}
	return nil
}

// hashPolicies are what a path to the upstream hashes on the HTTP (secure false) or HTTPS
// listeners: the affinity cookie (its path the location's unless session-cookie-path says,
// Secure over HTTPS as ingress-nginx sets it), else upstream-hash-by's variable.
func (u *upstream) hashPolicies(p *gatewayapi.IngressPath, secure bool) []model.HashPolicy {
	if u.affinityFrom == nil {
		if h := u.first.a.hashBy; h != nil {
			return []model.HashPolicy{*h}
		}
		return nil
	}
	af := u.affinityFrom.a.affinity
	path := af.path
	if path == "" {
		// The location's path; a regular expression (regex mode) is no cookie path: "/".
		path = "/"
		if m := p.Match.Path; m != nil && m.Type != model.MatchRegex && m.Value != "" {
			path = m.Value
		}
	}
	c := &model.HashCookie{Name: af.cookie, Generate: true, MaxAge: af.maxAge, Path: path}
	if af.sameSite != "" {
		c.Attributes = append(c.Attributes, model.Header{Name: "SameSite", Value: af.sameSite})
	}
	if secure {
		c.Attributes = append(c.Attributes, model.Header{Name: "Secure"})
	}
	return []model.HashPolicy{{Cookie: c}}
}

// balance gives the paths of the served Ingresses (routes[i] is served[i]'s, oldest first) the
// load balancing of their upstream, and returns Events for the Ingresses whose own load-balance,
// upstream-hash-by or affinity does not apply because another Ingress decides the upstream's.
func balance(routes []gatewayapi.IngressRoute, served []accepted) []Event {
	ups := map[upstreamKey]*upstream{}
	keys := make([][]upstreamKey, len(routes)) // each Ingress's upstreams, in path order
	for i := range routes {
		x := &served[i]
		forPaths(&routes[i], func(p *gatewayapi.IngressPath, _ bool) {
			k := keyOf(x.ing.Namespace, p.Backend)
			u := ups[k]
			if u == nil {
				u = &upstream{first: x}
				ups[k] = u
			}
			if u.affinityFrom == nil && x.a.affinity != nil {
				u.affinityFrom = x
			}
			if !slices.Contains(keys[i], k) {
				keys[i] = append(keys[i], k)
			}
		})
	}
	for i := range routes {
		ir := &routes[i]
		for h := range ir.Hosts {
			host := &ir.Hosts[h]
			if len(host.Plain) > 0 && len(host.Secure) > 0 && &host.Plain[0] == &host.Secure[0] {
				host.Secure = slices.Clone(host.Secure) // the HTTPS paths get a Secure cookie of their own
			}
		}
		forPaths(ir, func(p *gatewayapi.IngressPath, secure bool) {
			u := ups[keyOf(ir.Meta.Namespace, p.Backend)]
			if lb := u.loadBalancer(); lb != nil {
				p.Backend.LoadBalancer = lb
				p.HashPolicies = u.hashPolicies(p, secure)
			}
		})
	}
	var notes []Event
	for i := range routes {
		x := &served[i]
		note := func(n, format string, args ...any) {
			notes = append(notes, Event{x.ing.Namespace, x.ing.Name, ReasonAnnotationIgnored,
				fmt.Sprintf("annotation %s/%s: ", x.c.Prefix(), n) + fmt.Sprintf(format, args...)})
		}
		for _, k := range keys[i] {
			u := ups[k]
			by := func(y *accepted) string { return "Ingress " + y.ing.Namespace + "/" + y.ing.Name }
			if u.first != x {
				if x.a.lb != "" && x.a.lb != cmp.Or(u.first.a.lb, "round_robin") {
					note("load-balance", "not applied to upstream %s: %s, the oldest Ingress with a path to it, decides its load balancing (%s)",
						k, by(u.first), cmp.Or(u.first.a.lb, "round_robin"))
				}
				if x.a.hashBy != nil && u.affinityFrom != nil && u.affinityFrom != x {
					note("upstream-hash-by", "not applied to upstream %s: the cookie affinity of %s takes precedence", k, by(u.affinityFrom))
				} else if x.a.hashBy != nil && !sameHash(x.a.hashBy, u.first.a.hashBy) {
					note("upstream-hash-by", "not applied to upstream %s: %s, the oldest Ingress with a path to it, decides what it hashes", k, by(u.first))
				}
			}
			if x.a.affinity != nil && u.affinityFrom != x && *x.a.affinity != *u.affinityFrom.a.affinity {
				note("affinity", "these session-cookie settings are not applied to upstream %s: those of %s, the oldest Ingress that sets affinity on it, are",
					k, by(u.affinityFrom))
			}
			if u.first == x && u.affinityFrom != nil && x.a.hashBy != nil {
				note("upstream-hash-by", "not applied to upstream %s: the cookie affinity of %s takes precedence", k, by(u.affinityFrom))
			}
			if u.first == x && x.a.lb == "ewma" && (u.affinityFrom != nil || x.a.hashBy != nil) {
				note("load-balance", "ewma is not applied to upstream %s: its affinity or upstream-hash-by takes precedence", k)
			}
		}
	}
	return notes
}

// forPaths calls f with each path of ir that forwards to a backend.
func forPaths(ir *gatewayapi.IngressRoute, f func(p *gatewayapi.IngressPath, secure bool)) {
	for h := range ir.Hosts {
		host := &ir.Hosts[h]
		for _, l := range []struct {
			paths  []gatewayapi.IngressPath
			secure bool
		}{{host.Plain, false}, {host.Secure, true}} {
			for j := range l.paths {
				if l.paths[j].Backend != nil {
					f(&l.paths[j], l.secure)
				}
			}
		}
	}
}

func sameHash(a, b *model.HashPolicy) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Header == b.Header && a.SourceIP == b.SourceIP && a.QueryParameter == b.QueryParameter &&
		(a.Cookie == nil) == (b.Cookie == nil) && (a.Cookie == nil || a.Cookie.Name == b.Cookie.Name)
}
