package translate

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	directresponsev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/direct_response/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/flotilla-dev/flotilla/internal/model"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

// shared packs the typed configs that many resources reference.
func (b *builder) shared() error {
	var err error
	if b.router, err = pack(&routerv3.Router{}); err != nil {
		return err
	}
	if b.corsFilter, err = pack(&corsv3.Cors{}); err != nil {
		return err
	}
	if b.tlsInspector, err = pack(&tlsinspectorv3.TlsInspector{}); err != nil {
		return err
	}
	// A direct_response filter without a response closes every connection at once.
	if b.closeConn, err = pack(&directresponsev3.Config{}); err != nil {
		return err
	}
	b.http2Options, err = pack(&httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		}},
	})
	return err
}

// listener translates one model listener (and the route configurations it refers to).
func (b *builder) listener(l *model.Listener) error {
	port := uint32(provisioner.ContainerPort(l.Port))
	out := &listenerv3.Listener{Name: l.Name, Address: b.a.socketAddress("0.0.0.0", port, corev3.SocketAddress_TCP)}
	switch l.Protocol {
	case model.ProtocolHTTP:
		rc, need, err := b.routeConfig(l.Name, l, "http", l.VirtualHosts)
		if err != nil {
			return err
		}
		hcm, err := b.hcm(l.Name, rc.Name, need)
		if err != nil {
			return err
		}
		out.FilterChains = []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{hcm}}}
	case model.ProtocolHTTPS, model.ProtocolTLS:
		out.ListenerFilters = []*listenerv3.ListenerFilter{{Name: nameTLSInspector,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: b.tlsInspector}}}
		chains, err := b.filterChains(l)
		if err != nil {
			return err
		}
		if len(chains) == 0 {
			// Envoy refuses a listener without filter chains; this one closes every connection.
			chains = []*listenerv3.FilterChain{{Name: "closed", Filters: []*listenerv3.Filter{b.closeFilter()}}}
		}
		out.FilterChains = chains
	case model.ProtocolTCP:
		f, err := b.tcpProxy(l.Name, l.Backends)
		if err != nil {
			return err
		}
		out.FilterChains = []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{f}}}
	case model.ProtocolUDP:
		out.Address = b.a.socketAddress("0.0.0.0", port, corev3.SocketAddress_UDP)
		out.UdpListenerConfig = &listenerv3.UdpListenerConfig{}
		f, err := b.udpProxy(l.Name, l.Backends)
		if err != nil {
			return err
		}
		out.ListenerFilters = []*listenerv3.ListenerFilter{f}
	default:
		b.warnf("listener %s: protocol %q is not supported; left out", l.Name, l.Protocol)
		return nil
	}
	b.res.Listeners = append(b.res.Listeners, out)
	return nil
}

// hcm is the HTTP connection manager of an HTTP listener or HTTPS filter chain, with its routes
// from RDS. The CORS filter is there only when some route has a CORS policy, the ext_proc filter
// (disabled but for the routes that enable it) only when some route asks an Endpoint Picker.
func (b *builder) hcm(statPrefix, routeConfig string, need httpFilters) (*listenerv3.Filter, error) {
	filters := make([]*hcmv3.HttpFilter, 0, 2)
	if need.cors {
		filters = append(filters, &hcmv3.HttpFilter{Name: nameCORS, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: b.corsFilter}})
	}
	protections, err := b.protectionFilters(&need.protectionNeeds)
	if err != nil {
		return nil, err
	}
	filters = append(filters, protections...)
	if need.picker != "" {
		f, err := b.extProcFilter(need.picker)
		if err != nil {
			return nil, err
		}
		filters = append(filters, f)
	}
	filters = append(filters, &hcmv3.HttpFilter{Name: nameRouter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: b.router}})
	m := &hcmv3.HttpConnectionManager{
		StatPrefix: statPrefix,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource: b.ads, RouteConfigName: routeConfig,
		}},
		HttpFilters:       filters,
		UseRemoteAddress:  wrapperspb.Bool(true),
		XffNumTrustedHops: b.fleet.TrustedForwardedHops,
		NormalizePath:     wrapperspb.Bool(true),
		MergeSlashes:      true,
		StripPortMode:     &hcmv3.HttpConnectionManager_StripAnyHostPort{StripAnyHostPort: true},
		UpgradeConfigs:    []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
	}
	b.withTelemetry(m)
	a, err := pack(m)
	if err != nil {
		return nil, err
	}
	return &listenerv3.Filter{Name: nameHCM, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: a}}, nil
}

func (b *builder) closeFilter() *listenerv3.Filter {
	return &listenerv3.Filter{Name: nameDirectResponse, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: b.closeConn}}
}

