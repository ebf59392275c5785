package translate

import (
	"regexp"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// cookieName is what a cookie name may hold (RFC 6265's token, without the separators).
var cookieName = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_` + "`" + `|~-]+$`)

// cookiePath and cookieValue are what a Set-Cookie attribute's value may hold: no ";" (which
// would start another attribute) and no control character.
var (
	cookiePath  = regexp.MustCompile(`^/[^;\x00-\x1f\x7f]*$`)
	cookieValue = regexp.MustCompile(`^[^;\x00-\x1f\x7f]*$`)
)

// headerName is an HTTP header name (a token), or one of the pseudo-headers a hash may read.
var headerName = regexp.MustCompile(`^(:path|:authority|[A-Za-z0-9!#$%&'*+.^_` + "`" + `|~-]+)$`)

// hashPolicies gives a route the hash policies its model asks for. Envoy reads them only for
// ring-hash (or Maglev) clusters; on a route with another cluster they would be dead
// configuration, so they are left out with a warning, as is a policy with an invalid name.
func (b *builder) hashPolicies(ra *routev3.RouteAction, mr *model.Route, sh []share) {
	if len(mr.HashPolicies) == 0 {
		return
	}
	for _, s := range sh {
		if c := b.clusters[s.cluster]; c == nil || c.LoadBalancer == nil || c.LoadBalancer.Policy != model.LoadBalancerRingHash {
			b.routeWarnf(mr.Name, "hash policies need a ring-hash cluster and %s is not one; left out", s.cluster)
			return
		}
	}
	for i := range mr.HashPolicies {
		h := &mr.HashPolicies[i]
		hp := &routev3.RouteAction_HashPolicy{}
		switch {
		case h.Cookie != nil:
			c := h.Cookie
			if !cookieName.MatchString(c.Name) || c.Path != "" && !cookiePath.MatchString(c.Path) || c.MaxAge < 0 {
				b.routeWarnf(mr.Name, "hash cookie %q (path %q, max age %d) is invalid; left out", c.Name, c.Path, c.MaxAge)
				continue
			}
			ck := &routev3.RouteAction_HashPolicy_Cookie{Name: c.Name, Path: c.Path}
			if c.Generate {
				ck.Ttl = durationpb.New(time.Duration(min(c.MaxAge, maxCookieAge)) * time.Second)
			}
			for _, a := range c.Attributes {
				if !cookieName.MatchString(a.Name) || !cookieValue.MatchString(a.Value) {
					b.routeWarnf(mr.Name, "hash cookie %s: attribute %q is invalid; left out", c.Name, a.Name)
					continue
				}
				ck.Attributes = append(ck.Attributes, &routev3.RouteAction_HashPolicy_CookieAttribute{Name: a.Name, Value: a.Value})
			}
			hp.PolicySpecifier = &routev3.RouteAction_HashPolicy_Cookie_{Cookie: ck}
		case h.Header != "":
			if !headerName.MatchString(h.Header) {
				b.routeWarnf(mr.Name, "hash header %q is invalid; left out", h.Header)
				continue
			}
			hp.PolicySpecifier = &routev3.RouteAction_HashPolicy_Header_{Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: h.Header}}
		case h.SourceIP:
			hp.PolicySpecifier = &routev3.RouteAction_HashPolicy_ConnectionProperties_{
				ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true}}
		case h.QueryParameter != "":
			if !safe(h.QueryParameter) || len(h.QueryParameter) > maxQueryNameBytes {
				b.routeWarnf(mr.Name, "hash query parameter %q is invalid; left out", h.QueryParameter)
				continue
			}
			hp.PolicySpecifier = &routev3.RouteAction_HashPolicy_QueryParameter_{
				QueryParameter: &routev3.RouteAction_HashPolicy_QueryParameter{Name: h.QueryParameter}}
		default:
			b.routeWarnf(mr.Name, "hash policy %d names nothing to hash; left out", i)
			continue
		}
		ra.HashPolicy = append(ra.HashPolicy, hp)
	}
}

// maxCookieAge bounds a generated cookie's lifetime (seconds), within what a protobuf Duration
// holds: ten years.
const maxCookieAge = 10 * 365 * 24 * 3600
