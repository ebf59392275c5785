package explain

import (
	"crypto/sha1" //nolint:gosec // Envoy's basic_auth checks {SHA} htpasswd entries; explain checks them the same way
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	basicauthv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/basic_auth/v3"
	customresponsev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/custom_response/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	localratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	rbacfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	localresponsev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/custom_response/local_response_policy/v3"
	redirectpolicyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/custom_response/redirect_policy/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/flotilla-dev/flotilla/internal/xds/translate"
)

// protections explains the route's protection filters in the connection manager's order (error
// pages, access rules, basic authentication, external authorization, rate limit, body size) and
// stops the request where one answers it: 403 when the client address (Request.Client) is not
// allowed, 401 when basic authentication gets no or wrong credentials. A route's filter runs only
// when its typed_per_filter_config enables it: every protection filter is disabled in the chain.
func (e *explainer) protections(r *routev3.Route, hcm *hcmv3.HttpConnectionManager) (stopped bool, err error) {
	per := r.GetTypedPerFilterConfig()
	for _, f := range hcm.GetHttpFilters() {
		name := f.GetName()
		cfg, ok := per[name]
		if !ok {
			continue
		}
		if fc := new(routev3.FilterConfig); cfg.MessageIs(fc) {
			if err := unpack(cfg, fc); err != nil {
				return false, err
			}
			if fc.GetDisabled() {
				continue
			}
			cfg = nil // enabled with the chain's own configuration
		}
		var stop bool
		switch {
		case name == translate.NameCustomResponse:
			err = e.errorPages(cfg)
		case name == translate.NameRBAC:
			stop, err = e.access(cfg)
		case strings.HasPrefix(name, translate.NameBasicAuth):
			stop, err = e.basicAuth(cfg)
		case name == translate.NameExtAuthz || name == translate.NameExtAuthzOpen:
			err = e.extAuthz(cfg, name == translate.NameExtAuthzOpen)
		case name == translate.NameLocalRateLimit:
			err = e.rateLimit(cfg)
		case strings.HasPrefix(name, translate.NameBodySizeLimit+"."):
			e.op("body-size", fmt.Sprintf("request bodies over %s bytes are answered 413", strings.TrimPrefix(name, translate.NameBodySizeLimit+".")))
		}
		if err != nil || stop {
			return stop, err
		}
	}
	return false, nil
}

func (e *explainer) errorPages(cfg *anypb.Any) error {
	cr := &customresponsev3.CustomResponse{}
	if err := unpack(cfg, cr); err != nil {
		return err
	}
	for _, m := range cr.GetCustomResponseMatcher().GetMatcherList().GetMatchers() {
		act := m.GetOnMatch().GetAction()
		switch name := act.GetName(); {
		case name == "sign-in":
			lr := &localresponsev3.LocalResponsePolicy{}
			if err := unpack(act.GetTypedConfig(), lr); err != nil {
				return err
			}
			loc := ""
			for _, h := range lr.GetResponseHeadersToAdd() {
				if strings.EqualFold(h.GetHeader().GetKey(), "location") {
					loc = h.GetHeader().GetValue()
				}
			}
			e.op("sign-in", fmt.Sprintf("a 401 from the authorization service becomes a %d to %s", lr.GetStatusCode().GetValue(), loc))
		case strings.HasPrefix(name, "error-page-"):
			rp := &redirectpolicyv3.RedirectPolicy{}
			if err := unpack(act.GetTypedConfig(), rp); err != nil {
				return err
			}
			which := "a %s response"
			if m.GetPredicate().GetAndMatcher() != nil { // status and "Envoy made it" (translate's statusPredicate)
				which = "a %s Envoy answers itself (no endpoints, timeouts...)"
			}
			code := strings.TrimPrefix(name, "error-page-")
			e.op("error-page", fmt.Sprintf(which+" is answered by %s (X-Code: %s)", code, rp.GetUri(), code))
		}
	}
	return nil
}

