package translate

import (
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	overridehostv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/override_host/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// checkResources asserts what Envoy needs beyond each resource's own validity: every resource
// validates (typed configs included) and marshals, names are unique, and every name a resource
// refers to exists (route configurations, secrets, clusters and their assignments), and every
// secret is of the kind its references expect.
func checkResources(t testing.TB, r *Resources) {
	t.Helper()
	names := map[string]map[string]bool{}
	for typ, rs := range r.ByType() {
		names[typ] = map[string]bool{}
		for _, m := range rs {
			v, ok := m.(interface{ ValidateAll() error })
			if !ok {
				t.Fatalf("%T cannot validate", m)
			}
			if err := v.ValidateAll(); err != nil {
				t.Errorf("%T: %v", m, err)
			}
			if _, err := proto.Marshal(m); err != nil {
				t.Errorf("%T: %v", m, err)
			}
			n := resourceName(m)
			if names[typ][n] {
				t.Errorf("%T %q twice", m, n)
			}
			names[typ][n] = true
		}
	}
	routes, secrets, clusters := map[string]bool{}, map[string]bool{}, map[string]bool{}
	extProc := map[string]bool{}   // route configurations whose HCM has the ext_proc filter
	clientCAs := map[string]bool{} // trust bundles that verify clients
	for _, l := range r.Listeners {
		checkEnvoyListener(t, l)
		httpValidation, httpChains := "", 0
		for _, fc := range l.FilterChains {
			if ts := fc.GetTransportSocket(); ts != nil {
				var ctx tlsv3.DownstreamTlsContext
				unpack(t, ts.GetTypedConfig(), &ctx)
				for _, s := range ctx.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs() {
					secrets[s.GetName()] = true
				}
				v := checkClientValidation(t, l.Name+" "+fc.Name, &ctx, clientCAs)
				if len(fc.Filters) == 1 && fc.Filters[0].Name == nameHCM {
					// Every HTTPS chain of a port verifies clients alike: one chain can never
					// serve the port's HTTP with less validation than another.
					if httpChains++; httpChains == 1 {
						httpValidation = v
					} else if v != httpValidation {
						t.Errorf("listener %s: HTTPS chains verify clients differently (%q, %q)", l.Name, httpValidation, v)
					}
				}
			}
			for _, f := range fc.Filters {
				checkNetworkFilter(t, f, routes, clusters, extProc)
			}
		}
	}
	checkMisdirected(t, r)
	checkPassthroughPlain(t, r)
	for _, rc := range r.Routes {
		checkEnvoyRoutes(t, rc)
		for _, vh := range rc.VirtualHosts {
			for _, rt := range vh.Routes {
				a := rt.GetRoute()
				if a == nil {
					continue
				}
				clusters[a.GetCluster()] = true
				checkPickerConfig(t, rc.Name+" "+rt.Name, rt.TypedPerFilterConfig, extProc[rc.Name], clusters)
				for _, w := range a.GetWeightedClusters().GetClusters() {
					clusters[w.GetName()] = true
					checkPickerConfig(t, rc.Name+" "+rt.Name+" "+w.GetName(), w.TypedPerFilterConfig, extProc[rc.Name], clusters)
				}
				for _, m := range a.GetRequestMirrorPolicies() {
					clusters[m.GetCluster()] = true
				}
				checkHashPolicies(t, rc.Name+" "+rt.Name, a, r.Clusters)
				if a := rt.TypedPerFilterConfig[nameCORS]; a != nil {
					var p corsv3.CorsPolicy
					unpack(t, a, &p)
					if err := p.ValidateAll(); err != nil {
						t.Error(err)
					}
				}
			}
		}
	}
	checkUpstreamTLS(t, r, secrets, clientCAs)
	checkProtections(t, r)
	delete(clusters, "")
	delete(clusters, InvalidBackendCluster)
	want := map[string]map[string]bool{"route configuration": routes, "secret": secrets, "cluster": clusters}
	have := map[string]map[string]bool{"route configuration": names["type.googleapis.com/envoy.config.route.v3.RouteConfiguration"],
		"secret":  names["type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"],
		"cluster": names["type.googleapis.com/envoy.config.cluster.v3.Cluster"]}
	for kind, refs := range want {
		for n := range refs {
			if !have[kind][n] {
				t.Errorf("%s %q is referred to but not emitted", kind, n)
			}
		}
	}
	checkTelemetry(t, r)
	for _, c := range r.Clusters {
		if c.GetType() == clusterv3.Cluster_STRICT_DNS && c.GetLoadAssignment() != nil {
			continue // its endpoint inline (the collector), checked by checkTelemetry
		}
		if !names["type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"][c.GetEdsClusterConfig().GetServiceName()] {
			t.Errorf("cluster %s has no load assignment", c.Name)
		}
		checkOverrideHost(t, c)
	}
	for n := range names["type.googleapis.com/envoy.config.route.v3.RouteConfiguration"] {
		if !routes[n] {
			t.Errorf("route configuration %q is not used", n)
		}
	}
}

// checkUpstreamTLS checks the clusters' TLS: never without verification (a trust bundle from
// SDS or a CA file, and a SAN to match) and an SNI, but for an Endpoint Picker's cluster (named
// "<ns>/<service>/<port>/epp"), which may encrypt without either; the secrets they name go into
// secrets (to be
// checked to exist) and are of the right kind: a client certificate is a TLS certificate, a
// trust bundle a validation context; and every validation context is used by some cluster.
func checkUpstreamTLS(t testing.TB, r *Resources, secrets, clientCAs map[string]bool) {
	t.Helper()
	byName := map[string]*tlsv3.Secret{}
	for _, s := range r.Secrets {
		byName[s.Name] = s
	}
	certs, bundles := map[string]bool{}, map[string]bool{}
	for n := range clientCAs {
		bundles[n] = true // client validation contexts: checked below as trust bundles
	}
	for _, c := range r.Clusters {
		ts := c.GetTransportSocket()
		if ts == nil {
			continue
		}
		if ts.Name != nameTLSSocket {
			t.Errorf("cluster %s: transport socket %s", c.Name, ts.Name)
		}
		var ctx tlsv3.UpstreamTlsContext
		unpack(t, ts.GetTypedConfig(), &ctx)
		if err := ctx.ValidateAll(); err != nil {
			t.Errorf("cluster %s: %v", c.Name, err)
		}
		common := ctx.GetCommonTlsContext()
		if common.GetTlsParams().GetTlsMinimumProtocolVersion() != tlsv3.TlsParameters_TLSv1_2 {
			t.Errorf("cluster %s: TLS parameters %v", c.Name, common.GetTlsParams())
		}
		for _, s := range common.GetTlsCertificateSdsSecretConfigs() {
			certs[s.GetName()] = true
		}
		// Unverified TLS only to an Endpoint Picker, or to the backend of an Ingress whose
		// backend-protocol asks for TLS (as ingress-nginx without proxy-ssl-verify).
		// (An Ingress backend with another load balancer has that policy as a further suffix.)
		base := connectSuffix.ReplaceAllString(strings.TrimSuffix(strings.TrimSuffix(c.Name, "-ringhash"), "-leastrequest"), "")
		if common.GetValidationContextType() == nil && (strings.HasSuffix(c.Name, "/epp") || strings.HasSuffix(base, "-tls")) {
			continue
		}
		if ctx.Sni == "" {
			t.Errorf("cluster %s: verified TLS without an SNI", c.Name)
		}
		var check *tlsv3.CertificateValidationContext
		switch v := common.GetValidationContextType().(type) {
		case *tlsv3.CommonTlsContext_CombinedValidationContext:
			check = v.CombinedValidationContext.GetDefaultValidationContext()
			bundles[v.CombinedValidationContext.GetValidationContextSdsSecretConfig().GetName()] = true
		case *tlsv3.CommonTlsContext_ValidationContext:
			check = v.ValidationContext
			if check.GetTrustedCa().GetFilename() == "" {
				t.Errorf("cluster %s: a validation context without a CA file", c.Name)
			}
		default:
			t.Errorf("cluster %s: TLS without certificate verification (%T)", c.Name, v)
		}
		if len(check.GetMatchTypedSubjectAltNames()) == 0 {
			t.Errorf("cluster %s: TLS without a subject alternative name to match", c.Name)
		}
	}
	for n := range certs {
		secrets[n] = true
		if s := byName[n]; s != nil && s.GetTlsCertificate() == nil {
			t.Errorf("secret %s is a client certificate but not a TLS certificate", n)
		}
	}
	for n := range bundles {
		secrets[n] = true
		if s := byName[n]; s != nil && s.GetValidationContext().GetTrustedCa() == nil {
			t.Errorf("secret %s is a trust bundle but has no trusted CA", n)
		}
	}
	for _, s := range r.Secrets {
		if s.GetValidationContext() != nil && !bundles[s.Name] {
			t.Errorf("trust bundle %s is not used", s.Name)
		}
	}
}

// checkClientValidation checks how a DownstreamTlsContext verifies clients and returns a summary
// ("" for not at all): a validation context only from SDS (so a rotated CA is an SDS push alone),
// whose name goes into clientCAs (to exist, and be a validation context with a CA); a required
// certificate always verified against it; a certificate not required only with an explicit
// ACCEPT_UNTRUSTED (AllowInsecureFallback), never by accident.
func checkClientValidation(t testing.TB, where string, ctx *tlsv3.DownstreamTlsContext, clientCAs map[string]bool) string {
	t.Helper()
	if err := ctx.ValidateAll(); err != nil {
		t.Errorf("%s: %v", where, err)
	}
	require := ctx.GetRequireClientCertificate().GetValue()
	switch v := ctx.GetCommonTlsContext().GetValidationContextType().(type) {
	case nil:
		if require {
			t.Errorf("%s: a client certificate is required but nothing verifies it", where)
		}
		return ""
	case *tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig:
		name := v.ValidationContextSdsSecretConfig.GetName()
		if !require {
			t.Errorf("%s: client validation %s without requiring a certificate or saying AllowInsecureFallback", where, name)
		}
		clientCAs[name] = true
		return "required " + name
	case *tlsv3.CommonTlsContext_CombinedValidationContext:
		name := v.CombinedValidationContext.GetValidationContextSdsSecretConfig().GetName()
		def := v.CombinedValidationContext.GetDefaultValidationContext()
		if require || def.GetTrustChainVerification() != tlsv3.CertificateValidationContext_ACCEPT_UNTRUSTED || def.GetTrustedCa() != nil {
			t.Errorf("%s: combined client validation is only for AllowInsecureFallback (ACCEPT_UNTRUSTED, no certificate required, CA from SDS): %v", where, def)
		}
		clientCAs[name] = true
		return "fallback " + name
	default:
		t.Errorf("%s: client validation not from SDS (%T)", where, v)
		return "?"
	}
}

func checkNetworkFilter(t testing.TB, f *listenerv3.Filter, routes, clusters, extProc map[string]bool) {
	switch f.Name {
	case nameHCM:
		var h hcmv3.HttpConnectionManager
		unpack(t, f.GetTypedConfig(), &h)
		if err := h.ValidateAll(); err != nil {
			t.Error(err)
		}
		routes[h.GetRds().GetRouteConfigName()] = true
		if fs := h.HttpFilters; len(fs) == 0 || fs[len(fs)-1].Name != nameRouter {
			t.Errorf("HCM filters %v: the router must be last", fs)
		}
		for _, hf := range h.HttpFilters {
			if hf.Name != nameExtProc {
				continue
			}
			// Disabled but for the routes that ask a picker; a gRPC service all the same (Envoy
			// refuses an ext_proc filter without one), failing closed.
			var p extprocv3.ExternalProcessor
			unpack(t, hf.GetTypedConfig(), &p)
			if err := p.ValidateAll(); err != nil {
				t.Error(err)
			}
			if !hf.Disabled || p.GetGrpcService().GetEnvoyGrpc().GetClusterName() == "" || p.FailureModeAllow {
				t.Errorf("ext_proc filter: disabled %t, gRPC service %v, failure_mode_allow %t", hf.Disabled, p.GetGrpcService(), p.FailureModeAllow)
			}
			clusters[p.GetGrpcService().GetEnvoyGrpc().GetClusterName()] = true
			extProc[h.GetRds().GetRouteConfigName()] = true
		}
	case nameTCPProxy:
		var tp tcpproxyv3.TcpProxy
		unpack(t, f.GetTypedConfig(), &tp)
		if err := tp.ValidateAll(); err != nil {
			t.Error(err)
		}
		clusters[tp.GetCluster()] = true
		for _, w := range tp.GetWeightedClusters().GetClusters() {
			clusters[w.GetName()] = true
		}
	case nameDirectResponse:
	default:
		t.Errorf("unexpected network filter %s", f.Name)
	}
}

// checkPickerConfig checks a route's (or weighted cluster's) ext_proc configuration: valid, it
// asks a cluster that exists (added to clusters), and the HCM has the ext_proc filter it enables.
func checkPickerConfig(t testing.TB, where string, configs map[string]*anypb.Any, hcmHasFilter bool, clusters map[string]bool) {
	t.Helper()
	a := configs[nameExtProc]
	if a == nil {
		return
	}
	var p extprocv3.ExtProcPerRoute
	unpack(t, a, &p)
	if err := p.ValidateAll(); err != nil {
		t.Errorf("%s: %v", where, err)
	}
	picker := p.GetOverrides().GetGrpcService().GetEnvoyGrpc().GetClusterName()
	if picker == "" || p.GetOverrides().GetFailureModeAllow() == nil {
		t.Errorf("%s: ext_proc overrides %v: no picker or no failure mode", where, p.GetOverrides())
	}
	if !hcmHasFilter {
		t.Errorf("%s: asks picker %s but the HTTP connection manager has no ext_proc filter", where, picker)
	}
	clusters[picker] = true
}

// checkOverrideHost checks a cluster's load balancing policy, if any: override_host, valid, its
// hosts read from dynamic metadata only (a header would let clients choose), round robin after.
func checkOverrideHost(t testing.TB, c *clusterv3.Cluster) {
	t.Helper()
	lb := c.GetLoadBalancingPolicy()
	if lb == nil {
		return
	}
	ps := lb.GetPolicies()
	if len(ps) != 1 || ps[0].GetTypedExtensionConfig().GetName() != nameOverrideHost {
		t.Fatalf("cluster %s: load balancing policy %v", c.Name, lb)
	}
	var oh overridehostv3.OverrideHost
	unpack(t, ps[0].GetTypedExtensionConfig().GetTypedConfig(), &oh)
	if err := oh.ValidateAll(); err != nil {
		t.Errorf("cluster %s: %v", c.Name, err)
	}
	for _, src := range oh.OverrideHostSources {
		if src.Header != "" || src.GetMetadata().GetKey() == "" {
			t.Errorf("cluster %s: override host source %v is not dynamic metadata", c.Name, src)
		}
	}
	fb := oh.GetFallbackPolicy().GetPolicies()
	if len(oh.OverrideHostSources) == 0 || len(fb) != 1 || fb[0].GetTypedExtensionConfig().GetName() != nameRoundRobin {
		t.Errorf("cluster %s: override host %v", c.Name, &oh)
	}
}

func unpack(t testing.TB, a *anypb.Any, m proto.Message) {
	t.Helper()
	if err := a.UnmarshalTo(m); err != nil {
		t.Fatalf("%s: %v", a.GetTypeUrl(), err)
	}
}

func resourceName(m proto.Message) string {
	switch x := m.(type) {
	case interface{ GetName() string }:
		return x.GetName()
	case interface{ GetClusterName() string }:
		return x.GetClusterName()
	}
	return ""
}

// checkEnvoyListener checks rules Envoy applies to a listener beyond its proto validation: a TCP
// listener has filter chains; server names have no partial wildcard and no two chains match the
// same name (or both match any name).
func checkEnvoyListener(t testing.TB, l *listenerv3.Listener) {
	t.Helper()
	if l.GetUdpListenerConfig() == nil && len(l.FilterChains) == 0 {
		t.Errorf("listener %s has no filter chain", l.Name)
	}
	names, anyName := map[string]bool{}, false
	for _, fc := range l.FilterChains {
		sn := fc.GetFilterChainMatch().GetServerNames()
		if len(sn) == 0 {
			if anyName {
				t.Errorf("listener %s: two chains match any server name", l.Name)
			}
			anyName = true
		}
		for _, n := range sn {
			if !validServerName(n) {
				t.Errorf("listener %s: server name %q", l.Name, n)
			}
			if names[strings.ToLower(n)] {
				t.Errorf("listener %s: server name %q in two chains", l.Name, n)
			}
			names[strings.ToLower(n)] = true
		}
	}
}

// checkMisdirected checks listener isolation on HTTPS ports: where the HTTP chains of a listener
// use several route configurations, each answers 421 (a misdirected virtual host, its one route a
// 421 direct response) for every server name of the other HTTP chains that its own chains do not
// have, and for "*" when all its chains have server names. And a misdirected virtual host is
// exactly that one route.
func checkMisdirected(t testing.TB, r *Resources) {
	t.Helper()
	rcs := map[string]*routev3.RouteConfiguration{}
	for _, rc := range r.Routes {
		rcs[rc.Name] = rc
		for _, vh := range rc.VirtualHosts {
			for _, rt := range vh.Routes {
				if rt.Name == MisdirectedRoute && (len(vh.Routes) != 1 || rt.GetDirectResponse().GetStatus() != 421) {
					t.Errorf("route configuration %s virtual host %s: a misdirected virtual host has one route, a 421", rc.Name, vh.Name)
				}
			}
		}
	}
	for _, l := range r.Listeners {
		served := map[string][]string{} // route configuration → the server names of its chains ("" for any)
		for _, fc := range l.FilterChains {
			for _, f := range fc.Filters {
				if f.Name != nameHCM {
					continue
				}
				var hcm hcmv3.HttpConnectionManager
				unpack(t, f.GetTypedConfig(), &hcm)
				rc := hcm.GetRds().GetRouteConfigName()
				if sn := fc.GetFilterChainMatch().GetServerNames(); len(sn) > 0 {
					served[rc] = append(served[rc], sn...)
				} else {
					served[rc] = append(served[rc], "")
				}
			}
		}
		if len(served) < 2 {
			continue
		}
		for name, own := range served {
			rc := rcs[name]
			misdirected := func(host string) bool {
				vh := selectVirtualHost(rc, host)
				return vh != nil && len(vh.Routes) == 1 && vh.Routes[0].Name == MisdirectedRoute
			}
			for other, names := range served {
				for _, n := range names {
					if probe := strings.Replace(n, "*", "probe", 1); other != name && n != "" && !slices.Contains(own, n) && !misdirected(probe) {
						t.Errorf("listener %s: route configuration %s serves %s, of another chain's server name %s, without a 421", l.Name, name, probe, n)
					}
				}
			}
			if !slices.Contains(own, "") && !misdirected("probe.invalid") {
				t.Errorf("listener %s: route configuration %s (server names %v) does not answer 421 for other hosts", l.Name, name, own)
			}
		}
	}
}

// checkPassthroughPlain checks that a TLS passthrough chain (a chain of a listener with the TLS
// inspector that terminates nothing and proxies TCP) sends to clusters without upstream TLS: the
// connection already is the client's TLS, which must never be encrypted twice.
func checkPassthroughPlain(t testing.TB, r *Resources) {
	t.Helper()
	tlsClusters := map[string]bool{}
	for _, c := range r.Clusters {
		if c.GetTransportSocket() != nil {
			tlsClusters[c.Name] = true
		}
	}
	for _, l := range r.Listeners {
		if len(l.ListenerFilters) == 0 || l.ListenerFilters[0].Name != nameTLSInspector {
			continue
		}
		for _, fc := range l.FilterChains {
			if fc.GetTransportSocket() != nil {
				continue
			}
			for _, f := range fc.Filters {
				if f.Name != nameTCPProxy {
					continue
				}
				var tp tcpproxyv3.TcpProxy
				unpack(t, f.GetTypedConfig(), &tp)
				names := []string{tp.GetCluster()}
				for _, w := range tp.GetWeightedClusters().GetClusters() {
					names = append(names, w.GetName())
				}
				for _, n := range names {
					if tlsClusters[n] {
						t.Errorf("listener %s chain %s: passthrough to cluster %s, which originates TLS", l.Name, fc.Name, n)
					}
				}
			}
		}
	}
}

// selectVirtualHost is the virtual host Envoy picks for a host: an exact domain, then the longest
// suffix wildcard ("*.example.com"), then "*" (nil: none).
func selectVirtualHost(rc *routev3.RouteConfiguration, host string) *routev3.VirtualHost {
	var best *routev3.VirtualHost
	bestLen := -1
	for _, vh := range rc.GetVirtualHosts() {
		for _, d := range vh.Domains {
			switch {
			case strings.EqualFold(d, host):
				return vh
			case d == "*" && bestLen < 0:
				best, bestLen = vh, 0
			case strings.HasPrefix(d, "*") && len(d) > 1 && len(host) > len(d)-1 &&
				strings.HasSuffix(strings.ToLower(host), strings.ToLower(d[1:])) && len(d) > bestLen:
				best, bestLen = vh, len(d)
			}
		}
	}
	return best
}

// checkEnvoyRoutes checks rules Envoy applies to a route configuration beyond its proto
// validation: unique domains and virtual host names, header changes Envoy allows ("%" escaped,
// no pseudo-header or Host), weights that add up within uint32, regular expressions RE2 parses.
func checkEnvoyRoutes(t testing.TB, rc *routev3.RouteConfiguration) {
	t.Helper()
	domains, vhosts := map[string]bool{}, map[string]bool{}
	for _, vh := range rc.VirtualHosts {
		if vhosts[vh.Name] {
			t.Errorf("%s: virtual host %q twice", rc.Name, vh.Name)
		}
		vhosts[vh.Name] = true
		for _, d := range vh.Domains {
			if domains[strings.ToLower(d)] {
				t.Errorf("%s: domain %q twice", rc.Name, d)
			}
			domains[strings.ToLower(d)] = true
		}
		for _, rt := range vh.Routes {
			where := rc.Name + " " + rt.Name
			checkHeaderChanges(t, where, rt.RequestHeadersToAdd, rt.RequestHeadersToRemove)
			checkHeaderChanges(t, where, rt.ResponseHeadersToAdd, rt.ResponseHeadersToRemove)
			m := rt.GetMatch()
			checkRegex(t, where, m.GetSafeRegex().GetRegex())
			for _, h := range m.GetHeaders() {
				checkRegex(t, where, h.GetStringMatch().GetSafeRegex().GetRegex())
			}
			for _, q := range m.GetQueryParameters() {
				checkRegex(t, where, q.GetStringMatch().GetSafeRegex().GetRegex())
			}
			checkRegex(t, where, rt.GetRoute().GetRegexRewrite().GetPattern().GetRegex())
			checkRegex(t, where, rt.GetRedirect().GetRegexRewrite().GetPattern().GetRegex())
			if p := rt.GetRedirect().GetPortRedirect(); p > 65535 {
				t.Errorf("%s: redirect port %d", where, p)
			}
			var sum uint64
			wcs := rt.GetRoute().GetWeightedClusters().GetClusters()
			for _, w := range wcs {
				sum += uint64(w.GetWeight().GetValue())
				checkHeaderChanges(t, where, w.RequestHeadersToAdd, w.RequestHeadersToRemove)
				checkHeaderChanges(t, where, w.ResponseHeadersToAdd, w.ResponseHeadersToRemove)
			}
			if len(wcs) > 0 && (sum == 0 || sum > math.MaxUint32) {
				t.Errorf("%s: weights add up to %d", where, sum)
			}
			if a := rt.TypedPerFilterConfig[nameCORS]; a != nil {
				var p corsv3.CorsPolicy
				unpack(t, a, &p)
				for _, o := range p.AllowOriginStringMatch {
					checkRegex(t, where, o.GetSafeRegex().GetRegex())
				}
			}
		}
	}
}

func checkHeaderChanges(t testing.TB, where string, add []*corev3.HeaderValueOption, remove []string) {
	t.Helper()
	for _, h := range add {
		k, v := h.GetHeader().GetKey(), h.GetHeader().GetValue()
		if strings.HasPrefix(k, ":") || strings.EqualFold(k, "host") || !isToken(k) {
			t.Errorf("%s: header %q cannot be modified", where, k)
		}
		if strings.Contains(strings.ReplaceAll(v, "%%", ""), "%") {
			t.Errorf("%s: header %s value %q has an unescaped %%", where, k, v)
		}
	}
	for _, k := range remove {
		if strings.HasPrefix(k, ":") || strings.EqualFold(k, "host") || !isToken(k) {
			t.Errorf("%s: header %q cannot be removed", where, k)
		}
	}
}

func checkRegex(t testing.TB, where, re string) {
	t.Helper()
	if re == "" {
		return
	}
	if _, err := syntax.Parse(re, syntax.Perl); err != nil {
		t.Errorf("%s: %v", where, err)
	}
}

// checkHashPolicies: a route hashes only when every cluster it sends to balances by a hash (ring
// hash or Maglev), where Envoy reads the hash; each policy names what it hashes, and a cookie
// Envoy generates has a name and a path that cannot add attributes of its own; a hashing
// cluster is never a Gateway API cluster name (those stay round robin).
func checkHashPolicies(t testing.TB, where string, a *routev3.RouteAction, all []*clusterv3.Cluster) {
	t.Helper()
	byName := func(n string) *clusterv3.Cluster {
		for _, c := range all {
			if c.GetName() == n {
				return c
			}
		}
		return nil
	}
	names := []string{a.GetCluster()}
	for _, w := range a.GetWeightedClusters().GetClusters() {
		names = append(names, w.GetName())
	}
	for _, n := range names {
		c := byName(n)
		if c == nil {
			continue
		}
		hashing := c.GetLbPolicy() == clusterv3.Cluster_RING_HASH || c.GetLbPolicy() == clusterv3.Cluster_MAGLEV
		if len(a.GetHashPolicy()) > 0 && !hashing {
			t.Errorf("%s: hash policies on a route to %s, which balances by %s", where, n, c.GetLbPolicy())
		}
		if c.GetLbPolicy() != clusterv3.Cluster_ROUND_ROBIN && !strings.HasSuffix(n, "-ringhash") && !strings.HasSuffix(n, "-leastrequest") {
			t.Errorf("%s: cluster %s balances by %s under a round-robin cluster's name", where, n, c.GetLbPolicy())
		}
	}
	for _, hp := range a.GetHashPolicy() {
		switch p := hp.GetPolicySpecifier().(type) {
		case *routev3.RouteAction_HashPolicy_Cookie_:
			if p.Cookie.GetName() == "" || strings.ContainsAny(p.Cookie.GetPath(), ";\r\n") {
				t.Errorf("%s: hash cookie %q path %q", where, p.Cookie.GetName(), p.Cookie.GetPath())
			}
		case nil:
			t.Errorf("%s: a hash policy that hashes nothing", where)
		}
	}
}

// connectSuffix is the name suffix of an Ingress cluster with a proxy-connect-timeout of its own.
var connectSuffix = regexp.MustCompile(`-connect[0-9]+s$`)
