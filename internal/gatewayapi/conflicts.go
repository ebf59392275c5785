package gatewayapi

import (
	"fmt"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// protocolFamily groups protocols that can share a port: HTTPS and TLS both dispatch on SNI.
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
// is conflicted, as the spec requires (no winner inside a tier).
func markConflicts(ls []*listener) {
	for start := 0; start < len(ls); {
		end := start
		for end < len(ls) && ls[end].tier == ls[start].tier {
			end++
		}
		tier := ls[start:end]
		for _, l := range tier {
			for _, e := range ls[:start] {
				if l.supported && e.supported && e.conflict == "" {
					l.conflict = worse(l.conflict, pairConflict(e, l))
				}
			}
		}
		for i, l := range tier {
			for _, e := range tier[:i] {
				if !l.supported || !e.supported || l.lostToEarlierTier(ls[:start]) || e.lostToEarlierTier(ls[:start]) {
					continue
				}
				if reason := pairConflict(e, l); reason != "" {
					l.conflict, e.conflict = worse(l.conflict, reason), worse(e.conflict, reason)
				}
			}
		}
		start = end
	}
}

// lostToEarlierTier says whether l is indistinct from a surviving listener of an earlier tier.
func (l *listener) lostToEarlierTier(earlier []*listener) bool {
	for _, e := range earlier {
		if e.supported && e.conflict == "" && pairConflict(e, l) != "" {
			return true
		}
	}
	return false
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
	return gwapiv1.ListenerStatus{Name: l.name, SupportedKinds: l.kinds, AttachedRoutes: int32(len(l.routes)), Conditions: l.c.list}
}
