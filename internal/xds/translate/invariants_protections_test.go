package translate

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	basicauthv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/basic_auth/v3"
	customresponsev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/custom_response/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	localratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	rbacfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// httpFilterRank is the place of an HTTP filter in a connection manager: CORS, custom_response
// (it rewrites the local replies of the filters after it: the sign-in redirect), access control,
// authentication (basic, then external), the rate limit, the body size limit, ext_proc (the
// Endpoint Picker), the router.
func httpFilterRank(name string) int {
	switch {
	case name == nameCORS:
		return 0
	case name == NameCustomResponse:
		return 1
	case name == NameRBAC:
		return 2
	case name == NameBasicAuth || strings.HasPrefix(name, NameBasicAuth+"."):
		return 3
	case name == NameExtAuthz:
		return 4
	case name == NameExtAuthzOpen:
		return 5
	case name == NameLocalRateLimit:
		return 6
	case strings.HasPrefix(name, NameBodySizeLimit+"."):
		return 7
	case name == nameExtProc:
		return 8
	case name == nameRouter:
		return 9
	}
	return -1
}

// checkProtections asserts the protection filters' invariants: each connection manager's HTTP
// filters are known, unique and in order; a protection filter is disabled but for the routes
// that configure it, and some route does; every filter a route configures is in its connection
// manager (else the route would be served unprotected); every per-route configuration unpacks
// and validates; basic auth never forwards the credentials; authorization services exist.
func checkProtections(t testing.TB, r *Resources) {
	t.Helper()
	filters := map[string]map[string]*hcmv3.HttpFilter{} // route configuration → its HCM's filters
	for _, l := range r.Listeners {
		for _, fc := range l.FilterChains {
			for _, f := range fc.Filters {
				if f.Name != nameHCM {
					continue
				}
				var h hcmv3.HttpConnectionManager
				unpack(t, f.GetTypedConfig(), &h)
				byName := map[string]*hcmv3.HttpFilter{}
				last := -1
				for _, hf := range h.HttpFilters {
					rank := httpFilterRank(hf.Name)
					if rank < 0 || rank < last || byName[hf.Name] != nil {
						t.Errorf("listener %s: HTTP filter %s is unknown, twice or out of order in %v", l.Name, hf.Name, filterNames(h.HttpFilters))
					}
					last = rank
					byName[hf.Name] = hf
					if rank >= 1 && rank <= 7 && !hf.Disabled {
						t.Errorf("listener %s: protection filter %s is enabled for every route", l.Name, hf.Name)
					}
				}
				filters[h.GetRds().GetRouteConfigName()] = byName
			}
		}
	}
	clusters := map[string]bool{}
	for _, c := range r.Clusters {
		clusters[c.Name] = true
	}
	for _, rc := range r.Routes {
		used := map[string]bool{}
		for _, vh := range rc.VirtualHosts {
			for _, rt := range vh.Routes {
				for name, a := range rt.TypedPerFilterConfig {
					used[name] = true
					if filters[rc.Name][name] == nil {
						t.Errorf("route %s configures filter %s, which its connection manager lacks: it would be served unprotected", rt.Name, name)
					}
					checkPerRoute(t, rt, name, a, clusters)
				}
			}
		}
		for name, hf := range filters[rc.Name] {
			if rank := httpFilterRank(name); rank >= 1 && rank <= 7 && !used[name] {
				t.Errorf("route configuration %s: filter %s (%v) is enabled by no route", rc.Name, name, hf.Disabled)
			}
		}
	}
}

func filterNames(fs []*hcmv3.HttpFilter) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

