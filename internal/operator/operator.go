// Package operator wires Flotilla's manager: scheme, caches, field indexes, controllers, health checks.
// cmd/main.go and the integration tests build the manager through it, so tests run the real wiring.
package operator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/apiwrites"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"github.com/flotilla-dev/flotilla/internal/scheme"
	"github.com/flotilla-dev/flotilla/internal/xds/server"
)

// Options are the manager's settings, as cmd/main.go reads them from flags.
type Options struct {
	// MetricsAddr is where metrics are served (":8443"); "0" turns the endpoint off.
	MetricsAddr string
	// SecureMetrics serves metrics over HTTPS behind Kubernetes authentication and authorization.
	SecureMetrics bool
	// ProbeAddr serves /healthz and /readyz; "0" turns them off.
	ProbeAddr string
	// LeaderElection makes only the elected replica provision and write status.
	LeaderElection bool
	// LeaderElectionNamespace holds the lease; empty means the namespace the manager runs in.
	LeaderElectionNamespace string
	// LeaseDuration, RenewDeadline and RetryPeriod tune leader election (defaults 60s, 40s, 5s):
	// the leader keeps leading through an API server outage shorter than RenewDeadline (client-go's
	// defaults, 15s/10s/2s, would make every replica drop leadership and exit after 10 s); a leader
	// that dies without releasing its lease is replaced after LeaseDuration (one that shuts down
	// releases it at once).
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
	// EnableHTTP2 allows HTTP/2 on the metrics server (off by default: CVE-2023-44487/39325).
	EnableHTTP2 bool
	// Namespace is the operator's namespace: it holds the built-in CA's Secret.
	Namespace string
	// EnvoyImage is the Envoy image of fleets whose FleetClass names none.
	EnvoyImage string
	// XDSAddress and XDSPort are where fleets reach the xDS server (the operator's xDS Service);
	// XDSAddress defaults to flotilla-xds.<Namespace>.svc.
	XDSAddress string
	XDSPort    int32
	// XDSBindAddress is where this replica serves xDS (":18000"); "0" serves none (the
	// translation still runs, for tests that only look at status).
	XDSBindAddress string
	// KubeAPIQPS and KubeAPIBurst limit the manager's requests to the API server (client-go's own
	// defaults, 5 and 10, would make 10,000 route status writes take over half an hour).
	KubeAPIQPS   float32
	KubeAPIBurst int
	// StatusQPS and StatusBurst limit the status writes, which go through a client of their own:
	// a fleet's first convergence writes one status per route (10,000 routes in 25 s at 400/s),
	// and they must not starve the reads and applies that the main limits pace. The API server's
	// priority and fairness still applies to both.
	StatusQPS   float32
	StatusBurst int
	// MaxConcurrentReconciles is how many fleets each controller works on at once (one key is
	// never reconciled concurrently).
	MaxConcurrentReconciles int
	// ReplicaName names this replica's data-plane report (a Lease in Namespace); it must differ
	// between replicas. Default: the host name (the Pod's name).
	ReplicaName string
	// DataPlaneReportRenewInterval is how often this replica renews its data-plane report;
	// DataPlaneReportExpiry is how long after its last renewal the leader stops counting it (a
	// replica that died). Defaults 10s and 30s; the expiry must exceed the renewal interval.
	DataPlaneReportRenewInterval time.Duration
	DataPlaneReportExpiry        time.Duration
	// CALifetime is the lifetime of the built-in CAs Flotilla makes; each is rotated at two
	// thirds of it. CAPropagation is each rotation phase's minimum length (it must exceed how long
	// kubelet takes to update a projected ConfigMap or Secret in a Pod, and CARefreshInterval);
	// CARefreshInterval is how often every replica re-reads the CA Secret. Defaults 5 years,
	// 5 minutes, 30 seconds.
	CALifetime        time.Duration
	CAPropagation     time.Duration
	CARefreshInterval time.Duration
	// SkipControllerNameValidation lets several managers run in one process (tests).
	SkipControllerNameValidation bool
}

