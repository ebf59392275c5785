package explain

import (
	"fmt"
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

const nameCORS = "envoy.filters.http.cors"

// cors explains the CORS policy of the route (else of its virtual host, else of the route
// configuration). preflight says Envoy's CORS filter answers the request itself.
func (e *explainer) cors(rc *routev3.RouteConfiguration, vh *routev3.VirtualHost, r *routev3.Route, hcm *hcmv3.HttpConnectionManager) (preflight bool, err error) {
	var a *anypb.Any
	for _, m := range []map[string]*anypb.Any{r.GetTypedPerFilterConfig(), vh.GetTypedPerFilterConfig(), rc.GetTypedPerFilterConfig()} {
		if a = m[nameCORS]; a != nil {
			break
		}
	}
	if a == nil {
		return false, nil
	}
	p := &corsv3.CorsPolicy{}
	if err := unpack(a, p); err != nil {
		return false, fmt.Errorf("route %s: CORS policy: %w", r.GetName(), err)
	}
	if !slices.ContainsFunc(hcm.GetHttpFilters(), func(f *hcmv3.HttpFilter) bool { return f.GetName() == nameCORS }) {
		e.note("the route has a CORS policy but the connection manager has no CORS filter: the policy is ignored")
		return false, nil
	}
	origins := make([]string, 0, len(p.GetAllowOriginStringMatch()))
	for _, o := range p.GetAllowOriginStringMatch() {
		origins = append(origins, describeString(o))
	}
	d := "allowed origins: " + strings.Join(origins, ", ")
	for _, f := range []struct{ name, v string }{{"methods", p.GetAllowMethods()}, {"headers", p.GetAllowHeaders()},
		{"exposed headers", p.GetExposeHeaders()}, {"max age", p.GetMaxAge()}} {
		if f.v != "" {
			d += "; " + f.name + ": " + f.v
		}
	}
	if p.GetAllowCredentials().GetValue() {
		d += "; credentials allowed"
	}
	e.op("cors", d)
	origin, ok := e.header("origin")
	if !ok {
		e.op("cors", "the request has no Origin header: the policy adds nothing")
		return false, nil
	}
	allowed := false
	for _, o := range p.GetAllowOriginStringMatch() {
		if m, err := e.stringMatch(o, origin); err == nil && m {
			allowed = true
		}
	}
	_, requestMethod := e.header("access-control-request-method")
	switch {
	case e.req.Method == "OPTIONS" && requestMethod && allowed:
		e.stop(ActionCORSPreflight, 200, "200: CORS preflight answered by Envoy's CORS filter with the access-control-allow-* headers",
			"an OPTIONS request with Origin "+origin+" (allowed) and Access-Control-Request-Method never reaches the backends")
		return true, nil
	case allowed:
		e.op("cors", "origin "+origin+" is allowed: the response gets access-control-allow-origin")
	default:
		e.op("cors", "origin "+origin+" is not allowed: the response gets no CORS headers (a preflight is forwarded)")
	}
	return false, nil
}