// filterChains translates the SNI-selected chains of an HTTPS or TLS listener. Envoy refuses a
// listener where two chains match the same server name (or where two match any server name), and
// server names with a partial wildcard: such names are left out of the later chain, with a warning.
func (b *builder) filterChains(l *model.Listener) ([]*listenerv3.FilterChain, error) {
	var out []*listenerv3.FilterChain
	taken := map[string]bool{}
	anyTaken := false
	for _, c := range byName(l.FilterChains, func(c *model.FilterChain) string { return c.Name }) {
		names := make([]string, 0, len(c.ServerNames))
		mine := map[string]bool{}
		for _, n := range sorted(c.ServerNames) {
			switch {
			case mine[strings.ToLower(n)]:
			case !validServerName(n):
				b.warnf("listener %s chain %s: server name %q is not a valid SNI name; left out", l.Name, c.Name, n)
			case taken[strings.ToLower(n)]:
				b.warnf("listener %s chain %s: server name %q is already matched by another chain; left out", l.Name, c.Name, n)
			default:
				mine[strings.ToLower(n)] = true
				names = append(names, n)
			}
		}
		switch {
		case len(c.ServerNames) > 0 && len(names) == 0:
			b.warnf("listener %s chain %s: no usable server name; chain left out", l.Name, c.Name)
			continue
		case len(c.ServerNames) == 0 && anyTaken:
			b.warnf("listener %s chain %s: another chain already matches any server name; chain left out", l.Name, c.Name)
			continue
		}
		fc, err := b.filterChain(l, c, names)
		if err != nil {
			return nil, err
		}
		if fc == nil {
			continue
		}
		for _, n := range names {
			taken[strings.ToLower(n)] = true
		}
		anyTaken = anyTaken || len(names) == 0
		out = append(out, fc)
	}
	return out, nil
}

// validServerName accepts what Envoy accepts in server_names: no wildcard, or a leading "*.".
func validServerName(n string) bool {
	if !safe(n) || n == "" {
		return false
	}
	rest, _ := strings.CutPrefix(n, "*.")
	return rest != "" && !strings.Contains(rest, "*")
}

// filterChain translates one chain: TLS termination (its certificates from SDS) then HTTP or TCP,
// or TLS passthrough to TCP. It returns nil when a certificate has no data.
func (b *builder) filterChain(l *model.Listener, c *model.FilterChain, names []string) (*listenerv3.FilterChain, error) {
	fc := &listenerv3.FilterChain{Name: c.Name}
	if len(names) > 0 {
		fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: names}
	}
	http := c.TLS != nil && c.Backends == nil
	if c.TLS != nil {
		ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{}}
		seen := map[string]bool{}
		for _, s := range c.TLS.CertificateSecrets {
			if !b.available[s] {
				b.warnf("listener %s chain %s: Secret %s has no certificate data; chain left out", l.Name, c.Name, s)
				return nil, nil
			}
			if !seen[s] {
				seen[s] = true
				ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs = append(ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs,
					&tlsv3.SdsSecretConfig{Name: s, SdsConfig: b.ads})
			}
		}
		if len(seen) == 0 {
			b.warnf("listener %s chain %s: no certificate; chain left out", l.Name, c.Name)
			return nil, nil
		}
		if http {
			ctx.CommonTlsContext.AlpnProtocols = []string{"h2", "http/1.1"}
		}
		if cv := c.TLS.ClientValidation; cv != nil && !b.clientValidation(l, c, cv, ctx) {
			return nil, nil
		}
		a, err := pack(ctx)
		if err != nil {
			return nil, err
		}
		fc.TransportSocket = &corev3.TransportSocket{Name: nameTLSSocket, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}
	}
	var f *listenerv3.Filter
	var err error
	if http {
		var k vhostsKey
		if len(c.VirtualHosts) > 0 {
			k = vhostsKey{&c.VirtualHosts[0], len(c.VirtualHosts)}
		}
		shared, ok := b.sharedRoutes[k]
		if !ok || k.first == nil {
			rc, need, err := b.routeConfig(l.Name+"/"+c.Name, l, "https", c.VirtualHosts)
			if err != nil {
				return nil, err
			}
			shared = sharedRoute{rc.Name, need}
			if k.first != nil {
				if b.sharedRoutes == nil {
					b.sharedRoutes = map[vhostsKey]sharedRoute{}
				}
				b.sharedRoutes[k] = shared
			}
		}
		f, err = b.hcm(l.Name, shared.name, shared.need)
		if err != nil {
			return nil, err
		}
	} else if f, err = b.tcpProxy(l.Name, c.Backends); err != nil {
		return nil, err
	}
	fc.Filters = []*listenerv3.Filter{f}
	return fc, nil
}
