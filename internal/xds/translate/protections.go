package translate

import (
	"fmt"
	"hash/fnv"
	"math"
	"net/netip"
	"strconv"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	basicauthv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/basic_auth/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	localratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	rbacfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	metadatav3 "github.com/envoyproxy/go-control-plane/envoy/type/metadata/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// Names of the protection filters in an HTTP connection manager, which holds each only when
// some route uses it, disabled but for the routes whose typed_per_filter_config enables it, in
// this order (after CORS): custom_response (it rewrites the local replies of the filters after
// it), rbac, basic_auth (one per realm), ext_authz (failing closed, then open), local_ratelimit,
// body_size_limit (one per limit), then ext_proc and the router.
const (
	NameCustomResponse  = "envoy.filters.http.custom_response"
	NameRBAC            = "envoy.filters.http.rbac"
	NameBasicAuth       = "envoy.filters.http.basic_auth"
	NameExtAuthz        = "envoy.filters.http.ext_authz"
	NameExtAuthzOpen    = "envoy.filters.http.ext_authz.fail_open"
	NameLocalRateLimit  = "envoy.filters.http.local_ratelimit"
	NameBodySizeLimit   = "envoy.filters.http.body_size_limit"
	rateLimitExemptKey  = "exempt"
	rbacMetadataNS      = "envoy.filters.http.rbac"
	rbacShadowResult    = "shadow_engine_result"
	rbacShadowDenied    = "denied"
	clientAccessPolicy  = "client-access"
	rateLimitExemptRule = "rate-limit-exempt"
	// maxClientBuckets bounds the per-client buckets one route keeps per Envoy (least recently
	// used client addresses are forgotten first).
	maxClientBuckets = 4096
)

// BasicAuthFilterName is the name of the basic_auth filter of a realm: each realm is a filter
// of its own, since Envoy takes the realm from the filter, not the route.
func BasicAuthFilterName(realm string) string {
	if realm == "" {
		return NameBasicAuth
	}
	h := fnv.New32a()
	h.Write([]byte(realm))
	return fmt.Sprintf("%s.realm-%08x", NameBasicAuth, h.Sum32())
}

// BodySizeLimitFilterName is the name of the body_size_limit filter of one limit: Envoy's
// filter has no per-route configuration, so each limit is a filter that routes enable.
func BodySizeLimitFilterName(bytes uint64) string {
	return NameBodySizeLimit + "." + strconv.FormatUint(bytes, 10)
}

// protectionNeeds are the protection filters the routes of one route configuration use.
type protectionNeeds struct {
	customResponse, rbac, rateLimit bool
	realms                          map[string]string // filter name → realm
	errorPages                      map[string]bool   // clusters that serve error pages
	extAuthz, extAuthzOpen          *extauthzv3.HttpService
	extAuthzGRPC, extAuthzOpenGRPC  *corev3.GrpcService
	bodyLimits                      map[uint64]bool
}

// protect puts a route's protections on its Envoy route: the per-route configurations that
// enable the filters, and the removal of the Authorization header basic auth consumed. fail says
// the protections cannot be honoured (the route then answers 500, never forwards unprotected).
func (b *builder) protect(ctx *routeCtx, rt *routev3.Route, p *model.Protections) (fail string, err error) {
	if p == nil {
		return "", nil
	}
	if p.Invalid != "" {
		return "protections are invalid: " + p.Invalid, nil
	}
	put := func(name string, a *anypb.Any) {
		rt.TypedPerFilterConfig = withFilterConfig(rt.TypedPerFilterConfig, name, a)
	}
	if p.Access != nil || (p.RateLimit != nil && len(p.RateLimit.Exempt) > 0) {
		a, fail, err := b.rbacPerRoute(p)
		if fail != "" || err != nil {
			return fail, err
		}
		put(NameRBAC, a)
		ctx.rbac = true
	}
	if ba := p.BasicAuth; ba != nil {
		a, err := pack(&basicauthv3.BasicAuthPerRoute{Users: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: ba.Users}}})
		if err != nil {
			return "", err
		}
		name := BasicAuthFilterName(ba.Realm)
		put(name, a)
		if ctx.realms == nil {
			ctx.realms = map[string]string{}
		}
		ctx.realms[name] = ba.Realm
		rt.RequestHeadersToRemove = append(rt.RequestHeadersToRemove, "authorization")
	}
	if ea := p.ExtAuth; ea != nil {
		fail, err := b.extAuth(ctx, put, ea)
		if fail != "" || err != nil {
			return fail, err
		}
	}
	if rl := p.RateLimit; rl != nil {
		a, err := pack(rateLimitConfig(rl))
		if err != nil {
			return "", err
		}
		put(NameLocalRateLimit, a)
		ctx.rateLimit = true
	}
	if signIn, ep := signInOf(p), p.ErrorPages; signIn != "" || ep != nil {
		if ep != nil && b.cluster(ep.Cluster) == nil {
			return fmt.Sprintf("the error pages' cluster %s is not in the fleet", ep.Cluster), nil
		}
		a, err := b.customResponse(signIn, ep)
		if err != nil {
			return "", err
		}
		put(NameCustomResponse, a)
		ctx.customResponse = true
		if ep != nil {
			if ctx.errorPages == nil {
				ctx.errorPages = map[string]bool{}
			}
			ctx.errorPages[ep.Cluster] = true
		}
	}
	if n := p.MaxRequestBytes; n > 0 {
		put(BodySizeLimitFilterName(n), b.enableFilter())
		if ctx.bodyLimits == nil {
			ctx.bodyLimits = map[uint64]bool{}
		}
		ctx.bodyLimits[n] = true
	}
	return "", nil
}

