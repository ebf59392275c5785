package faults

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"github.com/flotilla-dev/flotilla/test/cluster"
)

// managerProcess is the manager binary running as its own process, as in a Pod.
type managerProcess struct {
	cmd     *exec.Cmd
	done    chan struct{}
	xds     string
	metrics string
}

// buildManager builds the manager binary once per test binary.
var buildManager = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(dir, "manager")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd")
	cmd.Dir = cluster.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the manager: %v\n%s", err, out)
	}
	return bin, nil
})

// managerKubeconfig writes the manager's identity (its ServiceAccount token) as a kubeconfig.
func managerKubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(dir, "manager.kubeconfig")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: mgrConfig.Host, CertificateAuthorityData: mgrConfig.CAData}
	kc.AuthInfos["manager"] = &clientcmdapi.AuthInfo{Token: mgrConfig.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "manager"}
	kc.CurrentContext = "test"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func startManager(t *testing.T, name string) *managerProcess {
	t.Helper()
	bin, err := buildManager()
	if err != nil {
		t.Fatal(err)
	}
	m := &managerProcess{done: make(chan struct{}), xds: freeAddr(t), metrics: freeAddr(t)}
	logf, err := os.Create(filepath.Join(dir, "manager-"+name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	m.cmd = exec.Command(bin, "--replica-name="+name, "--leader-elect", "--leader-election-namespace=kube-system",
		"--leader-elect-lease-duration=6s", "--leader-elect-renew-deadline=4s", "--leader-elect-retry-period=1s",
		"--xds-bind-address="+m.xds, "--health-probe-bind-address="+freeAddr(t),
		"--metrics-bind-address="+m.metrics, "--metrics-secure=false", "--zap-devel")
	m.cmd.Env = append(os.Environ(), "KUBECONFIG="+managerKubeconfig(t))
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = m.cmd.Wait(); logf.Close(); close(m.done) }()
	t.Cleanup(func() {
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.done:
		case <-time.After(15 * time.Second):
			_ = m.cmd.Process.Kill()
			<-m.done
		}
	})
	return m
}

func (m *managerProcess) kill() {
	_ = m.cmd.Process.Kill()
	<-m.done
}

// writes reads the process's flotilla_apiserver_writes_total by "kind/verb".
func (m *managerProcess) writes(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + m.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "flotilla_apiserver_writes_total{")
		if !ok {
			continue
		}
		labels, value, _ := strings.Cut(rest, "} ")
		var kind, verb string
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "kind":
				kind = strings.Trim(v, `"`)
			case "verb":
				verb = strings.Trim(v, `"`)
			}
		}
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatal(err)
		}
		out[kind+"/"+verb] += f
	}
	return out
}

// fleetKinds are the kinds of a fleet's objects.
var fleetKinds = []schema.GroupVersionKind{
	appsv1.SchemeGroupVersion.WithKind("Deployment"), corev1.SchemeGroupVersion.WithKind("Service"),
	corev1.SchemeGroupVersion.WithKind("ServiceAccount"), corev1.SchemeGroupVersion.WithKind("ConfigMap"),
	corev1.SchemeGroupVersion.WithKind("Secret"), autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"),
	policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"),
}

// fleetObjects lists the namespace's fleet objects: kind → name → resourceVersion.
func fleetObjects(t *testing.T, ns string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, gvk := range fleetKinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := k8s.List(context.Background(), list, client.InNamespace(ns), client.MatchingLabels{provisioner.LabelManagedBy: provisioner.ManagedByValue}); err != nil {
			t.Fatal(err)
		}
		out[gvk.Kind] = map[string]string{}
		for _, o := range list.Items {
			out[gvk.Kind][o.GetName()] = o.GetResourceVersion()
		}
	}
	return out
}

