package gatewayapi

import (
	"fmt"
	"regexp"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// grpcRoute converts a GRPCRoute. Method matches become path matches on "/<service>/<method>":
// service and method gives an Exact path, a service alone a PathPrefix, anything else a regular
// expression; they are ranked by service, then method length, as the gRPC precedence rules say.
func (r *resolver) grpcRoute(gr *gwapiv1.GRPCRoute) *route {
	rt := &route{kind: kindGRPCRoute, meta: &gr.ObjectMeta, parentRefs: gr.Spec.ParentRefs, hostnames: gr.Spec.Hostnames}
	prefix := rt.namePrefix()
	for i := range gr.Spec.Rules {
		rule := &gr.Spec.Rules[i]
		filters, bad := r.grpcFilters(rt, rule.Filters)
		if bad != "" {
			rt.invalid = fmt.Sprintf("rule %d: %s", i, bad)
			return rt
		}
		protections, set := r.ruleProtections(rt, i, asHTTPFilters(rule.Filters))
		if !set.empty() {
			rt.invalid = fmt.Sprintf("rule %d: RouteFilter timeouts and pathRewrite apply to HTTPRoute rules only", i)
			return rt
		}
		var perBackend [][]model.Filter // nil when no backendRef has filters
		for j := range rule.BackendRefs {
			br := &rule.BackendRefs[j]
			if len(br.Filters) == 0 {
				continue
			}
			f, bad := r.backendFilters(rt, asHTTPFilters(br.Filters))
			if bad != "" {
				rt.invalid = fmt.Sprintf("rule %d backendRef %d: %s", i, j, bad)
				return rt
			}
			if perBackend == nil {
				perBackend = make([][]model.Filter, len(rule.BackendRefs))
			}
			perBackend[j] = f
		}
		backends := r.weighted(rt, len(rule.BackendRefs), func(j int) *gwapiv1.BackendRef { return &rule.BackendRefs[j].BackendRef },
			func(j int) []model.Filter {
				if perBackend == nil {
					return nil
				}
				return perBackend[j]
			})
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []gwapiv1.GRPCRouteMatch{{}}
		}
		for j, m := range matches {
			mm, bad := grpcMatch(m)
			if bad != "" {
				rt.invalid = fmt.Sprintf("rule %d match %d: %s", i, j, bad)
				return rt
			}
			e := newEntry(prefix, i, j, mm)
			e.route.Filters, e.route.Backends, e.route.Protections = filters, backends, protections
			// gRPC precedence: service and method, then the longest service, then the longest
			// method; a rule without a method match comes after every path match.
			if mm.Path != nil && mm.Path.Type != model.MatchExact {
				e.pathRank, e.pathLen, e.pathLen2 = 1, len(ptrOrZero(m.Method.Service)), len(ptrOrZero(m.Method.Method))
			}
			rt.entries = append(rt.entries, e)
		}
	}
	return rt
}

func grpcMatch(m gwapiv1.GRPCRouteMatch) (model.Match, string) {
	out := model.Match{GRPC: true}
	if mm := m.Method; mm != nil && (mm.Service != nil || mm.Method != nil) {
		svc, method := ptrOrZero(mm.Service), ptrOrZero(mm.Method)
		regex := mm.Type != nil && *mm.Type == gwapiv1.GRPCMethodMatchRegularExpression
		switch {
		case regex:
			for _, s := range []string{svc, method} {
				if _, _, err := regexSize(s); err != nil {
					return out, fmt.Sprintf("invalid regular expression %q", s)
				}
			}
			// Grouped, so that an alternation stays within its part of the path: service "a|b"
			// matches "/a/..." and "/b/...", not "/a" or "b/...".
			out.Path = &model.StringMatch{Type: model.MatchRegex, Value: "/" + group(svc) + "/" + group(method)}
		case svc != "" && method != "":
			out.Path = &model.StringMatch{Type: model.MatchExact, Value: "/" + svc + "/" + method}
		case svc != "":
			out.Path = &model.StringMatch{Type: model.MatchPathPrefix, Value: "/" + svc}
		default:
			out.Path = &model.StringMatch{Type: model.MatchRegex, Value: "/[^/]+/" + regexp.QuoteMeta(method)}
		}
	}
	if p := out.Path; p != nil && p.Type == model.MatchRegex {
		// The service and method as one path regular expression, which is what Envoy compiles.
		if bad := regexTooLarge("method", p.Value); bad != "" {
			return out, bad
		}
	}
	seen := map[string]bool{} // header names are case-insensitive: the first match of a name wins
	for _, h := range m.Headers {
		name := strings.ToLower(string(h.Name))
		if seen[name] {
			continue
		}
		seen[name] = true
		sm, bad := stringMatch("header", string(h.Name), (*string)(h.Type), h.Value)
		if bad != "" {
			return out, bad
		}
		out.Headers = append(out.Headers, sm)
	}
	return out, ""
}

// group is a service or method regular expression as a group of its own, or any name when empty.
func group(s string) string {
	if s == "" {
		return "[^/]+"
	}
	return "(?:" + s + ")"
}