// Defaults for Options fields left empty.
const (
	DefaultNamespace  = "flotilla-system"
	DefaultEnvoyImage = "docker.io/envoyproxy/envoy:distroless-v1.36.2"
	DefaultXDSPort    = 18000
	// DefaultKubeAPIQPS and DefaultKubeAPIBurst are the manager's API client limits.
	DefaultKubeAPIQPS   = 50
	DefaultKubeAPIBurst = 100
	// DefaultStatusQPS and DefaultStatusBurst are the status writes' limits.
	DefaultStatusQPS   = 400
	DefaultStatusBurst = 800
	// DefaultLeaseDuration, DefaultRenewDeadline and DefaultRetryPeriod are leader election's:
	// an API server outage of up to about 35 s does not cost the leader its lease.
	DefaultLeaseDuration = 60 * time.Second
	DefaultRenewDeadline = 40 * time.Second
	DefaultRetryPeriod   = 5 * time.Second
	// DefaultMaxConcurrentReconciles is each controller's number of workers.
	DefaultMaxConcurrentReconciles = 4
	// CASecretName is the built-in CA's Secret in the operator's namespace.
	CASecretName = "flotilla-ca"
)

func (o *Options) defaults() {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.EnvoyImage == "" {
		o.EnvoyImage = DefaultEnvoyImage
	}
	if o.XDSAddress == "" {
		o.XDSAddress = "flotilla-xds." + o.Namespace + ".svc"
	}
	if o.XDSPort == 0 {
		o.XDSPort = DefaultXDSPort
	}
	if o.XDSBindAddress == "" {
		o.XDSBindAddress = fmt.Sprintf(":%d", DefaultXDSPort)
	}
	if o.KubeAPIQPS <= 0 {
		o.KubeAPIQPS = DefaultKubeAPIQPS
	}
	if o.KubeAPIBurst <= 0 {
		o.KubeAPIBurst = DefaultKubeAPIBurst
	}
	if o.StatusQPS <= 0 {
		o.StatusQPS = DefaultStatusQPS
	}
	if o.StatusBurst <= 0 {
		o.StatusBurst = DefaultStatusBurst
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	if o.ReplicaName == "" {
		o.ReplicaName, _ = os.Hostname()
	}
	if o.DataPlaneReportRenewInterval <= 0 {
		o.DataPlaneReportRenewInterval = controller.DefaultReportRenewInterval
	}
	if o.DataPlaneReportExpiry <= 0 {
		o.DataPlaneReportExpiry = controller.DefaultReportExpiry
	}
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	if o.RenewDeadline <= 0 {
		o.RenewDeadline = DefaultRenewDeadline
	}
	if o.RetryPeriod <= 0 {
		o.RetryPeriod = DefaultRetryPeriod
	}
	if o.CALifetime <= 0 {
		o.CALifetime = controller.DefaultCALifetime
	}
	if o.CAPropagation <= 0 {
		o.CAPropagation = controller.DefaultCAPropagation
	}
	if o.CARefreshInterval <= 0 {
		o.CARefreshInterval = controller.DefaultCARefreshInterval
	}
}

func (o *Options) validate() error {
	if o.DataPlaneReportExpiry <= o.DataPlaneReportRenewInterval {
		return fmt.Errorf("the data-plane report expiry (%s) must exceed its renewal interval (%s)",
			o.DataPlaneReportExpiry, o.DataPlaneReportRenewInterval)
	}
	if o.LeaseDuration <= o.RenewDeadline || o.RenewDeadline <= o.RetryPeriod {
		return fmt.Errorf("leader election needs lease duration (%s) > renew deadline (%s) > retry period (%s)",
			o.LeaseDuration, o.RenewDeadline, o.RetryPeriod)
	}
	if o.CAPropagation <= o.CARefreshInterval {
		return fmt.Errorf("the CA rotation's propagation time (%s) must exceed the CA refresh interval (%s): every replica must re-read the CA within each phase",
			o.CAPropagation, o.CARefreshInterval)
	}
	if o.CALifetime < 3*o.CAPropagation {
		return fmt.Errorf("the CA lifetime (%s) must be at least three times the CA rotation's propagation time (%s)", o.CALifetime, o.CAPropagation)
	}
	if o.DataPlaneReportExpiry < time.Second {
		return fmt.Errorf("the data-plane report expiry (%s) must be at least a second", o.DataPlaneReportExpiry)
	}
	return nil
}

// LeaderElectionID is the name of the leader election lease.
const LeaderElectionID = "flotilla.gateway.flotilla.dev"

// NewScheme returns the scheme with every API group Flotilla reads or writes.
func NewScheme() *runtime.Scheme { return scheme.New() }

// servedKinds are the kinds Flotilla serves when their CRDs exist. Clusters may lack some (an
// OLM-installed Flotilla brings none of them; OpenShift owns the Gateway API CRDs).
var servedKinds = []schema.GroupKind{
	{Group: "gateway.networking.k8s.io", Kind: "HTTPRoute"},
	{Group: "gateway.networking.k8s.io", Kind: "GRPCRoute"},
	{Group: "gateway.networking.k8s.io", Kind: "TLSRoute"},
	{Group: "gateway.networking.k8s.io", Kind: "TCPRoute"},
	{Group: "gateway.networking.k8s.io", Kind: "UDPRoute"},
	{Group: "gateway.networking.k8s.io", Kind: "ListenerSet"},
	{Group: "gateway.networking.k8s.io", Kind: "ReferenceGrant"},
	{Group: "gateway.networking.k8s.io", Kind: "BackendTLSPolicy"},
	{Group: "inference.networking.k8s.io", Kind: "InferencePool"},
}

// unservedKinds lists the servedKinds whose CRDs are missing, as Kind names.
func unservedKinds(mgr ctrl.Manager) ([]string, error) {
	var missing []string
	for _, gk := range servedKinds {
		_, err := mgr.GetRESTMapper().RESTMapping(gk)
		switch {
		case meta.IsNoMatchError(err):
			missing = append(missing, gk.Kind)
		case err != nil:
			return nil, fmt.Errorf("discovering %s: %w", gk.Kind, err)
		}
	}
	return missing, nil
}

// hasKind says whether the API server serves a kind (an optional CRD such as cert-manager's).
func hasKind(mgr ctrl.Manager, gvk schema.GroupVersionKind) (bool, error) {
	_, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		return false, nil
	}
	return err == nil, err
}

