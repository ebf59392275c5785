package explain

import (
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	udpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"
)

// tcpProxy explains a TCP proxy: its clusters, weighted.
func (e *explainer) tcpProxy(tp *tcpproxyv3.TcpProxy) {
	var shares []share
	switch cs := tp.GetClusterSpecifier().(type) {
	case *tcpproxyv3.TcpProxy_Cluster:
		shares = []share{{cluster: cs.Cluster, weight: 1}}
	case *tcpproxyv3.TcpProxy_WeightedClusters:
		for _, c := range cs.WeightedClusters.GetClusters() {
			shares = append(shares, share{cluster: c.GetName(), weight: c.GetWeight()})
		}
	}
	bs := e.backends(shares, tcpFailure)
	e.d.Action = Action{Type: ActionTCPProxy, Backends: bs, Summary: "proxied (TCP) to " + sharesSummary(bs)}
}

// udp explains a UDP listener: its UDP proxy's route (the matcher's on_no_match action, or the
// deprecated cluster field).
func (e *explainer) udp(l *listenerv3.Listener) error {
	for _, f := range l.GetListenerFilters() {
		tc := f.GetTypedConfig()
		if !tc.MessageIs(&udpproxyv3.UdpProxyConfig{}) {
			continue
		}
		cfg := &udpproxyv3.UdpProxyConfig{}
		if err := unpack(tc, cfg); err != nil {
			return fmt.Errorf("listener %s: %w", l.GetName(), err)
		}
		cluster := cfg.GetCluster()
		if a := cfg.GetMatcher().GetOnNoMatch().GetAction(); a != nil {
			route := &udpproxyv3.Route{}
			if err := unpack(a.GetTypedConfig(), route); err != nil {
				return fmt.Errorf("listener %s: UDP proxy route: %w", l.GetName(), err)
			}
			cluster = route.GetCluster()
		}
		if cfg.GetMatcher().GetMatcherList() != nil || cfg.GetMatcher().GetMatcherTree() != nil {
			e.note("the UDP proxy's matchers are not evaluated by this tool: shown is its on_no_match route")
		}
		bs := e.backends([]share{{cluster: cluster, weight: 1}}, udpFailure)
		e.d.Action = Action{Type: ActionUDPProxy, Backends: bs, Summary: "proxied (UDP) to " + sharesSummary(bs)}
		return nil
	}
	e.stop(ActionIncomplete, 0, "the UDP listener has no UDP proxy this tool follows", "")
	return nil
}
