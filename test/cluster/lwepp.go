package cluster

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"
)

// EndpointPicker is a running lwepp, the Gateway API Inference Extension's conformance Endpoint
// Picker: an ext_proc gRPC server that watches one InferencePool and its ready Pods and picks
// one podIP:targetPort per request (round robin, or the Pods named by the request header
// test-epp-endpoint-selection). It needs nothing from the Pods themselves (no metrics scrape).
type EndpointPicker struct {
	// Addr is the loopback address of its ext_proc server. It serves TLS with a self-signed
	// certificate made at start, and the gRPC health service, reporting
	// envoy.service.ext_proc.v3.ExternalProcessor SERVING once it listens.
	Addr string
	// Log is the file its output goes to.
	Log string

	proc *process
}

// StartEndpointPicker runs lwepp for the InferencePool namespace/name with the cluster's admin
// kubeconfig. It does not wait: the picker answers once it listens and has read the pool and
// its Pods, and until then ends streams with an error.
func (c *Cluster) StartEndpointPicker(namespace, name string) (*EndpointPicker, error) {
	bin, err := LWEPPBinary()
	if err != nil {
		return nil, err
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	logName := "lwepp-" + strings.ReplaceAll(namespace+"-"+name, "/", "-")
	p, err := startNamedProcess(c.dir, logName, bin,
		"--kubeconfig="+c.Kubeconfig, "--pool-namespace="+namespace, "--pool-name="+name,
		"--grpc-port="+port,
		// Ports nobody asks: any free one (it listens on ":0").
		"--grpc-health-port=0", "--metrics-port=0",
		// The gRPC health service on the ext_proc port, which a fleet's Envoy health-checks.
		"--health-checking=true",
		// Log every pick ("Selected endpoint").
		"--zap-log-level=4")
	if err != nil {
		return nil, err
	}
	return &EndpointPicker{Addr: addr, Log: filepath.Join(c.dir, logName+".log"), proc: p}, nil
}

// Exited is closed when the picker's process has ended.
func (e *EndpointPicker) Exited() <-chan struct{} { return e.proc.done }

// Stop stops the picker (SIGTERM, then SIGKILL).
func (e *EndpointPicker) Stop() error {
	if err := e.proc.stop(10 * time.Second); err != nil {
		return fmt.Errorf("lwepp: %w", err)
	}
	return nil
}
