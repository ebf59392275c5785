package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
)

// The load benchmark: loadFleets fleets of loadPerFleet Envoys each, and loadRounds route changes
// per fleet per iteration for the fan-out distribution.
const (
	loadFleets = 100
	loadRounds = 3
)

// loadClientsEnv names the configuration file of the benchmark's client process.
const loadClientsEnv = "FLOTILLA_LOAD_CLIENTS"

// loadClientsConfig is what the client process is told: where to connect, how, and as whom.
type loadClientsConfig struct {
	Addr     string
	Delta    bool
	PerFleet int
	ServerCA []byte
	Fleets   []loadClientFleet
}

type loadClientFleet struct {
	Fleet         string
	Cert, CertKey []byte
}

// BenchmarkADSLoad connects loadFleets×loadPerFleet (1,000) ADS clients over mutual TLS on
// 127.0.0.1, state of the world and delta, and reports:
//
//   - conns/s: streams set up per second, from the moment the clients start dialling (all at
//     once) until the server has seen every stream ACK every type of its fleet's snapshot (TLS
//     handshake, stream admission, the full snapshot sent and ACKed);
//   - server-cpu-ms/conn: the server process's CPU time (user and system) over the set-up, per
//     client: what a connection costs the server whatever the clients' share of the cores;
//   - heap-MiB/1k-clients and stack-MiB/1k-clients: the server's HeapInuse and StackInuse with the
//     clients connected less before they connected (both after a GC), per 1,000 clients; the
//     clients run in another process (this test binary, re-executed as TestLoadClients), so the
//     figures are the server's alone: gRPC transports, TLS state, go-control-plane's watches and
//     Flotilla's stream bookkeeping;
//   - goroutines/client: the server's goroutines per connected client (and, checked, none of them
//     left once the clients have gone);
//   - fanout-p50-ms and fanout-p99-ms: one fleet's route configuration changes (Publish), and the
//     time until the server has seen all its Envoys ACK the new RDS version; fleets change one
//     at a time, loadRounds times each per iteration.
//
// Both processes share the machine's cores, so the set-up rate includes the clients' side of the
// handshakes. Run it with -benchtime 1x (an iteration connects every client once).
func BenchmarkADSLoad(b *testing.B) {
	for _, mode := range []string{"sotw", "delta"} {
		b.Run(mode, func(b *testing.B) { benchmarkLoad(b, mode == "delta") })
	}
}

func benchmarkLoad(b *testing.B, delta bool) {
	clients := loadFleets * loadPerFleet
	needFiles(b, uint64(clients)+256)
	e := start(b, discardLogger)
	fleets := newLoadFleets(b, e, loadFleets)
	for _, f := range fleets {
		e.publish(b, f.key, f.resources(0))
	}
	conf := loadClientsConfig{Addr: e.addr, Delta: delta, PerFleet: loadPerFleet, ServerCA: e.ca.CertPEM}
	for _, f := range fleets {
		conf.Fleets = append(conf.Fleets, loadClientFleet{Fleet: f.key, Cert: f.certPEM, CertKey: f.keyPEM})
	}
	confFile := filepath.Join(b.TempDir(), "clients.json")
	raw, err := json.Marshal(conf)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(confFile, raw, 0o600); err != nil {
		b.Fatal(err)
	}

	// One Envoy first, so that what the process initialises once (protobuf descriptors, TLS and
	// gRPC state) is not counted as the first iteration's clients' memory.
	warm := e.dialWith(b, fleets[0].tls, nodeOf(fleets[0].key, "warm-up"))
	if err := waitAcked(b.Context(), e.srv, fleets[:1], func(*loadFleet) int { return 1 }, time.Millisecond); err != nil {
		b.Fatal(err)
	}
	_ = warm.Close()
	waitDisconnected(b, e.srv, fleets[:1])

	var rates, setupCPU, heap, stack, goroutines []float64
	var fanout []time.Duration
	rev := 0
	for range b.N {
		before := memory()
		cpu := processCPU()
		clientsDone, began := runLoadClients(b, confFile)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if err := waitAcked(ctx, e.srv, fleets, func(*loadFleet) int { return loadPerFleet }, 2*time.Millisecond); err != nil {
			b.Fatal(err)
		}
		rates = append(rates, float64(clients)/time.Since(began).Seconds())
		setupCPU = append(setupCPU, ms(processCPU()-cpu)/float64(clients))
		after := memory()
		perK := 1000 / float64(clients) / (1 << 20)
		heap = append(heap, float64(int64(after.heap)-int64(before.heap))*perK)
		stack = append(stack, float64(int64(after.stack)-int64(before.stack))*perK)
		goroutines = append(goroutines, float64(after.goroutines-before.goroutines)/float64(clients))

		for range loadRounds {
			rev++
			for _, f := range fleets {
				took, err := fanOut(ctx, e.srv, f, rev)
				if err != nil {
					b.Fatal(err)
				}
				fanout = append(fanout, took)
			}
		}
		cancel()
		clientsDone()
		waitDisconnected(b, e.srv, fleets)
		// Nothing per stream outlives it: the goroutines go back to what they were.
		eventually(b, "the streams' goroutines end", func() bool { return runtime.NumGoroutine() <= before.goroutines+8 })
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(mean(rates), "conns/s")
	b.ReportMetric(mean(setupCPU), "server-cpu-ms/conn")
	b.ReportMetric(mean(heap), "heap-MiB/1k-clients")
	b.ReportMetric(mean(stack), "stack-MiB/1k-clients")
	b.ReportMetric(mean(goroutines), "goroutines/client")
	slices.Sort(fanout)
	b.ReportMetric(ms(percentile(fanout, 0.50)), "fanout-p50-ms")
	b.ReportMetric(ms(percentile(fanout, 0.99)), "fanout-p99-ms")
}

// fanOut publishes the fleet's route configuration at revision rev and returns how long until
// every one of its Envoys has ACKed it, polling the server's view every 50µs.
func fanOut(ctx context.Context, s *Server, f *loadFleet, rev int) (time.Duration, error) {
	began := time.Now()
	if _, err := s.Publish(f.key, f.resources(rev)); err != nil {
		return 0, err
	}
	for ackedStreams(s, f.key, resource.RouteType) != loadPerFleet {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("fleet %s revision %d: %d of %d Envoys ACKed: %w", f.key, rev,
				ackedStreams(s, f.key, resource.RouteType), loadPerFleet, ctx.Err())
		}
		time.Sleep(50 * time.Microsecond)
	}
	return time.Since(began), nil
}

