// Package cluster runs a Kubernetes control plane without containers for tests and the local demo:
// envtest's kube-apiserver and etcd, plus kube-controller-manager, kube-scheduler and KWOK (a fake
// Node whose Pods get IPs and readiness), all built from Go modules by hack/cluster-bins.sh.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// NodeName is the fake Node KWOK manages; Pods scheduled to it become Running and Ready at once.
const NodeName = "kwok-node-0"

// Options tune Start.
type Options struct {
	// Dir holds the kubeconfig, the KWOK stages and the processes' logs. Required.
	Dir string
	// Scheme is used for the returned client; nil means client-go's scheme.
	Scheme *runtime.Scheme
	// NoWorkloads starts only kube-apiserver and etcd (no controller manager, scheduler or KWOK).
	NoWorkloads bool
	// APIServerFlags are extra kube-apiserver flags (name without dashes → value).
	APIServerFlags map[string]string
}

// Cluster is a running control plane.
type Cluster struct {
	// Config is a system:masters rest.Config for the API server.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for the same user.
	Kubeconfig string
	// Client is a controller-runtime client with Options.Scheme.
	Client client.Client

	env   *envtest.Environment
	procs []*process
	dir   string
}

// Start brings the control plane up and waits until the fake Node is Ready. On error everything
// already started is stopped again.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.Dir == "" {
		return nil, errors.New("cluster: Options.Dir is required")
	}
	k8sDir, kwokDir, err := binDirs()
	if err != nil {
		return nil, err
	}
	crds, err := CRDPaths()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: k8sDir,
		CRDInstallOptions:     envtest.CRDInstallOptions{Paths: crds, ErrorIfPathMissing: true, Scheme: o.Scheme},
	}
	// envtest turns the ServiceAccount admission plugin off; with a controller manager creating
	// the default ServiceAccounts it can stay on, as on a real cluster.
	env.ControlPlane.GetAPIServer().Configure().Disable("disable-admission-plugins").
		// envtest's default Service range (10.0.0.0/24) runs out at ~250 Services: room for the
		// scale harness's 500 fleets. Clear of KWOK's Pod CIDR (10.244.0.0/16).
		Set("service-cluster-ip-range", "10.96.0.0/16")
	for k, v := range o.APIServerFlags {
		env.ControlPlane.GetAPIServer().Configure().Set(k, v)
	}
	if _, err := env.Start(); err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	c = &Cluster{env: env, dir: o.Dir}
	defer func() {
		if err != nil {
			_ = c.Stop()
			c = nil
		}
	}()
	if c.Config, c.Kubeconfig, err = adminKubeconfig(env, o.Dir); err != nil {
		return nil, err
	}
	scheme := o.Scheme
	if scheme == nil {
		scheme = runtime.NewScheme()
		_ = corev1.AddToScheme(scheme)
	}
	if c.Client, err = client.New(c.Config, client.Options{Scheme: scheme}); err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	if o.NoWorkloads {
		return c, nil
	}
	if err := c.startWorkloadControllers(k8sDir, kwokDir); err != nil {
		return nil, err
	}
	if err := c.createNode(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// adminKubeconfig writes a kubeconfig for a system:masters user.
func adminKubeconfig(env *envtest.Environment, dir string) (*rest.Config, string, error) {
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "flotilla-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, "", fmt.Errorf("adding admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return nil, "", fmt.Errorf("writing kubeconfig: %w", err)
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		return nil, "", err
	}
	return user.Config(), path, nil
}

func (c *Cluster) startWorkloadControllers(k8sDir, kwokDir string) error {
	api := c.env.ControlPlane.APIServer
	ca := filepath.Join(c.dir, "ca.crt")
	if err := os.WriteFile(ca, api.SecureServing.CA, 0o600); err != nil {
		return err
	}
	flexDir := filepath.Join(c.dir, "flex-volumes")
	if err := os.MkdirAll(flexDir, 0o700); err != nil {
		return err
	}
	kcm, err := startProcess(c.dir, filepath.Join(k8sDir, "kube-controller-manager"),
		"--kubeconfig="+c.Kubeconfig, "--secure-port=0", "--leader-elect=false", "--controllers=*",
		"--service-account-private-key-file="+filepath.Join(api.CertDir, "sa-signer.key"),
		"--root-ca-file="+ca, "--flex-volume-plugin-dir="+flexDir,
		// Pods must vanish promptly in tests; nothing here has real nodes to wait for.
		"--terminated-pod-gc-threshold=100", "--concurrent-gc-syncs=5")
	if err != nil {
		return err
	}
	c.procs = append(c.procs, kcm)
	sched, err := startProcess(c.dir, filepath.Join(k8sDir, "kube-scheduler"),
		"--kubeconfig="+c.Kubeconfig, "--secure-port=0", "--leader-elect=false")
	if err != nil {
		return err
	}
	c.procs = append(c.procs, sched)
	stages, err := kwokStages(c.dir)
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	kwok, err := startProcess(c.dir, filepath.Join(kwokDir, "kwok"),
		"--kubeconfig="+c.Kubeconfig, "--config="+stages, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-lease-duration-seconds=40",
		// envtest's Service range (10.0.0.0/24) overlaps KWOK's default Pod CIDR.
		"--cidr=10.244.0.0/16", "--node-ip=10.0.0.1",
		fmt.Sprintf("--server-address=127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	c.procs = append(c.procs, kwok)
	return nil
}

// createNode registers the fake Node and waits until KWOK reports it Ready.
func (c *Cluster) createNode(ctx context.Context) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("1000"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux",
				"kubernetes.io/arch": "amd64", "type": "kwok", "topology.kubernetes.io/zone": "zone-a"},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	if err := c.Client.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating fake node: %w", err)
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		n := &corev1.Node{}
		if err := c.Client.Get(ctx, client.ObjectKey{Name: NodeName}, n); err != nil {
			return false, nil //nolint:nilerr // keep polling
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("fake node %s not Ready (see %s/*.log): %w", NodeName, c.dir, err)
	}
	return nil
}

// Stop stops KWOK, the scheduler and the controller manager, then the API server and etcd.
func (c *Cluster) Stop() error {
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		errs = append(errs, c.procs[i].stop(10*time.Second))
	}
	c.procs = nil
	if c.env != nil {
		errs = append(errs, c.env.Stop())
	}
	return errors.Join(errs...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
