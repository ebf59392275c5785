package explain

import (
	"fmt"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// balancing explains how the route's clusters pick an endpoint when it is not round robin, and
// what the route's hash policies hash (an Ingress's affinity, upstream-hash-by, load-balance).
func (e *explainer) balancing(ra *routev3.RouteAction, shares []share) {
	for _, s := range shares {
		c := e.clusters[s.cluster]
		switch c.GetLbPolicy() {
		case clusterv3.Cluster_RING_HASH, clusterv3.Cluster_MAGLEV:
			e.op("load-balancer", s.cluster+": consistent hash ("+strings.ToLower(c.GetLbPolicy().String())+
				") over the route's hash policies: requests that hash alike go to the same endpoint while it stays")
		case clusterv3.Cluster_LEAST_REQUEST:
			e.op("load-balancer", s.cluster+": least request (of two endpoints picked at random, the one with fewer active requests)")
		}
	}
	for _, hp := range ra.GetHashPolicy() {
		e.op("hash", e.hashPolicy(hp))
	}
}

func (e *explainer) hashPolicy(hp *routev3.RouteAction_HashPolicy) string {
	switch p := hp.GetPolicySpecifier().(type) {
	case *routev3.RouteAction_HashPolicy_Header_:
		v, ok := e.header(p.Header.GetHeaderName())
		switch name := p.Header.GetHeaderName(); {
		case name == ":path":
			return "the path with its query (" + e.req.Path + query(e.req.Query) + ")"
		case name == ":authority":
			return "the host (" + e.req.Authority + ")"
		case ok:
			return fmt.Sprintf("header %s (%q)", name, v)
		default:
			return "header " + name + " (absent: a random endpoint)"
		}
	case *routev3.RouteAction_HashPolicy_Cookie_:
		c := p.Cookie
		v, ok := e.cookie(c.GetName())
		d := "cookie " + c.GetName()
		switch {
		case ok:
			d += fmt.Sprintf(" (%q: the endpoint it names)", v)
		case c.GetTtl() != nil:
			d += " (absent: Envoy picks an endpoint and sets " + setCookie(c) + ")"
		default:
			d += " (absent: a random endpoint)"
		}
		return d
	case *routev3.RouteAction_HashPolicy_ConnectionProperties_:
		return "the client's source IP address"
	case *routev3.RouteAction_HashPolicy_QueryParameter_:
		name := p.QueryParameter.GetName()
		for _, kv := range strings.Split(e.req.Query, "&") {
			if k, v, _ := strings.Cut(kv, "="); k == name {
				return fmt.Sprintf("query parameter %s (%q)", name, v)
			}
		}
		return "query parameter " + name + " (absent: a random endpoint)"
	}
	return fmt.Sprintf("%T (not explained by this tool)", hp.GetPolicySpecifier())
}

// setCookie is the Set-Cookie Envoy sends for a hash cookie it generates.
func setCookie(c *routev3.RouteAction_HashPolicy_Cookie) string {
	s := c.GetName() + "=<endpoint>"
	if t := c.GetTtl().AsDuration(); t > 0 {
		s += fmt.Sprintf("; Max-Age=%d", int64(t.Seconds()))
	}
	if p := c.GetPath(); p != "" {
		s += "; Path=" + p
	}
	s += "; HttpOnly"
	for _, a := range c.GetAttributes() {
		s += "; " + a.GetName()
		if a.GetValue() != "" {
			s += "=" + a.GetValue()
		}
	}
	return s
}

// cookie is the value of a request cookie.
func (e *explainer) cookie(name string) (string, bool) {
	v, ok := e.header("cookie")
	if !ok {
		return "", false
	}
	for _, kv := range strings.Split(v, ";") {
		if k, val, _ := strings.Cut(strings.TrimSpace(kv), "="); k == name {
			return val, true
		}
	}
	return "", false
}

func query(q string) string {
	if q == "" {
		return ""
	}
	return "?" + q
}
