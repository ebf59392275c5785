package translate

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// TLSSecret is the PEM data of a Kubernetes TLS Secret.
type TLSSecret struct{ Cert, Key []byte }

// Resources is one fleet's xDS, each slice sorted by resource name. Resources may share
// sub-messages (config sources, typed configs): treat them as read-only.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Secrets   []*tlsv3.Secret
	// Warnings say what was left out and why (e.g. a certificate whose data is missing), sorted.
	Warnings []string
	// RouteWarnings are the warnings that concern one model route (an HTTPRoute or GRPCRoute rule
	// Envoy cannot be given as written), sorted by route then message: the controller reports
	// them on the route's status. Each is also in Warnings.
	RouteWarnings []RouteWarning

	// wire are the route configurations as published (see Wire), in the order of Routes; vhosts
	// the translations of their virtual hosts, for the next translation to reuse.
	wire   []*routev3.RouteConfiguration
	vhosts map[string][]*vhostMemo // by route configuration, in the order of its virtual hosts
	// clusterIndex is the model's clusters by name (for a next translation of the same ones).
	clusterIndex map[string]*model.Cluster
}

// RouteWarning is what translation changed about one model route, and why.
type RouteWarning struct {
	// Route is the model route's name, "<kind>/<ns>/<name>/rule/<i>/match/<j>".
	Route   string
	Message string
}

// ByType returns the resources keyed by go-control-plane resource type URL (resource.ListenerType,
// ...), as cachetypes.Resource slices. Every type is present, empty or not, so that a snapshot
// built from it also says "none" for the types the fleet does not use.
func (r *Resources) ByType() map[resource.Type][]types.Resource {
	return map[resource.Type][]types.Resource{
		resource.ListenerType: asResources(r.Listeners),
		resource.RouteType:    asResources(r.Routes),
		resource.ClusterType:  asResources(r.Clusters),
		resource.EndpointType: asResources(r.Endpoints),
		resource.SecretType:   asResources(r.Secrets),
	}
}

func asResources[T types.Resource](in []T) []types.Resource {
	out := make([]types.Resource, len(in))
	for i, m := range in {
		out[i] = m
	}
	return out
}

// builder holds what one Translate call shares between resources.
type builder struct {
	fleet   *model.Fleet
	secrets map[string]TLSSecret
	res     *Resources
	a       arena
	shares  []share // scratch space for shares
	// scratch space for the endpoints of one cluster
	endpoints []*model.Endpoint

	// Shared, immutable pieces: built once, referenced by many resources.
	ads          *corev3.ConfigSource
	router       *anypb.Any
	corsFilter   *anypb.Any
	tlsInspector *anypb.Any
	closeConn    *anypb.Any
	http2Options *anypb.Any
	overrideHost *clusterv3.LoadBalancingPolicy // built on first use (see inferenceCluster)
	telemetry    *telemetry                     // the tracer and OTLP access log (nil: none)

	// Endpoint Picker configs, packed once each (nil until a fleet has one).
	extProc    map[string]*anypb.Any               // listener ext_proc configs by picker cluster
	pickerUses map[model.EndpointPicker]*anypb.Any // per-route ext_proc configs by picker
	pickers    map[string]bool                     // clusters that are some pool's Endpoint Picker

	clusters        map[string]*model.Cluster     // model clusters by name
	available       map[string]bool               // Secrets that have data
	trust           map[string]*model.TrustBundle // trust bundles by name
	trustErr        map[string]error              // trust bundles checked: why one is unusable
	trustUsed       map[string]bool               // trust bundles a valid cluster refers to
	regexes         map[string]error              // checked regular expressions
	rbacs           map[rbacKey]*anypb.Any        // per-route RBAC configs already packed
	customResponses map[string]*anypb.Any         // custom_response configs by content
	// sharedRoutes are the route configurations of HTTPS filter chains by the virtual hosts they
	// were built from: chains that serve the same virtual hosts (an Ingress's TLS hosts, each
	// with its certificate, on its listener) share one RouteConfiguration instead of a copy each.
	sharedRoutes  map[vhostsKey]sharedRoute
	filterConfigs map[string]*anypb.Any   // listener-level protection filter configs by name
	enabled       *anypb.Any              // the FilterConfig that enables a disabled filter
	cors          map[*model.CORS]corsAny // CORS policies already packed
	corsByKey     map[string]*anypb.Any   // the same, by content
	warnings      []string
	routeWarnings []RouteWarning
	reuse         reuseFunc // nil: build every cluster

	// prevVhosts are the last translation's virtual hosts (nil: translate every one); reads,
	// while recording, the clusters the virtual host being translated reads.
	prevVhosts map[string][]*vhostMemo
	reads      []clusterFact
	recording  bool
	// factsKnown says factsChanged are the clusters whose facts (see clusterFact) differ from the
	// last translation's fleet's.
	factsKnown   bool
	factsChanged map[string]bool
	// keptClusters and keptCLAs say, by position in res, which messages are an earlier
	// translation's (validated then, so not again).
	keptClusters, keptCLAs []bool
	// sameClusters, when set, is the last translation, whose fleet had these very clusters.
	sameClusters *Resources
	// freshVhosts are the virtual hosts built (not reused), for finish to validate; allKept says
	// every cluster and ClusterLoadAssignment is the last translation's.
	freshVhosts []freshVhost
	allKept     bool
}

