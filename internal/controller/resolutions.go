package controller

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var resolutionsTotal = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "flotilla_fleet_resolutions_total",
	Help: "Fleet resolutions (the cache read and Gateway API resolution of one Gateway's inputs). One input change costs one per replica.",
})

// resolutionPaths counts resolutions by how they were made (gatewayapi.ResolutionPath): full,
// memo (only changed routes converted) or patch (only what changed routes touch made again).
var resolutionPaths = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "flotilla_fleet_resolution_paths_total",
	Help: "Fleet resolutions by path: full, memo (only changed HTTPRoutes converted) or patch (only what the changed HTTPRoutes touch made again).",
}, []string{"path"})

func init() { metrics.Registry.MustRegister(resolutionsTotal, resolutionPaths) }

// fleetResolution is one fleet's resolution as the xDS controller computed it: the admission
// decision, and (for a Gateway of a decided Flotilla class) what resolve made of its inputs, with
// the routes' status already saying so when the Gateway is refused. Immutable once stored.
type fleetResolution struct {
	// uid and generation are the Gateway instance and spec the resolution is of.
	uid        types.UID
	generation int64
	adm        admission
	res        *resolved
}

// Resolutions is the per-fleet store between the two controllers: the xDS controller (every
// replica) resolves each fleet once per change, publishes from the resolution and stores it here;
// the Gateway controller (leader) provisions and writes status from the stored resolution, never
// resolving itself. A stored resolution notifies the Gateway controller (FleetEvents).
type Resolutions struct {
	Events *FleetEvents

	mu      sync.RWMutex
	byFleet map[string]*fleetResolution
}

// set stores a fleet's resolution and asks for its status to be written.
func (s *Resolutions) set(fleet string, r *fleetResolution) {
	s.mu.Lock()
	if s.byFleet == nil {
		s.byFleet = map[string]*fleetResolution{}
	}
	s.byFleet[fleet] = r
	s.mu.Unlock()
	s.Events.Notify(fleet)
}

// get returns the fleet's resolution if it is of this Gateway instance at this generation.
func (s *Resolutions) get(fleet string, uid types.UID, generation int64) *fleetResolution {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.byFleet[fleet]
	if r == nil || r.uid != uid || r.generation != generation {
		return nil
	}
	return r
}

// forget drops a fleet's resolution (its Gateway is gone or not Flotilla's).
func (s *Resolutions) forget(fleet string) {
	s.mu.Lock()
	_, had := s.byFleet[fleet]
	delete(s.byFleet, fleet)
	s.mu.Unlock()
	if had {
		s.Events.Notify(fleet) // the Gateway controller releases what the Gateway had
	}
}