// runLoadClients starts the client process and returns when it starts dialling, with a function
// that ends it (closing its standard input) and waits for it.
func runLoadClients(b *testing.B, confFile string) (done func(), began time.Time) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadClients$", "-test.count=1")
	cmd.Env = append(os.Environ(), loadClientsEnv+"="+confFile)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	lines := bufio.NewReader(stdout)
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			b.Fatalf("the client process ended before dialling: %v", err)
		}
		if strings.HasPrefix(line, "dialling ") {
			break
		}
	}
	began = time.Now()
	var output strings.Builder
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(&output, lines); close(copied) }()
	return func() {
		_ = stdin.Close()
		<-copied
		if err := cmd.Wait(); err != nil {
			b.Fatalf("client process: %v\n%s", err, output.String())
		}
	}, began
}

// TestLoadClients is BenchmarkADSLoad's client process (skipped unless run by it): it dials every
// client of the configuration at once and keeps them connected until its standard input closes.
func TestLoadClients(t *testing.T) {
	confFile := os.Getenv(loadClientsEnv)
	if confFile == "" {
		t.Skip("the client process of BenchmarkADSLoad")
	}
	raw, err := os.ReadFile(confFile)
	if err != nil {
		t.Fatal(err)
	}
	var conf loadClientsConfig
	if err := json.Unmarshal(raw, &conf); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("dialling %d clients\n", len(conf.Fleets)*conf.PerFleet)
	var closers []io.Closer
	for _, f := range conf.Fleets {
		cfg, err := xdstest.EnvoyTLS(f.Cert, f.CertKey, conf.ServerCA, serverName)
		if err != nil {
			t.Fatal(err)
		}
		for i := range conf.PerFleet {
			node := &corev3.Node{Cluster: f.Fleet, Id: fmt.Sprintf("%s-%d", f.Fleet, i)}
			var c io.Closer
			if conf.Delta {
				c, err = xdstest.DialDelta(t.Context(), conf.Addr, cfg, node, envoyTypes...)
			} else {
				c, err = xdstest.Dial(t.Context(), conf.Addr, cfg, node)
			}
			if err != nil {
				t.Fatal(err)
			}
			closers = append(closers, c)
		}
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range closers {
		_ = c.Close()
	}
}

// waitDisconnected waits until no fleet has a stream left on the server.
func waitDisconnected(t testing.TB, s *Server, fleets []*loadFleet) {
	t.Helper()
	eventually(t, "every client disconnected", func() bool {
		for _, f := range fleets {
			if s.DataPlaneStatus(f.key).Connected != 0 {
				return false
			}
		}
		return true
	})
}

type memStats struct {
	heap, stack uint64
	goroutines  int
}

// memory is the process's heap and stacks in use after a collection, and its goroutines.
func memory() memStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memStats{heap: m.HeapInuse, stack: m.StackInuse, goroutines: runtime.NumGoroutine()}
}

func mean(xs []float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