// New builds the manager with every Flotilla controller registered.
func New(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	o.defaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	var tlsOpts []func(*tls.Config)
	if !o.EnableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{BindAddress: o.MetricsAddr, SecureServing: o.SecureMetrics, TLSOpts: tlsOpts}
	if o.SecureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	// The same client limits wherever the manager runs (in a cluster, in tests, in make demo).
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Controller: config.Controller{MaxConcurrentReconciles: o.MaxConcurrentReconciles,
			SkipNameValidation: &o.SkipControllerNameValidation},
		Scheme:                        NewScheme(),
		NewClient:                     apiwrites.NewClient,
		Metrics:                       metricsOpts,
		WebhookServer:                 webhook.NewServer(webhook.Options{TLSOpts: tlsOpts}),
		HealthProbeBindAddress:        o.ProbeAddr,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &o.LeaseDuration,
		RenewDeadline:                 &o.RenewDeadline,
		RetryPeriod:                   &o.RetryPeriod,
		Cache: cache.Options{
			// No cached object keeps its managedFields (often the largest part of its metadata).
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject: map[client.Object]cache.ByObject{
				// Pods are cached for InferencePools, cluster-wide: only what resolution reads is kept.
				&corev1.Pod{}: {Transform: controller.TransformPod},
				// Secrets are cached cluster-wide (certificates, CA bundles): only the keys Flotilla
				// reads are kept, so a Helm release or a token Secret costs its metadata alone.
				&corev1.Secret{}: {Transform: controller.TransformSecret},
				// Leases: only the replicas' data-plane reports, in the operator's namespace (leader
				// election reads its own Lease without the cache).
				&coordinationv1.Lease{}: {
					Namespaces: map[string]cache.Config{o.Namespace: {}},
					Label:      labels.SelectorFromSet(nil).Add(reportLabel()),
				},
			}},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := Setup(context.Background(), mgr, o); err != nil {
		return nil, err
	}
	return mgr, nil
}

// reportLabel selects the data-plane report Leases.
func reportLabel() labels.Requirement {
	r, err := labels.NewRequirement(controller.LabelDataPlaneReport, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant label key
	}
	return *r
}

