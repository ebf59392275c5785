package provisioner

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"
)

// parseYAML reads rendered YAML back into a proto, as Envoy would.
func parseYAML(t *testing.T, y string, into proto.Message) {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(j, into); err != nil {
		t.Fatalf("the rendered YAML does not parse back: %v", err)
	}
}

func TestBootstrap(t *testing.T) {
	gw := testGateway()
	p, _ := Merge(gw, nil, nil, testDefaults)
	y, sum, err := Bootstrap(gw, p)
	if err != nil {
		t.Fatal(err)
	}
	full := sha256.Sum256([]byte(y))
	if sum != hex.EncodeToString(full[:])[:16] {
		t.Errorf("checksum %q is not the first 16 hex digits of the SHA-256 of the bootstrap", sum)
	}

	bs := &bootstrapv3.Bootstrap{}
	parseYAML(t, y, bs)
	if err := bs.ValidateAll(); err != nil {
		t.Fatalf("parsed bootstrap invalid: %v", err)
	}
	if bs.GetNode().GetCluster() != "team-a/web" {
		t.Errorf("node.cluster = %q, want the fleet key", bs.GetNode().GetCluster())
	}
	if a := bs.GetAdmin().GetAddress().GetSocketAddress(); a.GetAddress() != "127.0.0.1" || a.GetPortValue() != 19000 {
		t.Errorf("admin on %v, want 127.0.0.1:19000", a)
	}
	if got := bs.GetDynamicResources().GetAdsConfig().GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName(); got != XDSClusterName {
		t.Errorf("ADS cluster %q", got)
	}
	xds := bs.GetStaticResources().GetClusters()[0]
	ep := xds.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if xds.GetName() != XDSClusterName || ep.GetAddress() != testDefaults.XDSAddress || ep.GetPortValue() != uint32(testDefaults.XDSPort) {
		t.Errorf("xDS cluster %s → %s:%d", xds.GetName(), ep.GetAddress(), ep.GetPortValue())
	}
	tlsContext := &tlsv3.UpstreamTlsContext{}
	if err := xds.GetTransportSocket().GetTypedConfig().UnmarshalTo(tlsContext); err != nil {
		t.Fatal(err)
	}
	common := tlsContext.GetCommonTlsContext()
	certPath := common.GetTlsCertificateSdsSecretConfigs()[0].GetSdsConfig().GetPathConfigSource().GetPath()
	caPath := common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig().GetSdsConfig().GetPathConfigSource().GetPath()
	if certPath != SDSDir+"/"+KeySDSCertificate || caPath != SDSDir+"/"+KeySDSValidationContext {
		t.Errorf("SDS paths %q, %q", certPath, caPath)
	}
	san := common.GetCombinedValidationContext().GetDefaultValidationContext().GetMatchTypedSubjectAltNames()[0]
	if san.GetSanType() != tlsv3.SubjectAltNameMatcher_DNS || san.GetMatcher().GetExact() != testDefaults.XDSAddress {
		t.Errorf("server SAN check %v", san)
	}
	if got := listenerNames(bs); !reflect.DeepEqual(got, []string{"health", "stats"}) {
		t.Errorf("listeners %v, want health and stats", got)
	}

	// Without Prometheus there is no stats listener; a different input changes the checksum;
	// the same input gives the same bytes.
	p.Prometheus = false
	y2, sum2, err := Bootstrap(gw, p)
	if err != nil {
		t.Fatal(err)
	}
	bs2 := &bootstrapv3.Bootstrap{}
	parseYAML(t, y2, bs2)
	if got := listenerNames(bs2); !reflect.DeepEqual(got, []string{"health"}) {
		t.Errorf("listeners without Prometheus %v, want health only", got)
	}
	if sum2 == sum {
		t.Error("checksum did not change with the bootstrap")
	}
	if y3, sum3, _ := Bootstrap(gw, p); y3 != y2 || sum3 != sum2 {
		t.Error("two renders of one bootstrap differ")
	}
}

func TestBootstrapXDSAddressIP(t *testing.T) {
	d := testDefaults
	d.XDSAddress = "10.0.0.7"
	gw := testGateway()
	p, _ := Merge(gw, nil, nil, d)
	y, _, err := Bootstrap(gw, p)
	if err != nil {
		t.Fatal(err)
	}
	bs := &bootstrapv3.Bootstrap{}
	parseYAML(t, y, bs)
	tlsContext := &tlsv3.UpstreamTlsContext{}
	if err := bs.GetStaticResources().GetClusters()[0].GetTransportSocket().GetTypedConfig().UnmarshalTo(tlsContext); err != nil {
		t.Fatal(err)
	}
	san := tlsContext.GetCommonTlsContext().GetCombinedValidationContext().GetDefaultValidationContext().GetMatchTypedSubjectAltNames()[0]
	if san.GetSanType() != tlsv3.SubjectAltNameMatcher_IP_ADDRESS || san.GetMatcher().GetExact() != "10.0.0.7" {
		t.Errorf("SAN check for an IP address: %v", san)
	}
}

func listenerNames(bs *bootstrapv3.Bootstrap) []string {
	var out []string
	for _, l := range bs.GetStaticResources().GetListeners() {
		out = append(out, l.GetName())
	}
	return out
}

func TestSDSFiles(t *testing.T) {
	files := SDSFiles()
	if len(files) != 2 {
		t.Fatalf("SDSFiles has %d entries, want 2", len(files))
	}
	want := map[string]string{KeySDSCertificate: SDSCertificateName, KeySDSValidationContext: SDSValidationContextName}
	for key, name := range want {
		resp := &discoveryv3.DiscoveryResponse{}
		parseYAML(t, files[key], resp)
		if len(resp.GetResources()) != 1 {
			t.Fatalf("%s: %d resources", key, len(resp.GetResources()))
		}
		secret := &tlsv3.Secret{}
		if err := resp.GetResources()[0].UnmarshalTo(secret); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if err := secret.ValidateAll(); err != nil {
			t.Errorf("%s: %v", key, err)
		}
		if secret.GetName() != name {
			t.Errorf("%s delivers secret %q, want %q (the name the bootstrap asks for)", key, secret.GetName(), name)
		}
	}
	files[KeySDSCertificate] = "changed"
	if SDSFiles()[KeySDSCertificate] == "changed" {
		t.Error("SDSFiles returns shared state")
	}
}