// enableFilter is the per-route configuration that enables a disabled filter with its listener
// configuration: a FilterConfig whose config is an empty Any.
func (b *builder) enableFilter() *anypb.Any {
	if b.enabled == nil {
		b.enabled, _ = anypb.New(&routev3.FilterConfig{Config: &anypb.Any{}})
	}
	return b.enabled
}

// rbacPerRoute is the RBAC of a route: the client access policy (deny first, then allow), and,
// for a rate limit with exemptions, shadow rules that mark exempt clients in the dynamic
// metadata the rate limit reads.
func (b *builder) rbacPerRoute(p *model.Protections) (*anypb.Any, string, error) {
	key := rbacKey{p.Access, nil}
	if p.RateLimit != nil {
		key.limit = p.RateLimit
	}
	if a, ok := b.rbacs[key]; ok {
		return a, "", nil
	}
	rbac := &rbacfilterv3.RBAC{}
	if ac := p.Access; ac != nil {
		var ids []*rbacv3.Principal
		if len(ac.Allow) > 0 {
			allow, fail := ipPrincipals(ac.Allow, ac.Peer)
			if fail != "" {
				return nil, fail, nil
			}
			ids = append(ids, allow)
		}
		if len(ac.Deny) > 0 {
			deny, fail := ipPrincipals(ac.Deny, ac.Peer)
			if fail != "" {
				return nil, fail, nil
			}
			ids = append(ids, &rbacv3.Principal{Identifier: &rbacv3.Principal_NotId{NotId: deny}})
		}
		principal := ids[0]
		if len(ids) > 1 {
			principal = &rbacv3.Principal{Identifier: &rbacv3.Principal_AndIds{AndIds: &rbacv3.Principal_Set{Ids: ids}}}
		}
		rbac.Rules = &rbacv3.RBAC{Action: rbacv3.RBAC_ALLOW, Policies: map[string]*rbacv3.Policy{clientAccessPolicy: {
			Permissions: []*rbacv3.Permission{{Rule: &rbacv3.Permission_Any{Any: true}}},
			Principals:  []*rbacv3.Principal{principal},
		}}}
	}
	if rl := p.RateLimit; rl != nil && len(rl.Exempt) > 0 {
		exempt, fail := ipPrincipals(rl.Exempt, false)
		if fail != "" {
			return nil, fail, nil
		}
		rbac.ShadowRules = &rbacv3.RBAC{Action: rbacv3.RBAC_ALLOW, Policies: map[string]*rbacv3.Policy{rateLimitExemptRule: {
			Permissions: []*rbacv3.Permission{{Rule: &rbacv3.Permission_Any{Any: true}}},
			Principals:  []*rbacv3.Principal{exempt},
		}}}
	}
	a, err := pack(&rbacfilterv3.RBACPerRoute{Rbac: rbac})
	if err != nil {
		return nil, "", err
	}
	if b.rbacs == nil {
		b.rbacs = map[rbacKey]*anypb.Any{}
	}
	b.rbacs[key] = a
	return a, "", nil
}

type rbacKey struct {
	access *model.AccessControl
	limit  *model.RateLimit
}

