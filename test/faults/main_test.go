// Package faults tests what Flotilla does when things fail: the API server unreachable for 30 s
// during a burst of route changes, expired watches, and a leader killed (SIGKILL) in the middle of
// provisioning Gateways and writing route status. It runs its own control plane, with the watch
// cache off and etcd compacted every 5 s, so that a watch resumed after an outage is refused with
// 410 Gone and must relist.
package faults

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
	env       *cluster.Cluster
	k8s       client.Client
	mgrConfig *rest.Config
	dir       string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	var err error
	if dir, err = os.MkdirTemp("", "flotilla-faults-"); err != nil {
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
	env, err = cluster.Start(ctx, cluster.Options{Dir: dir, Scheme: operator.NewScheme(), APIServerFlags: map[string]string{
		// Watches go to etcd, which forgets old revisions within seconds: a watch resumed after
		// an outage gets 410 Gone, as it does on a busy cluster after minutes.
		"watch-cache":              "false",
		"etcd-compaction-interval": "5s",
	}})
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
	env.Config.QPS, env.Config.Burst = 500, 1000
	if k8s, err = client.New(env.Config, client.Options{Scheme: operator.NewScheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operator.DefaultNamespace}}); err != nil {
		fmt.Fprintln(os.Stderr, "creating the operator namespace:", err)
		return 1
	}
	if mgrConfig, err = env.ManagerConfig(ctx, operator.DefaultNamespace, "kube-system"); err != nil {
		fmt.Fprintln(os.Stderr, "giving the manager its identity:", err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		_ = os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "logs kept in %s\n", dir)
	}
	return code
}