// freshVhost is a virtual host built by this translation, and its route configuration's name.
type freshVhost struct {
	rc string
	vh *routev3.VirtualHost
}

// sameArray says whether a and b are the same elements of the same array.
func sameArray[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// dependent says whether a cluster's messages depend on more than the cluster (backend TLS,
// pools and their pickers, gRPC health checks): those are always built again.
func dependent(c model.Cluster) bool {
	return c.TLS != nil || c.EndpointPicker != nil || c.InferencePool != "" || c.GRPCHealthCheck != ""
}

// Translate turns a fleet model into xDS. secrets is keyed by model.Secret.Name ("<ns>/<name>").
// Every returned resource passes ValidateAll(); an error means a bug (a resource failed
// validation, or the model broke one of its own rules) and names it.
func Translate(f *model.Fleet, secrets map[string]TLSSecret) (*Resources, error) {
	return translate(f, secrets, nil, nil, nil)
}

// reuseFunc gives, for a model cluster, the messages of an earlier translation to use as they
// are (see TranslateFrom); ok false builds them.
// are (see TranslateFrom); claKept says the ClusterLoadAssignment is the earlier one too (else it
// was built again: new endpoints); ok false builds them.
type reuseFunc func(b *builder, mc *model.Cluster) (c *clusterv3.Cluster, cla *endpointv3.ClusterLoadAssignment, claKept, ok bool)

func translate(f *model.Fleet, secrets map[string]TLSSecret, reuse reuseFunc, prev *Resources, prevFleet *model.Fleet) (*Resources, error) {
	if f == nil {
		return nil, errors.New("no fleet model")
	}
	b := &builder{reuse: reuse, fleet: f, prevVhosts: prev.memos(), secrets: secrets, res: &Resources{}, ads: adsSource(),
		available: map[string]bool{}, regexes: map[string]error{},
		cors: map[*model.CORS]corsAny{}, corsByKey: map[string]*anypb.Any{},
		trustErr: map[string]error{}, trustUsed: map[string]bool{}}
	same := prev != nil && prevFleet != nil && sameArray(f.Clusters, prevFleet.Clusters)
	if same && len(prev.Clusters) == len(f.Clusters) && len(prev.Endpoints) == len(f.Clusters) && !slices.ContainsFunc(f.Clusters, dependent) {
		// The very clusters of the last translation (a patch that changed none): its messages.
		b.sameClusters, b.factsKnown = prev, true
	} else if b.prevVhosts != nil {
		b.compareFacts(prevFleet)
	}
	if err := b.shared(); err != nil {
		return nil, err
	}
	if err := b.buildTelemetry(); err != nil {
		return nil, err
	}
	if same && prev.clusterIndex != nil {
		b.clusters = prev.clusterIndex // of these very clusters, checked then
	} else {
		b.clusters = make(map[string]*model.Cluster, len(f.Clusters))
		for i := range f.Clusters {
			c := &f.Clusters[i]
			if _, dup := b.clusters[c.Name]; dup || c.Name == "" || c.Name == InvalidBackendCluster || c.Name == CollectorCluster {
				return nil, fmt.Errorf("cluster %q: empty, reserved or duplicate name", c.Name)
			}
			b.clusters[c.Name] = c
		}
	}
	b.res.clusterIndex = b.clusters
	if err := b.checkPickers(); err != nil {
		return nil, err
	}
	if err := b.indexTrust(); err != nil {
		return nil, err
	}
	b.translateSecrets()
	for i := range f.Listeners {
		if err := b.listener(&f.Listeners[i]); err != nil {
			return nil, fmt.Errorf("listener %s: %w", f.Listeners[i].Name, err)
		}
	}
	if err := b.translateClusters(); err != nil {
		return nil, err
	}
	if c := b.collectorCluster(); c != nil && !b.allKept { // allKept: the last translation's, collector included
		b.res.Clusters, b.keptClusters = append(b.res.Clusters, c), append(b.keptClusters, false)
	}
	b.translateTrustBundles()
	if err := b.finish(); err != nil {
		return nil, err
	}
	if err := b.assemble(prev); err != nil {
		return nil, err
	}
	return b.res, nil
}

func (b *builder) warnf(format string, args ...any) {
	b.warnings = append(b.warnings, fmt.Sprintf(format, args...))
}

// routeWarnf records a warning about one model route: in Warnings as "route <name>: <message>",
// and in RouteWarnings for the route's status.
func (b *builder) routeWarnf(route, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.warnings = append(b.warnings, "route "+route+": "+msg)
	b.routeWarnings = append(b.routeWarnings, RouteWarning{Route: route, Message: msg})
}

// prefixed is where followed by ": ", or "" for an empty where.
func prefixed(where string) string {
	if where == "" {
		return ""
	}
	return where + ": "
}

// finish sorts and validates every resource, one resource type per goroutine (validation is
// most of the work for a large fleet), and sorts the warnings.
func (b *builder) finish() error {
	r := b.res
	checks := []func() error{
		func() error { return sortValidate("listener", r.Listeners, (*listenerv3.Listener).GetName) },
		func() error { // but for their virtual hosts, validated as they were built (see routeConfig)
			if err := sortUnique("route configuration", r.Routes, (*routev3.RouteConfiguration).GetName); err != nil {
				return err
			}
			for _, f := range b.freshVhosts {
				if err := f.vh.ValidateAll(); err != nil {
					return fmt.Errorf("route configuration %q is invalid: virtual host %s: %w", f.rc, f.vh.Name, err)
				}
			}
			return nil
		},
		func() error {
			if b.allKept { // the last translation's list, checked then
				return nil
			}
			return sortValidateNew("cluster", r.Clusters, (*clusterv3.Cluster).GetName, b.keptClusters)
		},
		func() error {
			if b.allKept {
				return nil
			}
			return sortValidateNew("cluster load assignment", r.Endpoints, (*endpointv3.ClusterLoadAssignment).GetClusterName, b.keptCLAs)
		},
		func() error { return sortValidate("secret", r.Secrets, (*tlsv3.Secret).GetName) },
	}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, check := range checks {
		wg.Go(func() { errs[i] = check() })
	}
	wg.Wait()
	slices.Sort(b.warnings)
	r.Warnings = slices.Compact(b.warnings)
	if len(b.routeWarnings) > 0 {
		slices.SortFunc(b.routeWarnings, func(x, y RouteWarning) int {
			return cmp.Or(cmp.Compare(x.Route, y.Route), cmp.Compare(x.Message, y.Message))
		})
		r.RouteWarnings = slices.Compact(b.routeWarnings)
	}
	return errors.Join(errs...)
}

// sortValidate sorts resources by name and validates each; names must be unique.
func sortValidate[T interface{ ValidateAll() error }](kind string, rs []T, name func(T) string) error {
	if err := sortUnique(kind, rs, name); err != nil {
		return err
	}
	for _, m := range rs {
		if err := m.ValidateAll(); err != nil {
			return fmt.Errorf("%s %q is invalid: %w", kind, name(m), err)
		}
	}
	return nil
}

// sortValidateNew is sortValidate for resources of which kept says, by position, which are an
// earlier translation's (validated then): only the others are validated, unless they are not in
// order yet (then every one is).
func sortValidateNew[T interface{ ValidateAll() error }](kind string, rs []T, name func(T) string, kept []bool) error {
	if len(kept) != len(rs) || !slices.IsSortedFunc(rs, func(a, b T) int { return cmp.Compare(name(a), name(b)) }) {
		return sortValidate(kind, rs, name)
	}
	if err := sortUnique(kind, rs, name); err != nil {
		return err
	}
	for i, m := range rs {
		if kept[i] {
			continue
		}
		if err := m.ValidateAll(); err != nil {
			return fmt.Errorf("%s %q is invalid: %w", kind, name(m), err)
		}
	}
	return nil
}

// sortUnique sorts resources by name; names must be unique.
func sortUnique[T any](kind string, rs []T, name func(T) string) error {
	if byName := func(a, b T) int { return cmp.Compare(name(a), name(b)) }; !slices.IsSortedFunc(rs, byName) {
		slices.SortFunc(rs, byName)
	}
	for i, m := range rs {
		if i > 0 && name(rs[i-1]) == name(m) {
			return fmt.Errorf("%s %q: duplicate name", kind, name(m))
		}
	}
	return nil
}

// vhostsKey identifies a slice of virtual hosts (its first element and length).
type vhostsKey struct {
	first *model.VirtualHost
	n     int
}

// sharedRoute is a route configuration built for a filter chain, with the filters it needs.
type sharedRoute struct {
	name string
	need httpFilters
}
