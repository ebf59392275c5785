// Package integration runs Flotilla's real manager against a real kube-apiserver, with a controller
// manager, scheduler and KWOK beside it (see test/cluster), and checks what users see: status,
// Events and the objects created.
package integration

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/flotilla-dev/flotilla/internal/operator"
	"github.com/flotilla-dev/flotilla/test/cluster"
)

var (
	k8s client.Client // uncached client, as a user's kubectl
	env *cluster.Cluster
	// xdsAddr is where the manager serves xDS.
	xdsAddr string
	// mgrConfig is the manager's identity, for the further replicas a test starts.
	mgrConfig *rest.Config
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "flotilla-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logf, err := os.Create(dir + "/manager.log")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logf), zap.UseDevMode(true)))

	start := time.Now()
	env, err = cluster.Start(ctx, cluster.Options{Dir: dir, Scheme: operator.NewScheme()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test cluster:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the test cluster:", err)
		}
	}()
	fmt.Printf("test cluster up in %s (logs in %s)\n", time.Since(start).Round(time.Millisecond), dir)
	k8s = env.Client
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operator.DefaultNamespace}}); err != nil {
		fmt.Fprintln(os.Stderr, "creating the operator namespace:", err)
		return 1
	}

	// The manager runs with the RBAC generated from the markers, as when installed.
	mgrConfig, err = env.ManagerConfig(ctx, operator.DefaultNamespace, "kube-system")
	if err != nil {
		fmt.Fprintln(os.Stderr, "giving the manager its identity:", err)
		return 1
	}
	if xdsAddr, err = cluster.FreeAddr(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := startMain(); err != nil {
		fmt.Fprintln(os.Stderr, "creating the manager:", err)
		return 1
	}

	code := m.Run()
	if err := stopMain(); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		code = 1
	}
	if code == 0 {
		_ = os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "logs kept in %s\n", dir)
	}
	return code
}

// mainManager is the manager the tests run against (the leader), serving xDS at xdsAddr.
var mainManager struct {
	cancel context.CancelFunc
	done   chan error
}

// startMain starts the main manager; TestLeaderFailover stops it and starts it again.
func startMain() error {
	mgr, err := operator.New(mgrConfig, operator.Options{
		MetricsAddr: "0", ProbeAddr: "0", XDSBindAddress: xdsAddr,
		LeaderElection: true, LeaderElectionNamespace: "kube-system",
		// TestCARotation rotates the CA: each phase lasts 3 s, not 5 minutes.
		CAPropagation: 3 * time.Second, CARefreshInterval: 500 * time.Millisecond,
		// Started again after TestLeaderFailover: its controllers' names are taken.
		SkipControllerNameValidation: mainManager.done != nil,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	mainManager.cancel, mainManager.done = cancel, make(chan error, 1)
	go func(done chan error) { done <- mgr.Start(ctx) }(mainManager.done)
	return nil
}

// stopMain stops the main manager and waits until it has stopped.
func stopMain() error {
	mainManager.cancel()
	return <-mainManager.done
}

// eventually is cluster.Eventually.
func eventually(t *testing.T, timeout time.Duration, cond func(ctx context.Context) error) {
	t.Helper()
	cluster.Eventually(t, timeout, cond)
}
