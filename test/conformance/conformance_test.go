package conformance

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/conformance"
	confv1 "sigs.k8s.io/gateway-api/conformance/apis/v1"
	"sigs.k8s.io/gateway-api/conformance/tests"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"

	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/features"
	"github.com/flotilla-dev/flotilla/internal/operator"
	"github.com/flotilla-dev/flotilla/test/cluster"
)

const gatewayClass = "flotilla"

// localStaticCIDR is where the local run's Gateways may take static addresses from: cluster IPs of
// the lower band of the Service range, which the API server hands out dynamically last.
const localStaticCIDR = "10.96.0.192/26"

// TestConformance runs the suite. With FLOTILLA_CONFORMANCE=local it first starts the local control
// plane and Flotilla's manager, and runs only the tests that need no data plane; otherwise it runs
// every test of the profiles Flotilla supports against the cluster in KUBECONFIG, where Flotilla
// must already be installed. Features are the ones Flotilla claims on its GatewayClass
// (internal/features): tests of other features are skipped, never faked.
func TestConformance(t *testing.T) {
	root := cluster.RepoRoot()
	report := filepath.Join(root, "_output", "conformance", "report.yaml")
	if err := os.MkdirAll(filepath.Dir(report), 0o755); err != nil {
		t.Fatal(err)
	}
	local := os.Getenv("FLOTILLA_CONFORMANCE") == "local"
	if local {
		startLocal(t)
	}
	opts := conformance.DefaultOptions(t)
	opts.GatewayClassName = gatewayClass
	opts.ReportOutputPath = report
	opts.SupportedFeatures = features.Names()
	opts.ConformanceProfiles = []suite.ConformanceProfileName{suite.GatewayHTTPConformanceProfileName,
		suite.GatewayGRPCConformanceProfileName, suite.GatewayTLSConformanceProfileName,
		suite.GatewayTCPConformanceProfileName, suite.GatewayUDPConformanceProfileName}
	opts.Implementation = confv1.Implementation{Organization: "flotilla-dev", Project: "flotilla",
		URL: "https://github.com/flotilla-dev/flotilla", Version: "v0.1.0", Contact: []string{"@flotilla-dev/maintainers"}}
	opts.CleanupBaseResources = true
	if local {
		// Tests of one kind share fixtures (a ReferenceGrant of one test admits another's Secret):
		// run them one at a time so each sees only its own.
		opts.DisableParallelTests = true
		keep := sets.New(statusOnly...)
		if only := os.Getenv("FLOTILLA_CONFORMANCE_TESTS"); only != "" {
			keep = sets.New(strings.Split(only, ",")...)
		}
		for _, ct := range tests.ConformanceTests {
			if !keep.Has(ct.ShortName) {
				opts.SkipTests = append(opts.SkipTests, ct.ShortName)
			}
		}
		slices.Sort(opts.SkipTests)
		// GatewayStaticAddresses: the usable address is in the conformance FleetClass's CIDR, the
		// unusable one in the cluster's Service range (10.96.0.0/16) but outside that CIDR.
		ip := gwapiv1.IPAddressType
		opts.UsableNetworkAddresses = []gwapiv1.GatewaySpecAddress{{Type: &ip, Value: "10.96.0.210"}}
		opts.UnusableNetworkAddresses = []gwapiv1.GatewaySpecAddress{{Type: &ip, Value: "10.96.0.110"}}
	}
	conformance.RunConformanceWithOptions(t, opts)
}

// startLocal starts the local control plane with Flotilla's manager, creates the GatewayClass the
// suite uses and points KUBECONFIG at the cluster for the suite's clients.
func startLocal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		t.Fatal(err)
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logf)))
	c, err := cluster.Start(ctx, cluster.Options{Dir: dir, Scheme: operator.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operator.DefaultNamespace}}); err != nil {
		t.Fatal(err)
	}
	mgr, err := operator.New(c.Config, operator.Options{MetricsAddr: "0", ProbeAddr: "0"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = c.Stop()
		t.Logf("manager log: %s", logf.Name())
	})
	// ClusterIP Services: the local control plane has no load balancer to give Gateways addresses.
	// Static addresses are cluster IPs from localStaticCIDR (GatewayStaticAddresses).
	fc := &flotillav1alpha1.FleetClass{ObjectMeta: metav1.ObjectMeta{Name: "conformance"},
		Spec: flotillav1alpha1.FleetClassSpec{Replicas: ptr.To[int32](1),
			Service: flotillav1alpha1.ServiceSpec{Type: flotillav1alpha1.ServiceTypeClusterIP,
				StaticAddresses: &flotillav1alpha1.StaticAddresses{Carrier: flotillav1alpha1.StaticAddressClusterIP,
					CIDRs: []flotillav1alpha1.IPPrefix{localStaticCIDR}}}}}
	if err := c.Client.Create(ctx, fc); err != nil {
		t.Fatal(err)
	}
	gc := &gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: gatewayClass},
		Spec: gwapiv1.GatewayClassSpec{ControllerName: controller.ControllerName, ParametersRef: &gwapiv1.ParametersReference{
			Group: "gateway.flotilla.dev", Kind: "FleetClass", Name: "conformance"}}}
	if err := c.Client.Create(ctx, gc); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", c.Kubeconfig)
}