// checkPerRoute checks one protection filter's per-route configuration.
func checkPerRoute(t testing.TB, rt *routev3.Route, name string, a *anypb.Any, clusters map[string]bool) {
	t.Helper()
	check := func(m interface{ ValidateAll() error }) {
		if err := m.ValidateAll(); err != nil {
			t.Errorf("route %s filter %s: %v", rt.Name, name, err)
		}
	}
	switch rank := httpFilterRank(name); {
	case name == NameRBAC:
		var p rbacfilterv3.RBACPerRoute
		unpack(t, a, &p)
		check(&p)
	case rank == 3:
		var p basicauthv3.BasicAuthPerRoute
		unpack(t, a, &p)
		check(&p)
		if !strings.Contains(strings.Join(rt.RequestHeadersToRemove, ","), "authorization") {
			t.Errorf("route %s: basic auth forwards the Authorization header", rt.Name)
		}
	case rank == 4 || rank == 5:
		var p extauthzv3.ExtAuthzPerRoute
		unpack(t, a, &p)
		check(&p)
		cs := p.GetCheckSettings()
		c := cs.GetHttpService().GetServerUri().GetCluster()
		if c == "" {
			c = cs.GetGrpcService().GetEnvoyGrpc().GetClusterName()
		}
		if !clusters[c] {
			t.Errorf("route %s: authorization service cluster %q is not emitted", rt.Name, c)
		}
	case name == NameLocalRateLimit:
		var p localratelimitv3.LocalRateLimit
		unpack(t, a, &p)
		check(&p)
		if p.GetTokenBucket() == nil || p.GetFilterEnforced().GetDefaultValue().GetNumerator() != 100 {
			t.Errorf("route %s: rate limit without a bucket or not enforced", rt.Name)
		}
	case name == NameCustomResponse:
		var p customresponsev3.CustomResponse
		unpack(t, a, &p)
		check(&p)
	case rank == 7:
		var p routev3.FilterConfig
		unpack(t, a, &p)
		if p.Disabled || p.Config == nil {
			t.Errorf("route %s: %s does not enable the filter: %v", rt.Name, name, &p)
		}
	}
}

// recordTB records failures instead of failing: the invariants' own tests.
type recordTB struct {
	testing.TB
	errors []string
}

func (r *recordTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recordTB) Helper() {}

// The protection invariants catch a route that configures a filter its connection manager
// lacks (served unprotected), a protection filter enabled for every route, and filters out of
// order.
func TestProtectionInvariantsCatch(t *testing.T) {
	breakHCM := func(r *Resources, edit func(fs []*hcmv3.HttpFilter) []*hcmv3.HttpFilter) {
		l := r.Listeners[0]
		f := l.FilterChains[0].Filters[0]
		var h hcmv3.HttpConnectionManager
		unpack(t, f.GetTypedConfig(), &h)
		h.HttpFilters = edit(h.HttpFilters)
		a, err := anypb.New(&h)
		if err != nil {
			t.Fatal(err)
		}
		f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: a}
	}
	for name, edit := range map[string]func(fs []*hcmv3.HttpFilter) []*hcmv3.HttpFilter{
		"which its connection manager lacks": func(fs []*hcmv3.HttpFilter) []*hcmv3.HttpFilter {
			return slices.DeleteFunc(fs, func(f *hcmv3.HttpFilter) bool { return f.Name == NameRBAC })
		},
		"enabled for every route": func(fs []*hcmv3.HttpFilter) []*hcmv3.HttpFilter {
			for _, f := range fs {
				if f.Name == NameLocalRateLimit {
					f.Disabled = false
				}
			}
			return fs
		},
		"out of order": func(fs []*hcmv3.HttpFilter) []*hcmv3.HttpFilter {
			fs[0], fs[1] = fs[1], fs[0]
			return fs
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := loadCase(t, "../../gatewayapi/testdata/routefilters.in.yaml").translate(t)
			rec := &recordTB{TB: t}
			checkProtections(rec, r)
			if len(rec.errors) != 0 {
				t.Fatalf("the intact output fails: %v", rec.errors)
			}
			breakHCM(r, edit)
			checkProtections(rec, r)
			if !slices.ContainsFunc(rec.errors, func(e string) bool { return strings.Contains(e, name) }) {
				t.Errorf("not caught: %v", rec.errors)
			}
		})
	}
}
