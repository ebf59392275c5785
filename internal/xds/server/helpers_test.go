package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
)

const serverName = "xds.flotilla.test"

// env is a Server serving on 127.0.0.1 with certificates from a fresh CA.
type env struct {
	srv   *Server
	addr  string
	ca    *pki.CA
	caKey []byte
	pair  *tls.Certificate
	opts  []func(*Options)
	reg   *prometheus.Registry
	stop  func() time.Duration // stops Serve and says how long it took

	mu      sync.Mutex
	notes   map[string]int // OnDataPlaneStatus calls by fleet
	changed chan struct{}  // closed and replaced on every OnDataPlaneStatus call
}

func start(t testing.TB, opts ...func(*Options)) *env {
	t.Helper()
	now := time.Now()
	ca, caKey, err := pki.NewCA(now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServer([]string{serverName}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{ca: ca, caKey: caKey, pair: &pair, opts: opts}
	e.serve(t, "127.0.0.1:0")
	return e
}

// restart stops e's server and serves a new one (no snapshot, a fresh registry) with the same
// CA, certificate and options on the same address, as a restarted manager would.
func (e *env) restart(t testing.TB) *env {
	t.Helper()
	e.stop()
	next := &env{ca: e.ca, caKey: e.caKey, pair: e.pair, opts: e.opts}
	next.serve(t, e.addr)
	return next
}

func (e *env) serve(t testing.TB, addr string) {
	t.Helper()
	e.reg, e.notes, e.changed = prometheus.NewRegistry(), map[string]int{}, make(chan struct{})
	o := Options{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return e.pair, nil },
		ClientCAs:      func() (*x509.CertPool, error) { return caPool(e.ca), nil },
		Registerer:     e.reg,
		Logger:         testr.NewWithInterface(t, testr.Options{Verbosity: 1}),
		OnDataPlaneStatus: func(fleet string) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.notes[fleet]++
			close(e.changed)
			e.changed = make(chan struct{})
		},
	}
	for _, opt := range e.opts {
		opt(&o)
	}
	e.srv = New(o)
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	e.addr = lis.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ctx, lis) }()
	var once sync.Once
	e.stop = func() (took time.Duration) {
		once.Do(func() {
			begin := time.Now()
			cancel()
			select {
			case err := <-served:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("Serve did not return after its context ended")
			}
			took = time.Since(begin)
		})
		return took
	}
	t.Cleanup(func() { e.stop() })
}

func (e *env) notifications(fleet string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.notes[fleet]
}

// waitStatus waits until the fleet's DataPlaneStatus satisfies cond, re-checking on every
// OnDataPlaneStatus call (which every change an Envoy causes makes).
func (e *env) waitStatus(t *testing.T, fleet, what string, cond func(DataPlaneStatus) bool) DataPlaneStatus {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		e.mu.Lock()
		ch := e.changed
		e.mu.Unlock()
		st := e.srv.DataPlaneStatus(fleet)
		if cond(st) {
			return st
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("timed out waiting for %s of %s; status %+v", what, fleet, st)
		}
	}
}

func acked(st DataPlaneStatus) bool { return st.Acked }

func rejected(st DataPlaneStatus) bool { return st.Rejected != nil }

func newCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, _, err := pki.NewCA(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func nodeOf(cluster, id string) *corev3.Node { return &corev3.Node{Id: id, Cluster: cluster} }

// anonymousTLS has a client certificate from the fleet CA that names no fleet.
func (e *env) anonymousTLS(t *testing.T) *tls.Config {
	t.Helper()
	block, _ := pem.Decode(e.caKey)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "infra/a"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, e.ca.Cert, leafKey.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: leafKey}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: caPool(e.ca), ServerName: serverName, MinVersion: tls.VersionTLS13}
}

func caPool(ca *pki.CA) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// clientTLS is the TLS configuration of an Envoy of fleet ns/name with a certificate from ca.
func clientTLS(t testing.TB, ca, serverCA *pki.CA, ns, name string) *tls.Config {
	t.Helper()
	certPEM, keyPEM, err := ca.IssueFleet(ns, name, "uid-"+ns+"-"+name, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: caPool(serverCA), ServerName: serverName, MinVersion: tls.VersionTLS13}
}

// dial connects an Envoy of fleet with its own certificate, claiming cluster in its node.
func (e *env) dial(t *testing.T, fleet, cluster, nodeID string) *xdstest.Client {
	t.Helper()
	ns, name, _ := strings.Cut(fleet, "/")
	return e.dialWith(t, clientTLS(t, e.ca, e.ca, ns, name), &corev3.Node{Id: nodeID, Cluster: cluster})
}