// ipPrincipals is a principal matching any of the CIDRs: the client address the connection
// manager derived (remote_ip), or the peer's (direct_remote_ip).
func ipPrincipals(cidrs []string, peer bool) (*rbacv3.Principal, string) {
	ids := make([]*rbacv3.Principal, 0, len(cidrs))
	for _, c := range cidrs {
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Sprintf("address range %q is not a CIDR", c)
		}
		r := &corev3.CidrRange{AddressPrefix: pfx.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(pfx.Bits()))}
		if peer {
			ids = append(ids, &rbacv3.Principal{Identifier: &rbacv3.Principal_DirectRemoteIp{DirectRemoteIp: r}})
		} else {
			ids = append(ids, &rbacv3.Principal{Identifier: &rbacv3.Principal_RemoteIp{RemoteIp: r}})
		}
	}
	if len(ids) == 1 {
		return ids[0], ""
	}
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_OrIds{OrIds: &rbacv3.Principal_Set{Ids: ids}}}, ""
}

// rateLimitConfig is a route's local rate limit. Each bucket is a descriptor of its own (a
// generic key naming it, then the client address when per client: a wildcard, so each address
// gets its bucket); with exemptions, the descriptors also carry the RBAC shadow result, which is
// "denied" for every client not exempt (and when the RBAC filter did not run), so exempt
// clients match no descriptor and take the default bucket, which never runs out.
func rateLimitConfig(rl *model.RateLimit) *localratelimitv3.LocalRateLimit {
	all := &typev3.FractionalPercent{Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED}
	unlimited := &typev3.TokenBucket{MaxTokens: math.MaxUint32, TokensPerFill: wrapperspb.UInt32(math.MaxUint32), FillInterval: durationpb.New(time.Second)}
	out := &localratelimitv3.LocalRateLimit{
		StatPrefix:                      "rate_limit",
		Status:                          &typev3.HttpStatus{Code: typev3.StatusCode(rl.StatusCode)},
		TokenBucket:                     unlimited,
		FilterEnabled:                   &corev3.RuntimeFractionalPercent{DefaultValue: all},
		FilterEnforced:                  &corev3.RuntimeFractionalPercent{DefaultValue: all},
		AlwaysConsumeDefaultTokenBucket: wrapperspb.Bool(false),
	}
	if rl.PerClient {
		out.MaxDynamicDescriptors = wrapperspb.UInt32(maxClientBuckets)
	}
	for i, bk := range rl.Buckets {
		id := fmt.Sprintf("bucket-%d", i)
		actions := []*routev3.RateLimit_Action{{ActionSpecifier: &routev3.RateLimit_Action_GenericKey_{GenericKey: &routev3.RateLimit_Action_GenericKey{DescriptorValue: id}}}}
		desc := []*ratelimitv3.RateLimitDescriptor_Entry{{Key: "generic_key", Value: id}}
		if len(rl.Exempt) > 0 {
			actions = append(actions, &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_Metadata{Metadata: &routev3.RateLimit_Action_MetaData{
				DescriptorKey: rateLimitExemptKey,
				MetadataKey:   &metadatav3.MetadataKey{Key: rbacMetadataNS, Path: []*metadatav3.MetadataKey_PathSegment{{Segment: &metadatav3.MetadataKey_PathSegment_Key{Key: rbacShadowResult}}}},
				DefaultValue:  rbacShadowDenied,
				Source:        routev3.RateLimit_Action_MetaData_DYNAMIC,
			}}})
			desc = append(desc, &ratelimitv3.RateLimitDescriptor_Entry{Key: rateLimitExemptKey, Value: rbacShadowDenied})
		}
		if rl.PerClient {
			actions = append(actions, &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_RemoteAddress_{RemoteAddress: &routev3.RateLimit_Action_RemoteAddress{}}})
			desc = append(desc, &ratelimitv3.RateLimitDescriptor_Entry{Key: "remote_address"})
		}
		out.RateLimits = append(out.RateLimits, &routev3.RateLimit{Actions: actions})
		out.Descriptors = append(out.Descriptors, &ratelimitv3.LocalRateLimitDescriptor{Entries: desc, TokenBucket: &typev3.TokenBucket{
			MaxTokens: bk.MaxTokens, TokensPerFill: wrapperspb.UInt32(bk.Tokens), FillInterval: durationpb.New(time.Duration(bk.IntervalSeconds) * time.Second)}})
	}
	return out
}
