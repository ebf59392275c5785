package translate

import (
	"fmt"
	"hash/fnv"
	"strconv"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	customresponsev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/custom_response/v3"
	localresponsev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/custom_response/local_response_policy/v3"
	redirectpolicyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/custom_response/redirect_policy/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// ErrorPagesHost is the host of the virtual host that serves a cluster's error pages: the
// custom_response filter redirects requests there internally. Under ".internal" (reserved for
// private use), so it names no public host; a client that asks for it directly gets the error
// pages, which any request whose response they replace gets anyway.
func ErrorPagesHost(cluster string) string {
	h := fnv.New32a()
	h.Write([]byte(cluster))
	return fmt.Sprintf("error-pages-%08x.flotilla.internal", h.Sum32())
}

func signInOf(p *model.Protections) string {
	if p.ExtAuth != nil {
		return p.ExtAuth.SignIn
	}
	return ""
}

// customResponse is a route's custom_response configuration: first the sign-in redirect (a 401
// Envoy made itself, i.e. the authorization service's answer, becomes a 302 to signIn; an
// application's own 401 is left alone, as ingress-nginx leaves it), then the error pages (each
// listed status, of any response or only of Envoy's own, is answered by an internal redirect to
// the cluster's error-pages host, with X-Code naming the status).
func (b *builder) customResponse(signIn string, ep *model.ErrorPages) (*anypb.Any, error) {
	key := signIn
	if ep != nil {
		key += fmt.Sprintf("|%v|%s|%t|%s/%s", ep.Codes, ep.Cluster, ep.LocalOnly, ep.Namespace, ep.Ingress)
	}
	if a, ok := b.customResponses[key]; ok {
		return a, nil
	}
	var matchers []*xdsmatcherv3.Matcher_MatcherList_FieldMatcher
	add := func(code int, localOnly bool, name string, policy validated) error {
		a, err := pack(policy)
		if err != nil {
			return err
		}
		m, err := statusPredicate(code, localOnly)
		if err != nil {
			return err
		}
		matchers = append(matchers, &xdsmatcherv3.Matcher_MatcherList_FieldMatcher{Predicate: m,
			OnMatch: &xdsmatcherv3.Matcher_OnMatch{OnMatch: &xdsmatcherv3.Matcher_OnMatch_Action{
				Action: &xdscorev3.TypedExtensionConfig{Name: name, TypedConfig: a}}}})
		return nil
	}
	if signIn != "" {
		if err := add(401, true, "sign-in", &localresponsev3.LocalResponsePolicy{StatusCode: wrapperspb.UInt32(302),
			ResponseHeadersToAdd: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "location", Value: signIn},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}}}); err != nil {
			return nil, err
		}
	}
	if ep != nil {
		uri := "http://" + ErrorPagesHost(ep.Cluster) + "/"
		for _, code := range ep.Codes {
			headers := []*corev3.HeaderValueOption{
				{Header: &corev3.HeaderValue{Key: "x-code", Value: strconv.Itoa(code)}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
				{Header: &corev3.HeaderValue{Key: "x-original-uri", Value: "%REQ(:path)%"}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
				{Header: &corev3.HeaderValue{Key: "x-format", Value: "%REQ(accept)%"}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
			}
			if ep.Ingress != "" {
				headers = append(headers,
					&corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "x-namespace", Value: ep.Namespace}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
					&corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "x-ingress-name", Value: ep.Ingress}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD})
			}
			if err := add(code, ep.LocalOnly, "error-page-"+strconv.Itoa(code), &redirectpolicyv3.RedirectPolicy{
				RedirectActionSpecifier: &redirectpolicyv3.RedirectPolicy_Uri{Uri: uri}, RequestHeadersToAdd: headers}); err != nil {
				return nil, err
			}
		}
	}
	a, err := pack(&customresponsev3.CustomResponse{CustomResponseMatcher: &xdsmatcherv3.Matcher{
		MatcherType: &xdsmatcherv3.Matcher_MatcherList_{MatcherList: &xdsmatcherv3.Matcher_MatcherList{Matchers: matchers}}}})
	if err != nil {
		return nil, err
	}
	if b.customResponses == nil {
		b.customResponses = map[string]*anypb.Any{}
	}
	b.customResponses[key] = a
	return a, nil
}

// statusPredicate matches a response status, and, with localOnly, only responses Envoy made.
func statusPredicate(code int, localOnly bool) (*xdsmatcherv3.Matcher_MatcherList_Predicate, error) {
	single := func(input validated, value string) (*xdsmatcherv3.Matcher_MatcherList_Predicate, error) {
		a, err := anypb.New(input)
		if err != nil {
			return nil, err
		}
		return &xdsmatcherv3.Matcher_MatcherList_Predicate{MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_{
			SinglePredicate: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate{
				Input: &xdscorev3.TypedExtensionConfig{Name: "input", TypedConfig: a},
				Matcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_ValueMatch{ValueMatch: &xdsmatcherv3.StringMatcher{
					MatchPattern: &xdsmatcherv3.StringMatcher_Exact{Exact: value}}},
			}}}, nil
	}
	status, err := single(&matcherv3.HttpResponseStatusCodeMatchInput{}, strconv.Itoa(code))
	if err != nil || !localOnly {
		return status, err
	}
	local, err := single(&matcherv3.HttpResponseLocalReplyMatchInput{}, "true")
	if err != nil {
		return nil, err
	}
	return &xdsmatcherv3.Matcher_MatcherList_Predicate{MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_AndMatcher{
		AndMatcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_PredicateList{Predicate: []*xdsmatcherv3.Matcher_MatcherList_Predicate{status, local}}}}, nil
}

// errorPagesHosts are the virtual hosts of the error pages the route configuration's routes
// redirect to, one per cluster: "/" to the cluster, nothing else.
func (b *builder) errorPagesHosts(clusters map[string]bool) []*routev3.VirtualHost {
	out := make([]*routev3.VirtualHost, 0, len(clusters))
	for _, c := range sortedKeys(clusters) {
		out = append(out, &routev3.VirtualHost{Name: "flotilla/error-pages/" + c, Domains: []string{ErrorPagesHost(c)},
			Routes: []*routev3.Route{{Name: "flotilla/error-pages/" + c, Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: c}}}}}})
	}
	return out
}