func (e *env) dialWith(t testing.TB, cfg *tls.Config, node *corev3.Node) *xdstest.Client {
	t.Helper()
	c, err := xdstest.Dial(t.Context(), e.addr, cfg, node)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (e *env) publish(t testing.TB, fleet string, res map[resource.Type][]types.Resource) {
	t.Helper()
	if _, err := e.srv.Publish(fleet, res); err != nil {
		t.Fatal(err)
	}
}

// within is a context for one wait.
func within(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond, for what no event announces (metrics).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var envoyTypeNames = map[string]string{
	resource.ClusterType: "cds", resource.EndpointType: "eds", resource.ListenerType: "lds",
	resource.RouteType: "rds", resource.SecretType: "sds",
}

// waitSynced waits until the client accepted every version published for fleet and holds every
// resource it subscribes to (a response to a partial subscription has the same version).
func waitSynced(t *testing.T, e *env, c *xdstest.Client, fleet string) {
	t.Helper()
	want := e.srv.Versions(fleet)
	if err := c.Wait(within(t), func() bool {
		for typ := range envoyTypeNames {
			if c.Version(typ) != want[typ] {
				return false
			}
			if typ != resource.ClusterType && typ != resource.ListenerType && !slices.Equal(c.Names(typ), c.Subscriptions(typ)) {
				return false
			}
		}
		return true
	}); err != nil {
		t.Fatalf("client of %s never got versions %v: %v", fleet, want, err)
	}
}

// responses counts a client's responses per type.
func responses(c interface{ Responses(string) int }) map[string]int {
	out := map[string]int{}
	for typ, short := range envoyTypeNames {
		out[short] = c.Responses(typ)
	}
	return out
}

// fleetSpec describes a small but complete fleet configuration: one HTTPS listener using RDS and
// an SDS certificate, one route configuration, one EDS cluster validating its backend with an
// SDS CA, its endpoints, and the two secrets.
type fleetSpec struct {
	prefix   string
	port     uint32
	endpoint string
	cert     string
	path     string
	extra    []string // more clusters (STRICT_DNS, so no EDS)
}

func specA() fleetSpec {
	return fleetSpec{prefix: "a", port: 8443, endpoint: "10.0.0.1", cert: "cert-a-1", path: "/"}
}

func specB() fleetSpec {
	return fleetSpec{prefix: "b", port: 9443, endpoint: "10.1.0.1", cert: "cert-b-1", path: "/"}
}

func (f fleetSpec) names() map[string][]string {
	return map[string][]string{
		resource.ClusterType:  append([]string{f.prefix + "-backend"}, f.extra...),
		resource.EndpointType: {f.prefix + "-backend"},
		resource.ListenerType: {f.prefix + "-https"},
		resource.RouteType:    {f.prefix + "-routes"},
		resource.SecretType:   {f.prefix + "-backend-ca", f.prefix + "-cert"},
	}
}

func (f fleetSpec) resources() map[resource.Type][]types.Resource {
	backend := f.prefix + "-backend"
	clusters := []types.Resource{&clusterv3.Cluster{
		Name:                 backend,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads()},
		ConnectTimeout:       durationpb.New(time.Second),
		TransportSocket: tlsSocket(&tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
				ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: f.prefix + "-backend-ca", SdsConfig: ads()},
			},
		}}),
	}}
	for _, name := range f.extra {
		clusters = append(clusters, &clusterv3.Cluster{
			Name:                 name,
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
			ConnectTimeout:       durationpb.New(time.Second),
			LoadAssignment:       endpoints(name, name+".example", 80),
		})
	}
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: f.prefix,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: f.prefix + "-routes", ConfigSource: ads(),
		}},
		HttpFilters: []*hcmv3.HttpFilter{{Name: "envoy.filters.http.router",
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: pack(&routerv3.Router{})}}},
	}
	listener := &listenerv3.Listener{
		Name:    f.prefix + "-https",
		Address: address("0.0.0.0", f.port),
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{Name: "envoy.filters.network.http_connection_manager",
				ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: pack(hcm)}}},
			TransportSocket: tlsSocket(&tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
				TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: f.prefix + "-cert", SdsConfig: ads()}},
			}}),
		}},
	}
	routes := &routev3.RouteConfiguration{
		Name: f.prefix + "-routes",
		VirtualHosts: []*routev3.VirtualHost{{
			Name: f.prefix, Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: f.path}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: backend}}},
			}},
		}},
	}
	inline := func(s string) *corev3.DataSource {
		return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: s}}
	}
	return map[resource.Type][]types.Resource{
		resource.ClusterType:  clusters,
		resource.EndpointType: {endpoints(backend, f.endpoint, 8080)},
		resource.ListenerType: {listener},
		resource.RouteType:    {routes},
		resource.SecretType: {
			&tlsv3.Secret{Name: f.prefix + "-cert", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
				CertificateChain: inline(f.cert), PrivateKey: inline("key-" + f.cert),
			}}},
			&tlsv3.Secret{Name: f.prefix + "-backend-ca", Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: inline("ca-" + f.prefix),
			}}},
		},
	}
}

func ads() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

func endpoints(cluster, host string, port uint32) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: cluster,
		Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: address(host, port)}},
		}}}},
	}
}

func address(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func tlsSocket(m proto.Message) *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: pack(m)}}
}

// pack packs deterministically, as the translator must for versions to be stable.
func pack(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		panic(err)
	}
	return a
}
