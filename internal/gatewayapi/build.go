package gatewayapi

import (
	"cmp"
	"fmt"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"slices"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// build assembles the fleet model from the listeners that carry traffic and their routes.
func (r *resolver) build() model.Fleet {
	f := model.Fleet{Key: provisioner.FleetKey(r.gw), TrustedForwardedHops: r.in.TrustedForwardedHops}
	groups := map[portKey][]*listener{}
	var keys []portKey
	for _, l := range r.listeners {
		if !l.ready {
			continue
		}
		k := portOf(l)
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], l)
	}
	secrets := map[string]bool{}
	for _, k := range keys {
		ls := groups[k]
		indexPort(ls)
		ml := model.Listener{Port: k.port}
		for _, l := range ls {
			ml.Sources = append(ml.Sources, l.source)
		}
		slices.Sort(ml.Sources)
		switch protocolFamily(ls[0].protocol) {
		case "tls":
			ml.Protocol = model.ProtocolHTTPS
			for _, l := range ls {
				if l.protocol == gwapiv1.TLSProtocolType {
					ml.Protocol = model.ProtocolTLS
				}
				chains := r.chains(l, ls, secrets)
				if cv := l.clientValidation(); cv != nil {
					// Every terminating chain of an HTTPS listener, an Ingress's SNI chains too.
					for i := range chains {
						if chains[i].TLS != nil {
							chains[i].TLS = &model.TLSTermination{CertificateSecrets: chains[i].TLS.CertificateSecrets, ClientValidation: cv}
						}
					}
				}
				ml.FilterChains = append(ml.FilterChains, chains...)
				if ml.Protocol == model.ProtocolHTTPS && slices.ContainsFunc(ml.FilterChains, func(c model.FilterChain) bool { return c.TLS == nil }) {
					ml.Protocol = model.ProtocolTLS // an Ingress's ssl-passthrough chain shares the port
				}
				if l.terminates {
					for _, c := range l.certs {
						secrets[c] = true
					}
				}
			}
			slices.SortFunc(ml.FilterChains, func(a, b model.FilterChain) int { return cmp.Compare(a.Name, b.Name) })
		case string(gwapiv1.HTTPProtocolType):
			ml.Protocol = model.ProtocolHTTP
			ml.VirtualHosts = r.virtualHosts(ls, ls)
		default:
			ml.Protocol = model.Protocol(ls[0].protocol)
			if len(ls[0].routes) > 0 {
				// The oldest route wins a TCP or UDP port; the others stay attached but unused.
				ml.Backends = ls[0].routes[0].route.backends
			}
		}
		ml.Name = fmt.Sprintf("%s-%d", strings.ToLower(string(ml.Protocol)), ml.Port)
		f.Listeners = append(f.Listeners, ml)
	}
	slices.SortFunc(f.Listeners, func(a, b model.Listener) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Protocol, b.Protocol))
	})
	f.Clusters = r.usedClusters(f)
	f.TrustBundles = r.upstreamTLSResources(f.Clusters, secrets)
	if r.frontends != nil {
		f.TrustBundles = append(f.TrustBundles, frontendBundles(&f, r)...)
		slices.SortFunc(f.TrustBundles, func(a, b model.TrustBundle) int { return cmp.Compare(a.Name, b.Name) })
	}
	for s := range secrets {
		ns, name, _ := strings.Cut(s, "/")
		f.Secrets = append(f.Secrets, model.Secret{Name: s, Namespace: ns, Secret: name})
	}
	slices.SortFunc(f.Secrets, func(a, b model.Secret) int { return cmp.Compare(a.Name, b.Name) })
	return f
}

