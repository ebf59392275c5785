package gatewayapi

import (
	"fmt"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// protocolFamily groups protocols that can share a port: HTTPS and TLS (of either mode,
// TLSRouteModeMixed) all dispatch on SNI.
func protocolFamily(p gwapiv1.ProtocolType) string {
	switch p {
	case gwapiv1.HTTPSProtocolType, gwapiv1.TLSProtocolType:
		return "tls"
	default:
		return string(p)
	}
}

// transport is the socket type of a port: UDP listeners never conflict with TCP-based ones.
func transport(p gwapiv1.ProtocolType) string {
	if p == gwapiv1.UDPProtocolType {
		return "udp"
	}
	return "tcp"
}

// pairConflict says why two listeners are not distinct ("" when they are).
func pairConflict(a, b *listener) gwapiv1.ListenerConditionReason {
	if a.port != b.port || transport(a.protocol) != transport(b.protocol) {
		return ""
	}
	if protocolFamily(a.protocol) != protocolFamily(b.protocol) {
		return gwapiv1.ListenerReasonProtocolConflict
	}
	switch a.protocol {
	case gwapiv1.TCPProtocolType, gwapiv1.UDPProtocolType:
		// TCP and UDP listeners are told apart by port alone.
		return gwapiv1.ListenerReasonProtocolConflict
	}
	if a.hostname == b.hostname {
		return gwapiv1.ListenerReasonHostnameConflict
	}
	return ""
}

// markConflicts sets conflict on listeners (in precedence order) that are not distinct. A
// listener indistinct from a surviving listener of an earlier tier (the Gateway, then ListenerSets
// oldest first) loses to it; then, within one tier, every listener still indistinct from another
// is conflicted, as the spec requires (no winner inside a tier). The survivors of earlier tiers
// are indexed by port, so that many ListenerSets cost linear time; a tier has at most 64
// listeners.
func markConflicts(ls []*listener) {
	survivors := map[portKey]*portSurvivors{}
	for start := 0; start < len(ls); {
		end := start
		for end < len(ls) && ls[end].tier == ls[start].tier {
			end++
		}
		tier := ls[start:end]
		lost := make([]bool, len(tier))
		for i, l := range tier {
			if l.supported {
				l.conflict = worse(l.conflict, survivors[portOf(l)].conflict(l))
				lost[i] = l.conflict != ""
			}
		}
		for i, l := range tier {
			for j, e := range tier[:i] {
				if !l.supported || !e.supported || lost[i] || lost[j] {
					continue
				}
				if reason := pairConflict(e, l); reason != "" {
					l.conflict, e.conflict = worse(l.conflict, reason), worse(e.conflict, reason)
				}
			}
		}
		for _, l := range tier {
			if l.supported && l.conflict == "" {
				k := portOf(l)
				if survivors[k] == nil {
					survivors[k] = &portSurvivors{families: map[string]bool{}, hostnames: map[string]bool{}}
				}
				survivors[k].add(l)
			}
		}
		start = end
	}
}

// portKey is a port and its socket type.
type portKey struct {
	transport string
	port      int32
}

func portOf(l *listener) portKey { return portKey{transport(l.protocol), l.port} }

// portSurvivors are the listeners of one port that won it in earlier tiers.
type portSurvivors struct {
	families  map[string]bool // protocol families
	hostnames map[string]bool // "<family>/<hostname>"
}

func (s *portSurvivors) add(l *listener) {
	f := protocolFamily(l.protocol)
	s.families[f] = true
	s.hostnames[f+"/"+l.hostname] = true
}

// conflict is the worst pairConflict between a survivor and l ("" when there is none).
func (s *portSurvivors) conflict(l *listener) gwapiv1.ListenerConditionReason {
	if s == nil {
		return ""
	}
	f := protocolFamily(l.protocol)
	switch {
	case len(s.families) > 1 || len(s.families) == 1 && !s.families[f]:
		return gwapiv1.ListenerReasonProtocolConflict
	case !s.families[f]:
		return ""
	case l.protocol == gwapiv1.TCPProtocolType || l.protocol == gwapiv1.UDPProtocolType:
		// TCP and UDP listeners are told apart by port alone.
		return gwapiv1.ListenerReasonProtocolConflict
	case s.hostnames[f+"/"+l.hostname]:
		return gwapiv1.ListenerReasonHostnameConflict
	}
	return ""
}

func worse(have, got gwapiv1.ListenerConditionReason) gwapiv1.ListenerConditionReason {
	if have == gwapiv1.ListenerReasonProtocolConflict || got == "" {
		return have
	}
	return got
}

// finish sets the Accepted, Conflicted and Programmed conditions once conflicts are known, and
// decides whether the listener carries traffic.
func (l *listener) finish() {
	accepted := string(gwapiv1.ListenerConditionAccepted)
	programmed := string(gwapiv1.ListenerConditionProgrammed)
	conflicted := string(gwapiv1.ListenerConditionConflicted)
	if l.conflict != "" {
		msg := fmt.Sprintf("Listener conflicts with another listener on port %d", l.port)
		if l.conflict == gwapiv1.ListenerReasonHostnameConflict {
			msg = fmt.Sprintf("Another listener on port %d has hostname %q", l.port, l.hostname)
		}
		if l.conflict == gwapiv1.ListenerReasonProtocolConflict {
			l.kinds = []gwapiv1.RouteGroupKind{} // it carries nothing, so it supports no route kind
		}
		l.c.set(accepted, false, string(l.conflict), msg)
		l.c.set(programmed, false, string(l.conflict), msg)
		l.c.set(conflicted, true, string(l.conflict), msg)
		l.sortConds()
		return
	}
	l.c.set(conflicted, false, string(gwapiv1.ListenerReasonNoConflicts), "No conflicts")
	if !l.supported {
		a := l.c.list[0] // newListener set Accepted first
		reason := a.Reason
		if reason != string(gwapiv1.ListenerReasonPortUnavailable) {
			reason = string(gwapiv1.ListenerReasonInvalid)
		}
		l.c.set(programmed, false, reason, a.Message)
		l.sortConds()
		return
	}
	l.c.set(accepted, true, string(gwapiv1.ListenerReasonAccepted), "Listener accepted")
	switch {
	case l.terminates && len(l.certs) == 0:
		l.c.set(programmed, false, string(gwapiv1.ListenerReasonInvalid), "No usable certificate: see ResolvedRefs")
	case len(l.kinds) == 0:
		l.c.set(programmed, false, string(gwapiv1.ListenerReasonInvalid), "No supported route kind: see ResolvedRefs")
	default:
		l.ready = true
		l.c.set(programmed, true, string(gwapiv1.ListenerReasonProgrammed), "Listener programmed")
	}
	l.sortConds()
}

// sortConds orders conditions by type, for stable output.
func (l *listener) sortConds() {
	order := map[string]int{"Accepted": 0, "Programmed": 1, "ResolvedRefs": 2, "Conflicted": 3}
	list := l.c.list
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && order[list[j].Type] < order[list[j-1].Type]; j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
}

func (l *listener) status() gwapiv1.ListenerStatus {
	return gwapiv1.ListenerStatus{Name: l.name, SupportedKinds: l.kinds, AttachedRoutes: l.attachedRoutes(), Conditions: l.c.list}
}

// attachedRoutes counts the routes attached to the listener; Ingresses are not routes.
func (l *listener) attachedRoutes() int32 {
	n := int32(0)
	for _, a := range l.routes {
		if a.route.kind != kindIngress {
			n++
		}
	}
	return n
}
