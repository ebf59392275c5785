package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/healthz"

	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
)

// stormClient is what the storm test needs of both kinds of client.
type stormClient interface {
	Responses(typeURL string) int
	Received(typeURL string) int
	Done() <-chan struct{}
	Close() error
}

// A restarted server (a new manager process on the same address, publishing the same content)
// and every Envoy reconnecting at once, as Envoy does (state of the world: the versions it runs
// and its subscriptions; delta: the versions of the resources it holds): the versions are the
// same, each client gets at most one response per type (state of the world: the snapshot once;
// delta: an empty response per type, no resource sent again), and the server keeps answering
// meanwhile: a new Envoy's handshake and snapshot, the manager's health endpoint, DataPlaneStatus.
//
// Both ends of every connection live in this process, and 1,000 clients (100 fleets of 10) take
// 12 to 35 seconds for both modes on two shared cores: too long for make test, which runs 200
// (20 fleets; -short 100). FLOTILLA_SCALE=1 runs the 1,000:
//
//	FLOTILLA_SCALE=1 go test -count=1 -run TestReconnectStorm -v ./internal/xds/server
//
// The deadline bounds the test; nothing is timed.
func TestReconnectStorm(t *testing.T) {
	fleets := 20
	switch {
	case os.Getenv("FLOTILLA_SCALE") != "":
		fleets = 100
	case testing.Short():
		fleets = 10
	}
	for _, delta := range []bool{false, true} {
		name := "sotw"
		if delta {
			name = "delta"
		}
		t.Run(name, func(t *testing.T) { reconnectStorm(t, fleets, delta) })
	}
}

func reconnectStorm(t *testing.T, nFleets int, delta bool) {
	needFiles(t, uint64(4*nFleets*loadPerFleet)+256) // both ends of every connection, twice
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	first := start(t, quietLogger(t))
	fleets := newLoadFleets(t, first, nFleets)
	for _, f := range fleets {
		first.publish(t, f.key, f.resources(0))
	}
	dial := func(f *loadFleet, id string, addr string) stormClient {
		node := nodeOf(f.key, id)
		var c stormClient
		var err error
		if delta {
			c, err = xdstest.DialDelta(ctx, addr, f.tls, node, envoyTypes...)
		} else {
			c, err = xdstest.Dial(ctx, addr, f.tls, node)
		}
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	clients := make([]stormClient, 0, nFleets*loadPerFleet)
	owner := make([]*loadFleet, 0, cap(clients))
	for _, f := range fleets {
		for i := range loadPerFleet {
			clients = append(clients, dial(f, fmt.Sprintf("%s-%d", f.key, i), first.addr))
			owner = append(owner, f)
		}
	}
	t.Cleanup(func() { closeAll(clients) })
	perFleet := func(*loadFleet) int { return loadPerFleet }
	if err := waitAcked(ctx, first.srv, fleets, perFleet, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	versions := map[string]map[string]string{}
	for _, f := range fleets {
		versions[f.key] = first.srv.Versions(f.key)
	}

	// The restart: every stream ends, a new server publishes the same content (new objects).
	second := first.restart(t)
	for _, c := range clients {
		select {
		case <-c.Done():
		case <-ctx.Done():
			t.Fatal("a client's stream outlived its server")
		}
	}
	closeAll(clients) // their connections too: gRPC would otherwise dial the new server again
	for _, f := range fleets {
		second.publish(t, f.key, f.resources(0))
		if got := second.srv.Versions(f.key); !mapsEqual(got, versions[f.key]) {
			t.Fatalf("fleet %s: versions after the restart %v, before %v", f.key, got, versions[f.key])
		}
	}

	// The manager's probe endpoint, served by this process as the manager serves it.
	probe := httptest.NewServer(http.StripPrefix("/healthz", &healthz.Handler{Checks: map[string]healthz.Checker{"ping": healthz.Ping}}))
	defer probe.Close()

	storm := make(chan struct{})
	reconnected := make([]stormClient, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			<-storm
			var err error
			if delta {
				reconnected[i], err = xdstest.RedialDelta(ctx, c.(*xdstest.DeltaClient), second.addr, owner[i].tls)
			} else {
				reconnected[i], err = xdstest.Redial(ctx, c.(*xdstest.Client), second.addr, owner[i].tls)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(func() { closeAll(reconnected) })
	close(storm)

	// During the storm: a new Envoy of the first fleet gets its snapshot, the health endpoint
	// and DataPlaneStatus answer.
	newcomer := dial(fleets[0], "newcomer", second.addr)
	defer func() { _ = newcomer.Close() }()
	probes := 0
	for stormOver := false; !stormOver; {
		resp, err := probe.Client().Get(probe.URL + "/healthz")
		if err != nil {
			t.Fatalf("health probe during the storm: %v", err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("health probe during the storm: %s", resp.Status)
		}
		_ = second.srv.DataPlaneStatus(fleets[len(fleets)-1].key)
		probes++
		stormOver = ackedStreams(second.srv, fleets[0].key, envoyTypes...) == loadPerFleet+1
		select {
		case <-ctx.Done():
			t.Fatalf("the new Envoy did not get its snapshot during the storm (status %+v)", second.srv.DataPlaneStatus(fleets[0].key))
		case <-time.After(5 * time.Millisecond):
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	withNewcomer := func(f *loadFleet) int {
		if f == fleets[0] {
			return loadPerFleet + 1
		}
		return loadPerFleet
	}
	if err := waitAcked(ctx, second.srv, fleets, withNewcomer, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	// Every response the server counted has arrived (it counts before sending); then each
	// reconnected client has had at most one per type.
	all := slices.Concat(reconnected, []stormClient{newcomer})
	clientPushes := func() (n int) {
		for _, c := range all {
			for typ := range envoyTypeNames {
				n += c.Responses(typ)
			}
		}
		return n
	}
	eventually(t, "the pushes the server counted arrive", func() bool {
		return second.pushes(t) == clientPushes()
	})
	resent := 0
	for i, c := range reconnected {
		for typ, short := range envoyTypeNames {
			if n := c.Responses(typ); n > 1 {
				t.Errorf("client %d of %s: %d %s responses after reconnecting, want at most 1", i, owner[i].key, n, short)
			}
			resent += c.Received(typ)
		}
	}
	if delta && resent != 0 {
		t.Errorf("delta clients were sent %d resources again, all of which they held at the same version", resent)
	}
	t.Logf("%d clients reconnected: %d pushes (%.2f per client), %d resources sent again; %d health probes answered during the storm",
		len(reconnected), clientPushes()-sum(responses(newcomer)), float64(clientPushes()-sum(responses(newcomer)))/float64(len(reconnected)), resent, probes)
}

func closeAll(cs []stormClient) {
	var wg sync.WaitGroup
	for _, c := range cs {
		if c != nil {
			wg.Go(func() { _ = c.Close() })
		}
	}
	wg.Wait()
}

func sum(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

// pushes sums flotilla_xds_pushes_total over every fleet and type.
func (e *env) pushes(t testing.TB) int {
	t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, f := range families {
		if f.GetName() == "flotilla_xds_pushes_total" {
			for _, m := range f.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return int(n)
}