// Setup registers Flotilla's indexes, controllers and health checks on a manager.
func Setup(ctx context.Context, mgr ctrl.Manager, o Options) error {
	o.defaults()

	unserved, err := unservedKinds(mgr)
	if err != nil {
		return err
	}
	if len(unserved) > 0 {
		mgr.GetLogger().Info("Some Gateway API and Inference Extension kinds are not installed and will not be served; install their CRDs and restart Flotilla",
			"missing", unserved)
	}
	if err := controller.SetupIndexes(ctx, mgr.GetFieldIndexer(), unserved); err != nil {
		return err
	}
	statusCfg := rest.CopyConfig(mgr.GetConfig())
	statusCfg.QPS, statusCfg.Burst = o.StatusQPS, o.StatusBurst
	statusClient, err := client.New(statusCfg, client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return fmt.Errorf("creating the status client: %w", err)
	}
	// Counted like every other write (flotilla_apiserver_writes_total).
	status := &controller.StatusWriter{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Writer: apiwrites.Wrap(statusClient)}
	rec := mgr.GetEventRecorder("flotilla")

	if err := (&controller.GatewayClassReconciler{Client: mgr.GetClient(), Status: status, Recorder: rec, Unserved: unserved}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the GatewayClass controller: %w", err)
	}
	withCertManager, err := hasKind(mgr, cmapi.SchemeGroupVersion.WithKind(cmapi.CertificateKind))
	if err != nil {
		return err
	}
	if !withCertManager {
		mgr.GetLogger().Info("cert-manager Certificate CRD not installed: FleetClasses that name a cert-manager issuer cannot be served")
	}
	certs := &controller.Certificates{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(),
		Namespace: o.Namespace, SecretName: CASecretName, Now: time.Now, Lifetime: o.CALifetime}
	events := controller.NewFleetEvents()
	// Every replica publishes its view of the fleets' Envoys; the leader sums them up.
	var report *controller.ReportPublisher
	if o.XDSBindAddress != "0" {
		report = &controller.ReportPublisher{Client: mgr.GetClient(), Namespace: o.Namespace, Replica: o.ReplicaName,
			RenewInterval: o.DataPlaneReportRenewInterval, Expiry: o.DataPlaneReportExpiry,
			MinInterval: controller.DefaultReportMinInterval}
	}
	trust := &controller.FleetTrust{Trusted: func() ([]*x509.Certificate, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cas, _, err := certs.Trusted(ctx)
		return cas, err
	}}
	// What the Envoys say reaches the Gateway's status through this replica's report, coalesced
	// like every other replica's; without an xDS server, nothing connects and nothing reports.
	onStatus := events.Notify
	if report != nil {
		onStatus = report.Changed
	}
	xds, err := newXDSServer(mgr, o, certs, trust, onStatus)
	if err != nil {
		return err
	}
	reports := &controller.DataPlaneReports{Reader: mgr.GetClient(), Namespace: o.Namespace, Replica: o.ReplicaName}
	if report == nil {
		reports.Self = xds
	} else {
		report.Source = xds
		if err := mgr.Add(report); err != nil {
			return fmt.Errorf("adding the data-plane report: %w", err)
		}
	}
	if err := (&controller.DataPlaneReportReconciler{Client: mgr.GetClient(), Reports: reports, Events: events}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the data-plane report controller: %w", err)
	}
	defaults := provisioner.Defaults{EnvoyImage: o.EnvoyImage, XDSAddress: o.XDSAddress, XDSPort: o.XDSPort,
		OperatorNamespace: o.Namespace}
	// One resolution per fleet and change: the xDS controller (every replica) resolves and
	// publishes, and stores the resolution the Gateway controller (leader) writes status from.
	resolutions := &controller.Resolutions{Events: events}
	translator := &controller.XDSReconciler{
		FleetInputs: controller.FleetInputs{Client: mgr.GetClient(), Unserved: unserved},
		DataPlane:   xds, Events: events, Trust: trust, Resolutions: resolutions,
		Reports: reports, Report: report,
		Defaults: defaults, XDSTrust: certs.TrustPEM,
	}
	if err := translator.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the xDS controller: %w", err)
	}
	// The built-in CA's rotation: the leader moves it on; every replica follows the CA Secret,
	// re-issues its server certificate, closes the streams whose CA left the trust bundle and has
	// every fleet's trust bundle and certificate brought up to date.
	caChanged := func(ctx context.Context) {
		if n := xds.Reauthorize(); n > 0 {
			mgr.GetLogger().Info("Closed xDS streams whose client certificate's CA is no longer trusted", "streams", n)
		}
		if err := translator.RequeueAll(ctx); err != nil {
			mgr.GetLogger().Error(err, "Requeueing the fleets after a CA change")
		}
	}
	if err := mgr.Add(&controller.CARefresh{Certs: certs, Interval: o.CARefreshInterval, OnChange: caChanged}); err != nil {
		return fmt.Errorf("adding the CA refresh: %w", err)
	}
	if err := mgr.Add(&controller.CARotation{Certs: certs, Client: mgr.GetClient(), Recorder: rec,
		Propagation: o.CAPropagation, Interval: o.CARefreshInterval,
		Changed: func(ctx context.Context) {
			if changed, err := certs.Refresh(ctx); err == nil && changed {
				caChanged(ctx)
			}
		}}); err != nil {
		return fmt.Errorf("adding the CA rotation: %w", err)
	}
	gateways := &controller.GatewayReconciler{
		FleetInputs: controller.FleetInputs{Client: mgr.GetClient(), Unserved: unserved},
		Status:      status, Recorder: rec,
		Applier:      &controller.Applier{Client: mgr.GetClient()},
		Certificates: certs,
		DataPlane:    translator, Events: events, Resolutions: resolutions, Reports: reports,
	}
	if err := gateways.SetupWithManager(mgr, withCertManager); err != nil {
		return fmt.Errorf("setting up the Gateway controller: %w", err)
	}
	if err := (&controller.ParamsReconciler[*flotillav1alpha1.FleetClass]{
		Name: "fleetclass", New: func() *flotillav1alpha1.FleetClass { return &flotillav1alpha1.FleetClass{} },
		Status: status, Recorder: rec,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the FleetClass controller: %w", err)
	}
	if err := (&controller.ParamsReconciler[*flotillav1alpha1.FleetConfig]{
		Name: "fleetconfig", New: func() *flotillav1alpha1.FleetConfig { return &flotillav1alpha1.FleetConfig{} },
		Status: status, Recorder: rec,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the FleetConfig controller: %w", err)
	}
	if err := (&controller.RouteFilterReconciler{Client: mgr.GetClient(), Status: status, Recorder: rec, Unserved: unserved}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the RouteFilter controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding readiness check: %w", err)
	}
	return nil
}

// xdsServerCertLifetime is how long the xDS server's certificate lives; it is re-issued at two
// thirds of that, in place.
const xdsServerCertLifetime = 7 * 24 * time.Hour

// newXDSServer makes the xDS server every replica runs (when o.XDSBindAddress is not "0"): its
// certificate comes from the built-in CA; fleets' certificates are trusted per FleetTrust.
func newXDSServer(mgr ctrl.Manager, o Options, certs *controller.Certificates, trust *controller.FleetTrust, onStatus func(fleet string)) (*server.Server, error) {
	svc, _, _ := strings.Cut(o.XDSAddress, ".")
	names := []string{o.XDSAddress}
	for _, n := range []string{svc, svc + "." + o.Namespace, svc + "." + o.Namespace + ".svc",
		svc + "." + o.Namespace + ".svc.cluster.local"} {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	creds := &pki.ServerCredentials{
		Load: func() (*pki.CA, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return certs.CA(ctx)
		},
		DNSNames: names, Lifetime: xdsServerCertLifetime, Now: time.Now,
	}
	s := server.New(server.Options{
		Address:           o.XDSBindAddress,
		GetCertificate:    creds.GetCertificate,
		ClientCAs:         trust.ClientCAs,
		AuthorizeFleet:    trust.AuthorizeFleet,
		Registerer:        metrics.Registry,
		Logger:            mgr.GetLogger().WithName("xds"),
		OnDataPlaneStatus: onStatus,
	})
	if o.XDSBindAddress != "0" {
		if err := mgr.Add(s); err != nil {
			return nil, fmt.Errorf("adding the xDS server: %w", err)
		}
	}
	return s, nil
}