// conditionsKey is what a status says, without timestamps and messages.
func conditionsKey(cs []metav1.Condition) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s=%s/%s@%d", c.Type, c.Status, c.Reason, c.ObservedGeneration))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func gatewayStatuses(t *testing.T, ns string) map[string]string {
	t.Helper()
	var gws gwapiv1.GatewayList
	if err := k8s.List(context.Background(), &gws, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, gw := range gws.Items {
		key := conditionsKey(gw.Status.Conditions)
		for _, l := range gw.Status.Listeners {
			key += fmt.Sprintf(";%s:%d:%s", l.Name, l.AttachedRoutes, conditionsKey(l.Conditions))
		}
		out[gw.Name] = key
	}
	return out
}

func routeStatuses(t *testing.T, ns string) map[string]string {
	t.Helper()
	var routes gwapiv1.HTTPRouteList
	if err := k8s.List(context.Background(), &routes, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, rt := range routes.Items {
		var parts []string
		for _, p := range rt.Status.Parents {
			parts = append(parts, string(p.ParentRef.Name)+":"+conditionsKey(p.Conditions))
		}
		slices.Sort(parts)
		out[rt.Name] = strings.Join(parts, ",")
	}
	return out
}

func differing(before, after map[string]string) int {
	n := 0
	for k, v := range after {
		if before[k] != v {
			n++
		}
	}
	return n
}

// The leader is killed (SIGKILL) while it provisions 47 Gateways and writes the status of their
// 188 routes; the follower takes over once the lease expires and converges them. It writes only
// what was missing: one apply per fleet object that did not exist (counted against the objects the
// dead leader left), none for the objects that did; each route ends with exactly one status entry
// at its generation; and the Envoys of the Gateways converged before the kill reconnect to the new
// leader and get byte-identical versions.
func TestLeaderKilledMidProvisioning(t *testing.T) {
	ctx := context.Background()
	ns := "team-kill"
	class(t, "kill")
	namespace(t, ns)
	a := startManager(t, "a")

	// Three Gateways converge before the kill, with an Envoy each on the leader.
	const early, later, routesPer = 3, 47, 4
	type envoy struct {
		gw       *gwapiv1.Gateway
		versions map[string]string
	}
	var envoys []envoy
	for i := range early {
		gw := gateway(ns, fmt.Sprintf("early-%d", i), "kill")
		create(t, gw)
		for j := range routesPer {
			create(t, route(ns, fmt.Sprintf("early-%d-%d", i, j), gw.Name, fmt.Sprintf("e%d-%d.example", i, j), "missing"))
		}
		envoys = append(envoys, envoy{gw: gw})
	}
	for i := range envoys {
		programmed(t, envoys[i].gw, 90*time.Second)
		c := dial(t, a.xds, fleetTLS(t, envoys[i].gw), envoys[i].gw, "envoy")
		waitXDS(t, c, 30*time.Second, "an early Gateway's routes", func() error {
			if got := domains(c); len(got) != routesPer {
				return fmt.Errorf("domains %v, want %d", got, routesPer)
			}
			return nil
		})
		envoys[i].versions = versions(c)
	}
	b := startManager(t, "b") // the follower

	// The burst: 47 Gateways and 188 routes at once.
	work := make(chan client.Object, later*(routesPer+1))
	for i := range later {
		name := fmt.Sprintf("gw-%02d", i)
		work <- gateway(ns, name, "kill")
		for j := range routesPer {
			work <- route(ns, fmt.Sprintf("%s-%d", name, j), name, fmt.Sprintf("g%d-%d.example", i, j), "missing")
		}
	}
	close(work)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				if err := k8s.Create(ctx, o); err != nil {
					t.Errorf("creating %s: %v", o.GetName(), err)
				}
			}
		}()
	}
	// Killed once a quarter of the new fleets have a Deployment.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if n := len(fleetObjects(t, ns)["Deployment"]); n >= early+later/4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the leader provisioned too slowly to be killed mid-way")
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.kill()
	killedAt := time.Now()
	wg.Wait()
	objects, gwStatus, rtStatus := fleetObjects(t, ns), gatewayStatuses(t, ns), routeStatuses(t, ns)
	t.Logf("killed the leader with %d/%d Deployments, %d/%d Secrets provisioned", len(objects["Deployment"]), early+later,
		len(objects["Secret"]), early+later)
	if len(objects["Deployment"]) == early+later {
		t.Log("every Deployment existed at the kill: the test did not interrupt provisioning")
	}

	// The follower converges everything.
	eventually(t, 120*time.Second, func(ctx context.Context) error {
		var gws gwapiv1.GatewayList
		if err := k8s.List(ctx, &gws, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, gw := range gws.Items {
			if c := meta.FindStatusCondition(gw.Status.Conditions, string(gwapiv1.GatewayConditionProgrammed)); c == nil ||
				c.Status != "True" || c.ObservedGeneration != gw.Generation {
				return fmt.Errorf("Gateway %s Programmed = %+v", gw.Name, c)
			}
		}
		var routes gwapiv1.HTTPRouteList
		if err := k8s.List(ctx, &routes, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(routes.Items) != (early+later)*routesPer {
			return fmt.Errorf("%d routes", len(routes.Items))
		}
		for i := range routes.Items {
			if why := routeAccepted(&routes.Items[i]); why != "" {
				return fmt.Errorf("%s", why)
			}
		}
		return nil
	})
	t.Logf("the follower converged %s after the kill", time.Since(killedAt).Round(100*time.Millisecond))
	time.Sleep(3 * time.Second) // let the last status writes land before counting

	after := fleetObjects(t, ns)
	writes := b.writes(t)
	for _, gvk := range fleetKinds {
		missing, rewritten := 0, 0
		for name, rv := range after[gvk.Kind] {
			if old, ok := objects[gvk.Kind][name]; !ok {
				missing++
			} else if old != rv && gvk.Kind != "Deployment" && gvk.Kind != "Service" && gvk.Kind != "HorizontalPodAutoscaler" && gvk.Kind != "PodDisruptionBudget" {
				rewritten++ // objects without a status: a new resourceVersion is a write
			}
		}
		if got := writes[gvk.Kind+"/apply"] + writes[gvk.Kind+"/patch"] + writes[gvk.Kind+"/create"] + writes[gvk.Kind+"/update"]; got != float64(missing) {
			t.Errorf("%s: the new leader wrote %v times, want %d (the objects the dead leader had not made)", gvk.Kind, got, missing)
		}
		if rewritten > 0 {
			t.Errorf("%s: %d objects the dead leader made were written again", gvk.Kind, rewritten)
		}
		if len(after[gvk.Kind]) > 0 && len(after[gvk.Kind]) != early+later {
			t.Errorf("%s: %d fleet objects for %d Gateways", gvk.Kind, len(after[gvk.Kind]), early+later)
		}
	}
	gwDiff, rtDiff := differing(gwStatus, gatewayStatuses(t, ns)), differing(rtStatus, routeStatuses(t, ns))
	gwWrites := writes["Gateway/apply-status"] + writes["Gateway/patch-status"] + writes["Gateway/update-status"]
	rtWrites := writes["HTTPRoute/apply-status"] + writes["HTTPRoute/patch-status"] + writes["HTTPRoute/update-status"]
	t.Logf("new leader's writes: %v", writes)
	t.Logf("status: %d Gateways and %d routes differed from their final status at the kill; the new leader wrote %v Gateway and %v route statuses",
		gwDiff, rtDiff, gwWrites, rtWrites)
	if rtWrites > float64(rtDiff) {
		t.Errorf("the new leader wrote %v route statuses, more than the %d that were not final", rtWrites, rtDiff)
	}
	// A Gateway whose Deployment the new leader creates is written twice: Programmed=False
	// until the Deployment is Available, then True.
	if gwWrites > float64(2*gwDiff) {
		t.Errorf("the new leader wrote %v Gateway statuses, more than twice the %d that were not final", gwWrites, gwDiff)
	}

	for _, e := range envoys {
		c := dial(t, b.xds, fleetTLS(t, e.gw), e.gw, "envoy")
		waitXDS(t, c, 30*time.Second, "an early Gateway's Envoy reconnecting to the new leader", func() error {
			if got := versions(c); !mapsEqual(got, e.versions) {
				return fmt.Errorf("versions %v, want the dead leader's %v", got, e.versions)
			}
			return nil
		})
	}
}
