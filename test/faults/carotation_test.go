package faults

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/flotilla-dev/flotilla/internal/operator"
	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
)

// refused reads flotilla_xds_refused_streams_total{reason} from the process's registry.
func refused(t *testing.T) map[string]float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "flotilla_xds_refused_streams_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			out[label(m, "reason")] += m.GetCounter().GetValue()
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// A one-minute CA rotates by itself, twice, while an Envoy stays connected: whenever its stream
// ends (its CA retired, its certificate expired) it reconnects, as Envoy does, with the files its
// Pod has at that moment, and it is never refused.
func TestShortLivedCARotatesUnattended(t *testing.T) {
	ctx := context.Background()
	opNS := "flotilla-short"
	namespace(t, opNS)
	xdsAddr := freeAddr(t)
	// The admin's identity: this manager's operator namespace is not the one ManagerConfig set up.
	mgr, err := operator.New(env.Config, operator.Options{Namespace: opNS, MetricsAddr: "0", ProbeAddr: "0", XDSBindAddress: xdsAddr,
		LeaderElection: false, ReplicaName: "short", SkipControllerNameValidation: true,
		CALifetime: time.Minute, CAPropagation: 3 * time.Second, CARefreshInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	exited := make(chan error, 1)
	go func() { exited <- mgr.Start(mctx) }()
	defer func() {
		stop()
		<-exited
	}()
	ns := "team-short"
	class(t, "short")
	namespace(t, ns)
	gw := gateway(ns, "edge", "short")
	create(t, gw)
	programmed(t, gw, 60*time.Second)
	before := refused(t)

	// The Envoy: connect with the Pod's files, wait for the configuration, and reconnect whenever
	// the stream ends, until told to stop.
	files := func() *tls.Config {
		s, cm := &corev1.Secret{}, &corev1.ConfigMap{}
		if err := k8s.Get(ctx, fleetName(gw), s); err != nil {
			t.Error(err)
			return nil
		}
		if err := k8s.Get(ctx, fleetName(gw), cm); err != nil {
			t.Error(err)
			return nil
		}
		conf, err := xdstest.EnvoyTLS(s.Data[pki.KeyCert], s.Data[pki.KeyKey], []byte(cm.Data[provisioner.KeyXDSTrust]), "flotilla-xds."+opNS+".svc")
		if err != nil {
			t.Error(err)
			return nil
		}
		return conf
	}
	var mu sync.Mutex
	var connects int
	var ends []string
	done, stopEnvoy := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			conf := files()
			if conf == nil {
				return
			}
			c, err := xdstest.Dial(ctx, xdsAddr, conf, &corev3.Node{Id: "envoy", Cluster: ns + "/edge"})
			if err != nil {
				t.Errorf("dialling: %v", err)
				return
			}
			wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err = c.Wait(wctx, func() bool { return len(c.Names(resource.ListenerType)) > 0 })
			cancel()
			if err != nil {
				t.Errorf("connection %d got no configuration: %v (stream: %v)", connects+1, err, c.Err())
				_ = c.Close()
				return
			}
			mu.Lock()
			connects++
			mu.Unlock()
			select {
			case <-stopEnvoy:
				_ = c.Close()
				return
			case <-c.Done():
				mu.Lock()
				ends = append(ends, fmt.Sprint(c.Err()))
				mu.Unlock()
			}
		}
	}()

	// Two rotations complete (the second CA is due at two thirds of its minute).
	eventually(t, 150*time.Second, func(ctx context.Context) error {
		var list eventsv1.EventList
		if err := k8s.List(ctx, &list, client.InNamespace(opNS)); err != nil {
			return err
		}
		n := 0
		for _, e := range list.Items {
			if e.Reason == "CARotationCompleted" {
				n++
			}
		}
		if n < 2 {
			return fmt.Errorf("%d rotations completed", n)
		}
		return nil
	})
	close(stopEnvoy)
	<-done
	mu.Lock()
	defer mu.Unlock()
	t.Logf("the Envoy connected %d times; its streams ended with: %s", connects, strings.Join(ends, "; "))
	if connects < 2 {
		t.Errorf("the Envoy connected %d times: its stream was never moved to the new CA", connects)
	}
	after := refused(t)
	for _, r := range []string{"untrusted_issuer", "certificate_invalid", "tls_handshake", "unknown_fleet", "instance_mismatch", "no_certificate"} {
		if after[r] != before[r] {
			t.Errorf("flotilla_xds_refused_streams_total{reason=%s} moved from %v to %v while the CA rotated", r, before[r], after[r])
		}
	}
}