// access evaluates the route's RBAC: its rules with the client address when one is given, and
// its shadow rules (the rate limit's exemptions).
func (e *explainer) access(cfg *anypb.Any) (bool, error) {
	pr := &rbacfilterv3.RBACPerRoute{}
	if err := unpack(cfg, pr); err != nil {
		return false, err
	}
	rules := pr.GetRbac().GetRules()
	client, err := e.clientAddr()
	if err != nil {
		return false, err
	}
	if rules != nil {
		var allowed []string
		match := false
		for _, name := range slices.Sorted(maps.Keys(rules.GetPolicies())) {
			for _, p := range rules.GetPolicies()[name].GetPrincipals() {
				allowed = append(allowed, describePrincipal(p))
				if client.IsValid() && principalMatches(p, client) {
					match = true
				}
			}
		}
		if rules.GetAction() == rbacv3.RBAC_DENY {
			match = !match
		}
		who := strings.Join(allowed, " or ")
		switch {
		case !client.IsValid():
			e.op("access", "only clients with "+who+" are allowed, others get 403 (give the client address to evaluate)")
		case !match:
			e.op("access", fmt.Sprintf("client %s is not allowed (%s)", client, who))
			e.stop(ActionDirectResponse, 403, "403 answered by Envoy (access denied)", fmt.Sprintf("the route allows only clients with %s", who))
			return true, nil
		default:
			e.op("access", fmt.Sprintf("client %s is allowed (%s)", client, who))
		}
	}
	if sh := pr.GetRbac().GetShadowRules(); sh != nil {
		for _, name := range slices.Sorted(maps.Keys(sh.GetPolicies())) {
			for _, p := range sh.GetPolicies()[name].GetPrincipals() {
				d := "clients with " + describePrincipal(p) + " are exempt from the rate limit"
				if client.IsValid() {
					if principalMatches(p, client) {
						d += fmt.Sprintf(": %s is", client)
					} else {
						d += fmt.Sprintf(": %s is not", client)
					}
				}
				e.op("rate-limit-exemption", d)
			}
		}
	}
	return false, nil
}

func (e *explainer) clientAddr() (netip.Addr, error) {
	if e.req.Client == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(e.req.Client)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("client address %q is not an IP address", e.req.Client)
	}
	return a.Unmap(), nil
}

func describePrincipal(p *rbacv3.Principal) string {
	join := func(ids []*rbacv3.Principal, sep string) string {
		parts := make([]string, 0, len(ids))
		for _, id := range ids {
			parts = append(parts, describePrincipal(id))
		}
		return strings.Join(parts, sep)
	}
	switch id := p.GetIdentifier().(type) {
	case *rbacv3.Principal_Any:
		return "any address"
	case *rbacv3.Principal_RemoteIp:
		return "client address in " + cidr(id.RemoteIp.GetAddressPrefix(), id.RemoteIp.GetPrefixLen().GetValue())
	case *rbacv3.Principal_DirectRemoteIp:
		return "peer address in " + cidr(id.DirectRemoteIp.GetAddressPrefix(), id.DirectRemoteIp.GetPrefixLen().GetValue())
	case *rbacv3.Principal_OrIds:
		return "(" + join(id.OrIds.GetIds(), " or ") + ")"
	case *rbacv3.Principal_AndIds:
		return join(id.AndIds.GetIds(), " and ")
	case *rbacv3.Principal_NotId:
		return "not " + describePrincipal(id.NotId)
	default:
		return fmt.Sprintf("%T (not explained by this tool)", id)
	}
}

// principalMatches evaluates the principals Flotilla writes. explain takes one client address
// for both the derived client address (remote_ip) and the peer (direct_remote_ip).
func principalMatches(p *rbacv3.Principal, a netip.Addr) bool {
	in := func(prefix string, bits uint32) bool {
		pfx, err := netip.ParsePrefix(cidr(prefix, bits))
		return err == nil && pfx.Contains(a)
	}
	switch id := p.GetIdentifier().(type) {
	case *rbacv3.Principal_Any:
		return true
	case *rbacv3.Principal_RemoteIp:
		return in(id.RemoteIp.GetAddressPrefix(), id.RemoteIp.GetPrefixLen().GetValue())
	case *rbacv3.Principal_DirectRemoteIp:
		return in(id.DirectRemoteIp.GetAddressPrefix(), id.DirectRemoteIp.GetPrefixLen().GetValue())
	case *rbacv3.Principal_OrIds:
		for _, x := range id.OrIds.GetIds() {
			if principalMatches(x, a) {
				return true
			}
		}
		return false
	case *rbacv3.Principal_AndIds:
		for _, x := range id.AndIds.GetIds() {
			if !principalMatches(x, a) {
				return false
			}
		}
		return true
	case *rbacv3.Principal_NotId:
		return !principalMatches(id.NotId, a)
	}
	return false
}

