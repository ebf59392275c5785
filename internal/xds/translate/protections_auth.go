package translate

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	basicauthv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/basic_auth/v3"
	bodysizelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/body_size_limit/v3"
	customresponsev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/custom_response/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	localratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	rbacfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// extAuth enables external authorization on a route: ext_authz with the route's service as an
// override (the filter that fails open when the service fails open), and, with a sign-in URL,
// custom_response turning a 401 into a 302 to it.
func (b *builder) extAuth(ctx *routeCtx, put func(string, *anypb.Any), ea *model.ExtAuth) (string, error) {
	c := b.cluster(ea.Cluster)
	if c == nil {
		return fmt.Sprintf("the authorization service's cluster %s is not in the fleet", ea.Cluster), nil
	}
	timeout, err := time.ParseDuration(ea.Timeout)
	if err != nil || timeout <= 0 {
		return fmt.Sprintf("authorization timeout %q is not a positive duration", ea.Timeout), nil
	}
	cs := &extauthzv3.CheckSettings{}
	var hs *extauthzv3.HttpService
	var gs *corev3.GrpcService
	if ea.GRPC {
		gs = &corev3.GrpcService{Timeout: durationpb.New(timeout),
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: ea.Cluster, Authority: ea.Authority}}}
		cs.ServiceOverride = &extauthzv3.CheckSettings_GrpcService{GrpcService: gs}
	} else {
		for _, s := range append(slices.Clone(ea.RequestHeaders), ea.ResponseHeaders...) {
			if !isToken(s) {
				return fmt.Sprintf("header name %q is invalid", s), nil
			}
		}
		hs = &extauthzv3.HttpService{
			ServerUri:    &corev3.HttpUri{Uri: "http://" + ea.Authority + ea.Path, HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: ea.Cluster}, Timeout: durationpb.New(timeout)},
			PathOverride: ea.Path,
			AuthorizationRequest: &extauthzv3.AuthorizationRequest{
				AllowedHeaders: headerList(ea.RequestHeaders),
			},
			AuthorizationResponse: &extauthzv3.AuthorizationResponse{AllowedUpstreamHeaders: headerList(ea.ResponseHeaders)},
		}
		cs.ServiceOverride = &extauthzv3.CheckSettings_HttpService{HttpService: hs}
	}
	a, err := pack(&extauthzv3.ExtAuthzPerRoute{Override: &extauthzv3.ExtAuthzPerRoute_CheckSettings{CheckSettings: cs}})
	if err != nil {
		return "", err
	}
	name := NameExtAuthz
	if ea.FailOpen {
		name = NameExtAuthzOpen
	}
	put(name, a)
	switch {
	case ea.FailOpen && ctx.extAuthzOpen == nil && ctx.extAuthzOpenGRPC == nil:
		ctx.extAuthzOpen, ctx.extAuthzOpenGRPC = hs, gs
	case !ea.FailOpen && ctx.extAuthz == nil && ctx.extAuthzGRPC == nil:
		ctx.extAuthz, ctx.extAuthzGRPC = hs, gs
	}
	if ea.SignIn != "" && !safe(ea.SignIn) {
		return fmt.Sprintf("sign-in URL %q is not a valid header value", ea.SignIn), nil
	}
	return "", nil
}

// validated is a proto message with its generated validation.
type validated interface {
	proto.Message
	ValidateAll() error
}

// sortedKeys are m's keys in order.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// headerList matches the named headers, ignoring case; nil for none.
func headerList(names []string) *matcherv3.ListStringMatcher {
	if len(names) == 0 {
		return nil
	}
	l := &matcherv3.ListStringMatcher{}
	for _, n := range names {
		m := exact(n)
		m.IgnoreCase = true
		l.Patterns = append(l.Patterns, m)
	}
	return l
}

// protectionFilters are the connection manager's protection filters for what its routes use,
// in their order, each disabled but for the routes that configure it.
func (b *builder) protectionFilters(need *protectionNeeds) ([]*hcmv3.HttpFilter, error) {
	var out []*hcmv3.HttpFilter
	put := func(name string, a *anypb.Any) {
		out = append(out, &hcmv3.HttpFilter{Name: name, Disabled: true, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}})
	}
	static := func(name string, msg validated) error {
		a, ok := b.filterConfigs[name]
		if !ok {
			var err error
			if a, err = pack(msg); err != nil {
				return err
			}
			if b.filterConfigs == nil {
				b.filterConfigs = map[string]*anypb.Any{}
			}
			b.filterConfigs[name] = a
		}
		put(name, a)
		return nil
	}
	if need.customResponse {
		if err := static(NameCustomResponse, &customresponsev3.CustomResponse{}); err != nil {
			return nil, err
		}
	}
	if need.rbac {
		if err := static(NameRBAC, &rbacfilterv3.RBAC{}); err != nil {
			return nil, err
		}
	}
	for _, name := range sortedKeys(need.realms) {
		if err := static(name, &basicauthv3.BasicAuth{Realm: need.realms[name]}); err != nil {
			return nil, err
		}
	}
	authz := func(name string, hs *extauthzv3.HttpService, gs *corev3.GrpcService, open bool) error {
		if hs == nil && gs == nil {
			return nil
		}
		cfg := &extauthzv3.ExtAuthz{TransportApiVersion: corev3.ApiVersion_V3, FailureModeAllow: open}
		if gs != nil {
			cfg.Services = &extauthzv3.ExtAuthz_GrpcService{GrpcService: gs}
		} else {
			cfg.Services = &extauthzv3.ExtAuthz_HttpService{HttpService: hs}
		}
		a, err := pack(cfg)
		if err != nil {
			return err
		}
		put(name, a)
		return nil
	}
	if err := authz(NameExtAuthz, need.extAuthz, need.extAuthzGRPC, false); err != nil {
		return nil, err
	}
	if err := authz(NameExtAuthzOpen, need.extAuthzOpen, need.extAuthzOpenGRPC, true); err != nil {
		return nil, err
	}
	if need.rateLimit {
		if err := static(NameLocalRateLimit, &localratelimitv3.LocalRateLimit{StatPrefix: "rate_limit"}); err != nil {
			return nil, err
		}
	}
	for _, n := range sortedKeys(need.bodyLimits) {
		if err := static(BodySizeLimitFilterName(n), &bodysizelimitv3.BodySizeLimit{MaxRequestBytes: wrapperspb.UInt64(n)}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
