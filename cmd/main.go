// Command manager runs the Flotilla operator: the GatewayClass, Gateway and route controllers, the
// provisioner of Envoy fleets and the xDS server that configures them.
package main

import (
	"flag"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/operator"
)

func main() {
	var o operator.Options
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", "0",
		"Address the metrics endpoint binds to, such as :8443 (HTTPS) or :8080 (HTTP); 0 turns it off.")
	flag.BoolVar(&o.SecureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with authentication and authorization.")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address the health and readiness probes bind to.")
	flag.BoolVar(&o.LeaderElection, "leader-elect", true,
		"Elect a leader; only the leader provisions fleets and writes status.")
	flag.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "",
		"Namespace of the leader election lease (default: the namespace the manager runs in).")
	flag.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", operator.DefaultLeaseDuration,
		"How long a leader that died without releasing its lease keeps it.")
	flag.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", operator.DefaultRenewDeadline,
		"How long the leader keeps trying to renew its lease (an API server outage up to this long keeps the leader).")
	flag.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", operator.DefaultRetryPeriod,
		"How often leader election tries to acquire or renew the lease.")
	flag.BoolVar(&o.EnableHTTP2, "enable-http2", false, "Allow HTTP/2 on the metrics server.")
	flag.StringVar(&o.Namespace, "namespace", os.Getenv("POD_NAMESPACE"),
		"The operator's namespace, which holds the built-in CA (default: $POD_NAMESPACE, else "+operator.DefaultNamespace+").")
	flag.StringVar(&o.EnvoyImage, "envoy-image", operator.DefaultEnvoyImage, "Envoy image for fleets whose FleetClass names none.")
	flag.StringVar(&o.XDSAddress, "xds-address", "", "Host name fleets dial for xDS (default: flotilla-xds.<namespace>.svc).")
	var xdsPort int
	var qps float64
	flag.IntVar(&xdsPort, "xds-port", operator.DefaultXDSPort, "Port of the xDS Service.")
	flag.StringVar(&o.XDSBindAddress, "xds-bind-address", ":18000", "Address this replica serves xDS on; \"0\" turns the xDS server off.")
	flag.Float64Var(&qps, "kube-api-qps", operator.DefaultKubeAPIQPS, "Requests per second the manager may make to the API server.")
	flag.IntVar(&o.KubeAPIBurst, "kube-api-burst", operator.DefaultKubeAPIBurst, "Burst of requests above kube-api-qps the manager may make.")
	var statusQPS float64
	flag.Float64Var(&statusQPS, "status-qps", operator.DefaultStatusQPS, "Status writes per second the manager may make (a client of their own).")
	flag.IntVar(&o.StatusBurst, "status-burst", operator.DefaultStatusBurst, "Burst of status writes above status-qps.")
	flag.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", operator.DefaultMaxConcurrentReconciles,
		"Fleets each controller reconciles at once.")
	flag.StringVar(&o.ReplicaName, "replica-name", os.Getenv("POD_NAME"),
		"Name of this replica's data-plane report; must differ between replicas (default: $POD_NAME, else the host name).")
	flag.DurationVar(&o.DataPlaneReportRenewInterval, "data-plane-report-renew-interval", controller.DefaultReportRenewInterval,
		"How often each replica renews its data-plane report (what its Envoys said).")
	flag.DurationVar(&o.DataPlaneReportExpiry, "data-plane-report-expiry", controller.DefaultReportExpiry,
		"How long after its last renewal a replica's data-plane report stops counting (a replica that died).")
	flag.DurationVar(&o.CALifetime, "ca-lifetime", controller.DefaultCALifetime,
		"Lifetime of the built-in CAs Flotilla makes; each is rotated at two thirds of it.")
	flag.DurationVar(&o.CAPropagation, "ca-rotation-propagation", controller.DefaultCAPropagation,
		"Minimum length of each CA rotation phase: longer than kubelet takes to update a projected ConfigMap or Secret, and than --ca-refresh-interval.")
	flag.DurationVar(&o.CARefreshInterval, "ca-refresh-interval", controller.DefaultCARefreshInterval,
		"How often every replica re-reads the built-in CA's Secret (and the leader moves a rotation on).")
	zopts := zap.Options{}
	zopts.BindFlags(flag.CommandLine)
	flag.Parse()
	o.XDSPort = int32(xdsPort) //nolint:gosec // a port number
	o.KubeAPIQPS = float32(qps)
	o.StatusQPS = float32(statusQPS)

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zopts)))
	log := ctrl.Log.WithName("setup")

	mgr, err := operator.New(ctrl.GetConfigOrDie(), o)
	if err != nil {
		log.Error(err, "Unable to set up the manager")
		os.Exit(1)
	}
	log.Info("Starting manager")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "Manager stopped with an error")
		os.Exit(1)
	}
}
