package gatewayapi

import (
	"math/rand/v2"
	"testing"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// markConflictsPairwise is markConflicts as the spec says it, comparing every pair of listeners:
// the reference for the indexed version.
func markConflictsPairwise(ls []*listener) {
	lostToEarlierTier := func(l *listener, earlier []*listener) bool {
		for _, e := range earlier {
			if e.supported && e.conflict == "" && pairConflict(e, l) != "" {
				return true
			}
		}
		return false
	}
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
				if !l.supported || !e.supported || lostToEarlierTier(l, ls[:start]) || lostToEarlierTier(e, ls[:start]) {
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

func TestMarkConflictsMatchesPairwise(t *testing.T) {
	protocols := []gwapiv1.ProtocolType{gwapiv1.HTTPProtocolType, gwapiv1.HTTPSProtocolType, gwapiv1.TLSProtocolType,
		gwapiv1.TCPProtocolType, gwapiv1.UDPProtocolType}
	hosts := []string{"", "a.example.com", "*.example.com", "b.example.com"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		var a, b []*listener
		tier := 0
		for range 1 + rng.IntN(12) {
			if rng.IntN(3) == 0 {
				tier++
			}
			l := listener{tier: tier, port: []int32{80, 443}[rng.IntN(2)], protocol: protocols[rng.IntN(len(protocols))],
				hostname: hosts[rng.IntN(len(hosts))], supported: rng.IntN(8) != 0}
			la, lb := l, l
			a, b = append(a, &la), append(b, &lb)
		}
		markConflicts(a)
		markConflictsPairwise(b)
		for i := range a {
			if a[i].conflict != b[i].conflict {
				for j := range a {
					t.Logf("tier %d port %d %s %q supported %v: %q, pairwise %q", b[j].tier, b[j].port, b[j].protocol, b[j].hostname,
						b[j].supported, a[j].conflict, b[j].conflict)
				}
				t.Fatalf("listener %d differs", i)
			}
		}
	}
}