func cidr(prefix string, bits uint32) string { return fmt.Sprintf("%s/%d", prefix, bits) }

// basicAuth checks the request's Authorization header against the route's users as Envoy does
// ({SHA} entries): none or wrong credentials get 401.
func (e *explainer) basicAuth(cfg *anypb.Any) (bool, error) {
	pr := &basicauthv3.BasicAuthPerRoute{}
	if err := unpack(cfg, pr); err != nil {
		return false, err
	}
	users := map[string]string{}
	for _, line := range strings.Split(pr.GetUsers().GetInlineString(), "\n") {
		if u, h, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			users[u] = h
		}
	}
	var auth string
	for _, h := range e.req.Headers {
		if h.Name == "authorization" {
			auth = h.Value
		}
	}
	deny := func(why string) (bool, error) {
		e.op("basic-auth", fmt.Sprintf("%d users may pass; %s", len(users), why))
		e.stop(ActionDirectResponse, 401, "401 answered by Envoy (authentication required)", why)
		return true, nil
	}
	if auth == "" {
		return deny("the request has no Authorization header")
	}
	scheme, cred, _ := strings.Cut(auth, " ")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if !strings.EqualFold(scheme, "basic") || err != nil {
		return deny("the Authorization header is not Basic credentials")
	}
	user, pass, _ := strings.Cut(string(raw), ":")
	want, ok := users[user]
	sum := sha1.Sum([]byte(pass)) //nolint:gosec // see the import
	got := "{SHA}" + base64.StdEncoding.EncodeToString(sum[:])
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return deny(fmt.Sprintf("user %q or its password is not accepted", user))
	}
	e.op("basic-auth", fmt.Sprintf("user %q is accepted; the Authorization header is not forwarded", user))
	return false, nil
}

func (e *explainer) extAuthz(cfg *anypb.Any, failOpen bool) error {
	pr := &extauthzv3.ExtAuthzPerRoute{}
	if err := unpack(cfg, pr); err != nil {
		return err
	}
	unreachable := "an unreachable service means 403 (fails closed)"
	if failOpen {
		unreachable = "an unreachable service lets the request through (fails open)"
	}
	cs := pr.GetCheckSettings()
	if hs := cs.GetHttpService(); hs != nil {
		path := hs.GetPathPrefix() + e.req.Path
		if hs.GetPathOverride() != "" {
			path = hs.GetPathOverride()
		}
		d := fmt.Sprintf("checked first by %s with %s %s", hs.GetServerUri().GetCluster(), e.req.Method, path)
		if up := hs.GetAuthorizationResponse().GetAllowedUpstreamHeaders().GetPatterns(); len(up) > 0 {
			names := make([]string, 0, len(up))
			for _, p := range up {
				names = append(names, p.GetExact())
			}
			d += "; its " + strings.Join(names, ", ") + " headers are forwarded"
		}
		e.op("ext-authz", d+"; a 2xx lets the request through, any other answer is returned to the client; "+unreachable)
		return nil
	}
	if gs := cs.GetGrpcService(); gs != nil {
		e.op("ext-authz", fmt.Sprintf("checked first by the gRPC authorization service %s; a denial is returned to the client; %s",
			gs.GetEnvoyGrpc().GetClusterName(), unreachable))
		return nil
	}
	e.op("ext-authz", "checked first by the connection manager's authorization service; "+unreachable)
	return nil
}

func (e *explainer) rateLimit(cfg *anypb.Any) error {
	rl := &localratelimitv3.LocalRateLimit{}
	if err := unpack(cfg, rl); err != nil {
		return err
	}
	status := rl.GetStatus().GetCode()
	if status == 0 {
		status = 429
	}
	scope := "for the route"
	if rl.GetMaxDynamicDescriptors() != nil {
		scope = "per client address"
	}
	for _, d := range rl.GetDescriptors() {
		tb := d.GetTokenBucket()
		e.op("rate-limit", fmt.Sprintf("%d requests per %s %s (bursts up to %d), then %d; per Envoy replica",
			tb.GetTokensPerFill().GetValue(), tb.GetFillInterval().AsDuration(), scope, tb.GetMaxTokens(), status))
	}
	return nil
}
