// Command devcluster runs Flotilla on a local control plane without containers (the same one the
// integration tests use: kube-apiserver, etcd, kube-controller-manager, kube-scheduler and KWOK).
//
//	devcluster demo   start it, run the manager, apply config/samples, print what happened, stop
//	devcluster up     start it with the manager and leave it running in the background
//	devcluster down   stop what `up` started
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/flotilla-dev/flotilla/internal/operator"
	"github.com/flotilla-dev/flotilla/test/cluster"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: devcluster demo|up|down")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "demo":
		err = demo()
	case "up":
		err = up()
	case "serve":
		err = serve()
	case "down":
		err = down()
	default:
		err = fmt.Errorf("unknown command %q; usage: devcluster demo|up|down", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

// stateDir is where `up` keeps the kubeconfig, logs and the PID of the background process.
func stateDir() string { return filepath.Join(cluster.RepoRoot(), "_output", "dev-cluster") }

// running is a control plane with Flotilla's manager attached.
type running struct {
	cluster *cluster.Cluster
	xdsAddr string
	cancel  context.CancelFunc
	mgrDone chan error
}

func start(ctx context.Context, dir string) (*running, error) {
	logf, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		return nil, err
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logf), zap.UseDevMode(true)))
	c, err := cluster.Start(ctx, cluster.Options{Dir: dir, Scheme: operator.NewScheme()})
	if err != nil {
		return nil, err
	}
	// The operator's namespace holds the built-in CA, as in an installed Flotilla.
	if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operator.DefaultNamespace}}); err != nil {
		_ = c.Stop()
		return nil, err
	}
	xdsAddr, err := cluster.FreeAddr()
	if err != nil {
		_ = c.Stop()
		return nil, err
	}
	mgr, err := operator.New(c.Config, operator.Options{MetricsAddr: "0", ProbeAddr: "0", XDSBindAddress: xdsAddr,
		LeaderElection: true, LeaderElectionNamespace: "kube-system"})
	if err != nil {
		_ = c.Stop()
		return nil, err
	}
	mctx, cancel := context.WithCancel(ctx)
	r := &running{cluster: c, xdsAddr: xdsAddr, cancel: cancel, mgrDone: make(chan error, 1)}
	go func() { r.mgrDone <- mgr.Start(mctx) }()
	return r, nil
}

func (r *running) stop() error {
	r.cancel()
	err := <-r.mgrDone
	return errors.Join(err, r.cluster.Stop())
}

func demo() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "flotilla-demo-")
	if err != nil {
		return err
	}
	fmt.Printf("Starting a local control plane (kube-apiserver, etcd, controller-manager, scheduler, KWOK) in %s\n", dir)
	t0 := time.Now()
	r, err := start(ctx, dir)
	if err != nil {
		return err
	}
	defer func() {
		if err := r.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping:", err)
		}
	}()
	fmt.Printf("Control plane and Flotilla manager up in %s\n\n", time.Since(t0).Round(100*time.Millisecond))
	objs, err := applySamples(ctx, r.cluster, filepath.Join(cluster.RepoRoot(), "config", "samples"))
	if err != nil {
		return err
	}
	if err := report(ctx, r.cluster, objs); err != nil {
		return err
	}
	for _, o := range objs {
		if o.GetKind() == "Gateway" {
			if err := printFleet(ctx, r.cluster, o.GetNamespace(), o.GetName()); err != nil {
				return err
			}
			if err := printXDS(ctx, r.cluster, r.xdsAddr, o.GetNamespace(), o.GetName()); err != nil {
				return err
			}
		}
	}
	return nil
}

func up() error {
	dir := stateDir()
	if pid, err := readPID(); err == nil && syscall.Kill(pid, 0) == nil {
		return fmt.Errorf("already running (pid %d); `make dev-cluster-down` first", pid)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	out, err := os.Create(filepath.Join(dir, "devcluster.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "serve")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	ready := filepath.Join(dir, "ready")
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			kubectl, _ := exec.Command(filepath.Join(cluster.RepoRoot(), "hack", "cluster-bins.sh"), "paths").Output()
			k8sDir := strings.Fields(string(kubectl))[0]
			fmt.Printf("Local control plane with the Flotilla manager running (pid %d). Logs: %s\n\n", cmd.Process.Pid, dir)
			fmt.Printf("  export KUBECONFIG=%s\n  export PATH=%s:$PATH   # kubectl v1.37 built from Go modules\n  kubectl apply -k config/samples\n\n", filepath.Join(dir, "kubeconfig"), k8sDir)
			fmt.Println("Stop it with `make dev-cluster-down`.")
			return nil
		}
		if cmd.ProcessState != nil {
			break
		}
	}
	return fmt.Errorf("control plane did not come up; see %s", out.Name())
}

func serve() error {
	dir := stateDir()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	r, err := start(context.Background(), dir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return errors.Join(err, r.stop())
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
		return errors.Join(err, r.stop())
	}
	<-ctx.Done()
	return r.stop()
}

func down() error {
	pid, err := readPID()
	if err != nil {
		fmt.Println("No dev cluster is running.")
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		fmt.Println("No dev cluster is running.")
		return os.RemoveAll(stateDir())
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			fmt.Println("Dev cluster stopped.")
			return os.Remove(filepath.Join(stateDir(), "pid"))
		}
	}
	return fmt.Errorf("pid %d did not stop within a minute", pid)
}

func readPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(stateDir(), "pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
