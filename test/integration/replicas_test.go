package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/operator"
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
	"github.com/flotilla-dev/flotilla/test/cluster"
)

// startReplica starts another replica of the manager in the test process: the same identity, the
// same leader election lease (the TestMain manager holds it, so this one follows), its own xDS
// listener. stop ends it (also at the end of the test) and waits until it has.
func startReplica(t *testing.T, name string, renew, expiry time.Duration) (addr string, stop func()) {
	t.Helper()
	addr, err := cluster.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := operator.New(mgrConfig, operator.Options{
		MetricsAddr: "0", ProbeAddr: "0", XDSBindAddress: addr,
		LeaderElection: true, LeaderElectionNamespace: "kube-system",
		ReplicaName: name, DataPlaneReportRenewInterval: renew, DataPlaneReportExpiry: expiry,
		SkipControllerNameValidation: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("replica %s: %v", name, err)
		}
	})
	t.Cleanup(stop)
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = conn.Close()
		}
		return err
	})
	return addr, stop
}

// dialReplica connects as Envoy node of the fleet claim to the replica serving xDS at addr.
func dialReplica(t *testing.T, addr string, conf *tls.Config, node, claim string) *xdstest.Client {
	t.Helper()
	c, err := xdstest.Dial(context.Background(), addr, conf, &corev3.Node{Id: node, Cluster: claim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// dialServed is dialReplica once the replica serves the fleet (a replica just started may not
// know it yet and refuses the stream): it dials again until the Envoy has its listeners.
func dialServed(t *testing.T, addr string, conf *tls.Config, node, claim string) *xdstest.Client {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := dialReplica(t, addr, conf, node, claim)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.Wait(ctx, func() bool { return hasListener(c)() == nil })
		cancel()
		if err == nil {
			return c
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("replica at %s does not serve fleet %s: %v", addr, claim, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func hasListener(c *xdstest.Client) func() error {
	return func() error {
		if got := c.Names(resource.ListenerType); !slices.Contains(got, "http-80") {
			return fmt.Errorf("listeners %v", got)
		}
		return nil
	}
}

// A fleet's Envoys spread over two replicas: the leader's Gateway status counts them all, shows a
// NACK of an Envoy connected to the follower with its node and Envoy's message, and stops counting
// the follower's Envoys when it stops; a report of a replica that died stops counting when it
// expires, and the leader deletes it.
func TestDataPlaneStatusAcrossReplicas(t *testing.T) {
	tenantClass(t, "replicas", nil)
	ns := "team-replicas"
	namespace(t, ns, nil)
	gw := gateway(ns, "edge", "replicas", nil)
	create(t, gw)
	rt := httpRoute(ns, "app", []gwapiv1.ParentReference{{Name: "edge"}}, "web")
	rt.Spec.Hostnames = []gwapiv1.Hostname{"a.example.com"}
	create(t, rt)
	conf := fleetTLS(t, gw)
	claim := ns + "/edge"

	const expiry = 3 * time.Second
	followerAddr, stopFollower := startReplica(t, "follower", time.Second, expiry)
	leaderEnvoy := dialFleet(t, conf, claim)
	waitXDS(t, leaderEnvoy, "the fleet's listeners", hasListener(leaderEnvoy))
	f1 := dialServed(t, followerAddr, conf, "follower-envoy-1", claim)
	dialServed(t, followerAddr, conf, "follower-envoy-2", claim)
	dataPlaneCondition(t, gw, metav1.ConditionTrue, controller.ReasonDataPlaneAccepted, "3 connected Envoys on 2 replicas accepted")

	// An Envoy on the follower rejects the next route configuration: the leader says so.
	f1.Reject(resource.RouteType, "route: rejected by the follower's Envoy")
	setRouteHostname(t, rt, "b.example.com")
	dataPlaneCondition(t, gw, metav1.ConditionFalse, controller.ReasonDataPlaneRejected,
		"Envoy follower-envoy-1 rejected envoy.config.route.v3.RouteConfiguration version ")
	dataPlaneCondition(t, gw, metav1.ConditionFalse, controller.ReasonDataPlaneRejected, "route: rejected by the follower's Envoy")
	f1.Accept(resource.RouteType)
	setRouteHostname(t, rt, "c.example.com")
	dataPlaneCondition(t, gw, metav1.ConditionTrue, controller.ReasonDataPlaneAccepted, "3 connected Envoys on 2 replicas accepted")

	// The follower stops: its Envoys no longer count, within its report's expiry.
	stopFollower()
	stopped := time.Now()
	dataPlaneCondition(t, gw, metav1.ConditionTrue, controller.ReasonDataPlaneAccepted, "1 connected Envoy on 1 replica accepted")
	if took := time.Since(stopped); took > expiry+5*time.Second {
		t.Errorf("the stopped follower's Envoys counted for %s, its report expires after %s", took, expiry)
	}

	// A replica that died without a word: its report counts until it expires, then the leader
	// deletes it.
	ghost := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: operator.DefaultNamespace, Name: controller.ReportLeaseName("ghost"),
			Labels:      map[string]string{controller.LabelDataPlaneReport: controller.ReportLeaseName("ghost")},
			Annotations: map[string]string{controller.AnnotationDataPlaneReport: `{"fleets":{"` + claim + `":{"connected":2,"upToDate":2}}}`}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("ghost"), LeaseDurationSeconds: ptr.To(int32(expiry / time.Second)),
			RenewTime: ptr.To(metav1.NewMicroTime(time.Now()))},
	}
	create(t, ghost)
	dataPlaneCondition(t, gw, metav1.ConditionTrue, controller.ReasonDataPlaneAccepted, "3 connected Envoys on 2 replicas accepted")
	dataPlaneCondition(t, gw, metav1.ConditionTrue, controller.ReasonDataPlaneAccepted, "1 connected Envoy on 1 replica accepted")
	eventually(t, 10*time.Second, func(ctx context.Context) error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(ghost), &coordinationv1.Lease{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the expired report is still there (%v)", err)
		}
		return nil
	})

	// The last Envoy leaves.
	_ = leaderEnvoy.Close()
	dataPlaneCondition(t, gw, metav1.ConditionUnknown, controller.ReasonNoProxiesConnected, "No Envoy")
}

// The write rate of a replica's report under churn: many Envoys connecting, ACKing and leaving in
// a burst are written as a few coalesced reports (at most one a second), not one per change.
func TestDataPlaneReportWritesUnderChurn(t *testing.T) {
	tenantClass(t, "churn", nil)
	ns := "team-churn"
	namespace(t, ns, nil)
	gw := gateway(ns, "edge", "churn", nil)
	create(t, gw)
	conf := fleetTLS(t, gw)
	claim := ns + "/edge"
	addr, _ := startReplica(t, "churn", controller.DefaultReportRenewInterval, controller.DefaultReportExpiry)
	// The replica is up once its first Envoy is served.
	dialServed(t, addr, conf, "churn-envoy-0", claim)
	dataPlaneCondition(t, gw, metav1.ConditionTrue, controller.ReasonDataPlaneAccepted, "1 connected Envoy on 1 replica")

	// A burst: n Envoys connect and ACK, then all leave.
	const n = 40
	before, statusBefore := reportWrites(t), gatewayStatusWrites(t)
	start := time.Now()
	clients := make([]*xdstest.Client, n)
	for i := range clients {
		clients[i] = dialReplica(t, addr, conf, fmt.Sprintf("churn-envoy-%d", i+1), claim)
	}
	for _, c := range clients {
		waitXDS(t, c, "the fleet's listeners", hasListener(c))
	}
	dataPlaneCondition(t, gw, metav1.ConditionTrue, controller.ReasonDataPlaneAccepted, fmt.Sprintf("%d connected Envoys on 1 replica", n+1))
	for _, c := range clients {
		_ = c.Close()
	}
	dataPlaneCondition(t, gw, metav1.ConditionTrue, controller.ReasonDataPlaneAccepted, "1 connected Envoy on 1 replica")
	took := time.Since(start)
	writes := reportWrites(t) - before
	// Each Envoy changes the replica's view at least three times (connected, up to date, gone).
	t.Logf("burst: %d Envoys connecting, ACKing and leaving (≥ %d data-plane changes) in %s: %v report writes, %v Gateway status writes",
		n, 3*n, took.Round(time.Millisecond), writes, gatewayStatusWrites(t)-statusBefore)
	if writes >= n || writes > took.Seconds()+2 {
		t.Errorf("%v report writes in %s for %d Envoys: changes are not coalesced (at most one write a second)", writes, took, n)
	}

	// Sustained churn: for a while, Envoys come one after another up to 10, then leave one
	// after another, and again, so the replica's view keeps changing.
	before, statusBefore, start = reportWrites(t), gatewayStatusWrites(t), time.Now()
	churned := 0
	var open []*xdstest.Client
	for up := true; time.Since(start) < 4*time.Second; churned++ {
		if up {
			c := dialReplica(t, addr, conf, fmt.Sprintf("churn-envoy-x%d", churned), claim)
			waitXDS(t, c, "the fleet's listeners", hasListener(c))
			open = append(open, c)
		} else {
			_ = open[len(open)-1].Close()
			open = open[:len(open)-1]
			time.Sleep(5 * time.Millisecond)
		}
		if len(open) == 10 || len(open) == 0 {
			up = !up
		}
	}
	for _, c := range open {
		_ = c.Close()
	}
	took = time.Since(start)
	writes = reportWrites(t) - before
	t.Logf("sustained: %d Envoys connecting (and ACKing) or leaving one after another in %s: %v report writes (%.2f/s), %v Gateway status writes",
		churned, took.Round(time.Millisecond), writes, writes/took.Seconds(), gatewayStatusWrites(t)-statusBefore)
	if writes > took.Seconds()+2 {
		t.Errorf("%v report writes in %s: more than one a second", writes, took)
	}
}

// gatewayStatusWrites is the number of Gateway status writes of every manager in the process.
func gatewayStatusWrites(t *testing.T) float64 {
	t.Helper()
	total := 0.0
	for _, verb := range []string{"update-status", "patch-status"} {
		total += labelledCounters(t, "flotilla_apiserver_writes_total", map[string]string{"kind": "Gateway", "verb": verb})
	}
	return total
}

// reportWrites is the number of data-plane report writes (not renewals) of every replica in the process.
func reportWrites(t *testing.T) float64 {
	t.Helper()
	return labelledCounter(t, "flotilla_data_plane_report_writes_total", "kind", "report")
}
