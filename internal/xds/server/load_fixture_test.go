package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
)

// The load tests' fleets: loadPerFleet Envoys in each, and a route configuration of loadRoutes
// routes over loadClusters clusters (one EDS, the others STRICT_DNS).
const (
	loadPerFleet = 10
	loadRoutes   = 20
	loadClusters = 5
)

// loadFleet is one fleet of the load tests, with the client certificate its Envoys share.
type loadFleet struct {
	key             string // ns/name
	spec            fleetSpec
	certPEM, keyPEM []byte
	tls             *tls.Config
}

// newLoadFleets issues n fleets' certificates from e's CA (fleets load/f000, load/f001...).
func newLoadFleets(t testing.TB, e *env, n int) []*loadFleet {
	t.Helper()
	fleets := make([]*loadFleet, n)
	for i := range fleets {
		name := fmt.Sprintf("f%03d", i)
		spec := fleetSpec{prefix: name, port: 8443, endpoint: fmt.Sprintf("10.%d.%d.1", i/250, i%250), cert: "cert-" + name, path: "/"}
		for j := 1; j < loadClusters; j++ {
			spec.extra = append(spec.extra, fmt.Sprintf("%s-svc-%d", name, j))
		}
		certPEM, keyPEM, err := e.ca.IssueFleet("load", name, "uid-load-"+name, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		fleets[i] = &loadFleet{key: "load/" + name, spec: spec, certPEM: certPEM, keyPEM: keyPEM,
			tls: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: caPool(e.ca), ServerName: serverName, MinVersion: tls.VersionTLS13}}
	}
	return fleets
}

// resources are the fleet's resources (new objects on every call), its route configuration at
// revision rev: loadRoutes prefix routes spread over the clusters, the first one's prefix naming
// the revision, so that a new revision changes RDS alone.
func (f *loadFleet) resources(rev int) map[resource.Type][]types.Resource {
	res := f.spec.resources()
	clusters := append([]string{f.spec.prefix + "-backend"}, f.spec.extra...)
	routes := make([]*routev3.Route, loadRoutes)
	for j := range routes {
		prefix := fmt.Sprintf("/svc-%d/", j)
		if j == 0 {
			prefix = fmt.Sprintf("/svc-0/rev-%d/", rev)
		}
		routes[j] = &routev3.Route{
			Name:  fmt.Sprintf("route-%d", j),
			Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: prefix}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: clusters[j%len(clusters)]},
			}},
		}
	}
	res[resource.RouteType] = []types.Resource{&routev3.RouteConfiguration{
		Name:         f.spec.prefix + "-routes",
		VirtualHosts: []*routev3.VirtualHost{{Name: f.spec.prefix, Domains: []string{"*"}, Routes: routes}},
	}}
	return res
}

// ackedStreams counts the fleet's admitted streams that have accepted (ACKed) the fleet's
// current version of every type in typeURLs, as the server saw their requests. Unlike
// DataPlaneStatus it does not count a delta stream that has not yet been sent the current version.
func ackedStreams(s *Server, fleet string, typeURLs ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	current := s.versions[fleet]
	n := 0
	for st := range s.byFleet[fleet] {
		if !st.admitted {
			continue
		}
		acked := true
		for _, typ := range typeURLs {
			if ts := st.types[typ]; ts == nil || ts.accepted != current[typ] {
				acked = false
				break
			}
		}
		if acked {
			n++
		}
	}
	return n
}

// waitAcked polls until each fleet has want streams that ACKed every Envoy type (or ctx ends).
func waitAcked(ctx context.Context, s *Server, fleets []*loadFleet, want func(*loadFleet) int, every time.Duration) error {
	for _, f := range fleets {
		for ackedStreams(s, f.key, envoyTypes...) != want(f) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("fleet %s: %d of %d streams up to date (status %+v): %w",
					f.key, ackedStreams(s, f.key, envoyTypes...), want(f), s.DataPlaneStatus(f.key), ctx.Err())
			case <-time.After(every):
			}
		}
	}
	return nil
}

// quietLogger logs refusals and errors only (a stream admitted or closed is a V(1) line, and a
// thousand of them drown a failure's output).
func quietLogger(t testing.TB) func(*Options) {
	return func(o *Options) { o.Logger = testr.NewWithInterface(t, testr.Options{Verbosity: 0}) }
}

// discardLogger logs nothing: a benchmark's log is printed whether it fails or not.
func discardLogger(o *Options) { o.Logger = logr.Discard() }