// chains are the filter chains of one HTTPS or TLS listener. An HTTPS listener is one chain with
// its hostname as SNI; a TLS listener has one chain per route, each with the SNI names it wins
// (the oldest route wins a name shared by several routes).
func (r *resolver) chains(l *listener, port []*listener, secrets map[string]bool) []model.FilterChain {
	var tlsTerm *model.TLSTermination
	if l.terminates {
		tlsTerm = &model.TLSTermination{CertificateSecrets: slices.Clone(l.certs)}
	}
	if l.protocol == gwapiv1.HTTPSProtocolType {
		c := model.FilterChain{Name: l.source, TLS: tlsTerm, VirtualHosts: r.virtualHosts([]*listener{l}, port)}
		if l.hostname != "" {
			c.ServerNames = []string{l.hostname}
		}
		if len(r.in.Ingresses) > 0 && l.terminates {
			out := append([]model.FilterChain{c}, r.ingressCertificates(l, port, c.VirtualHosts, secrets)...)
			return append(out, ingressPassthrough(l, port)...)
		}
		return []model.FilterChain{c}
	}
	var out []model.FilterChain
	claimed := map[string]bool{}
	for _, a := range l.routes {
		c := model.FilterChain{Name: l.source + "/" + a.route.id(), TLS: tlsTerm, Backends: a.route.backends}
		if !l.terminates && a.route.passthrough != nil {
			c.Backends = a.route.passthrough
		}
		won := false
		for _, h := range a.hostnames {
			if claimed[h] || owner(port, domain(h)) != l {
				continue
			}
			claimed[h], won = true, true
			if h != "" {
				c.ServerNames = append(c.ServerNames, h)
			}
		}
		if won {
			slices.Sort(c.ServerNames)
			out = append(out, c)
		}
	}
	return out
}

// backendClusters calls use with each cluster of b (nil: none): the backends' and their mirrors'.
func backendClusters(b *model.Backends, use func(string)) {
	if b == nil {
		return
	}
	for _, c := range b.Clusters {
		use(c.Cluster)
		for _, fl := range c.Filters {
			if fl.Mirror != nil {
				use(fl.Mirror.Cluster)
			}
		}
	}
}

// routeClusters calls use with each cluster rt refers to besides its Backends' (backendClusters):
// its mirrors' and its protections' (external authorization, error pages).
func routeClusters(rt *model.Route, use func(string)) {
	for _, fl := range rt.Filters {
		if fl.Mirror != nil {
			use(fl.Mirror.Cluster)
		}
	}
	if p := rt.Protections; p != nil && p.ExtAuth != nil {
		use(p.ExtAuth.Cluster)
	}
	if p := rt.Protections; p != nil && p.ErrorPages != nil {
		use(p.ErrorPages.Cluster)
	}
}

// usedClusters are the resolved clusters the model refers to, sorted by name.
func (r *resolver) usedClusters(f model.Fleet) []model.Cluster {
	used, n := make([]bool, len(r.clusters)), 0
	var use func(name string)
	use = func(name string) {
		if i, ok := r.clusterIndex[name]; ok && !used[i] {
			used[i] = true
			n++
			if p := r.clusters[i].EndpointPicker; p != nil { // a pool's cluster needs its picker's
				use(p.Cluster)
			}
		}
	}
	var last *model.Backends // routes of a rule share their Backends
	backends := func(b *model.Backends) {
		if b != last {
			last = b
			backendClusters(b, use)
		}
	}
	vhosts := func(vs []model.VirtualHost) {
		for _, v := range vs {
			for i := range v.Routes {
				backends(v.Routes[i].Backends)
				routeClusters(&v.Routes[i], use)
			}
		}
	}
	for _, l := range f.Listeners {
		backends(l.Backends)
		vhosts(l.VirtualHosts)
		for _, c := range l.FilterChains {
			backends(c.Backends)
			vhosts(c.VirtualHosts)
		}
	}
	out := r.clusters[:0:n] // filtered in place: the resolver needs them no more
	for i, u := range used {
		if u {
			out = append(out, r.clusters[i])
		}
	}
	slices.SortFunc(out, func(a, b model.Cluster) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
