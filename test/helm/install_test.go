package helm

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/test/cluster"
)

var flotillaCRDs = []string{"fleetclasses.gateway.flotilla.dev", "fleetconfigs.gateway.flotilla.dev", "ingressclassconfigs.gateway.flotilla.dev", "routefilters.gateway.flotilla.dev"}

// The chart installs into the local control plane (kube-apiserver, etcd, controller manager,
// scheduler, KWOK): its CRDs from crds/, and the manager Deployment becomes Available. An upgrade with
// changed values rolls the Deployment (a new ReplicaSet, Available again) and adds the optional
// classes; an uninstall removes every object of the release and its Pods, and leaves the CRDs.
func TestInstallUpgradeUninstall(t *testing.T) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "flotilla-helm-")
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = apiextensionsv1.AddToScheme(scheme)
	start := time.Now()
	env, err := cluster.Start(ctx, cluster.Options{Dir: dir, Scheme: scheme})
	if err != nil {
		t.Fatalf("starting the test cluster: %v", err)
	}
	t.Logf("test cluster up in %s (logs in %s)", time.Since(start).Round(time.Millisecond), dir)
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the test cluster: %v", err)
		}
		if !t.Failed() {
			_ = os.RemoveAll(dir)
		}
	})
	k8s := env.Client

	// The test cluster comes with Flotilla's CRDs (from config/crd); remove them so the install
	// proves crds/ installs them.
	for _, name := range flotillaCRDs {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		crd.Name = name
		if err := k8s.Delete(ctx, crd); err != nil {
			t.Fatal(err)
		}
	}
	// The API server removes a CRD once its finalizer has cleaned up (no instances here): seconds
	// usually, but it was seen to take over a minute on a busy 2-core machine.
	eventually(t, 3*time.Minute, func(ctx context.Context) error {
		for _, name := range flotillaCRDs {
			if err := k8s.Get(ctx, client.ObjectKey{Name: name}, &apiextensionsv1.CustomResourceDefinition{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("CRD %s still there (%v)", name, err)
			}
		}
		return nil
	})

	cfg := actionConfig(t, env.Kubeconfig)
	chrt := loadChart(t)

	// helm install flotilla ./charts/flotilla -n flotilla-system --create-namespace
	t0 := time.Now()
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace, install.CreateNamespace = releaseName, releaseNamespace, true
	install.Timeout = 2 * time.Minute
	rel, err := install.RunWithContext(ctx, chrt, nil)
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	if rel.Info.Status != release.StatusDeployed {
		t.Fatalf("release status %s", rel.Info.Status)
	}
	for _, name := range flotillaCRDs {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
			t.Fatalf("helm install did not install CRD %s from crds/: %v", name, err)
		}
	}
	first := waitAvailable(t, k8s, 2)
	t.Logf("installed, Deployment Available with 2 replicas (ReplicaSet %s) in %s", first, time.Since(t0).Round(time.Millisecond))
	installed := manifestObjects(t, rel)
	for _, want := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service",
		"Deployment", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		found := false
		for _, o := range installed {
			found = found || o.GetKind() == want
		}
		if !found {
			t.Errorf("the release has no %s (objects: %v)", want, kinds(installed))
		}
	}

	// helm upgrade with changed values: a changed Pod template rolls the Deployment.
	t0 = time.Now()
	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace, upgrade.Timeout = releaseNamespace, 2*time.Minute
	rel, err = upgrade.RunWithContext(ctx, releaseName, chrt, values(t,
		"replicas=3", "logLevel=debug", "podAnnotations.example\\.com/rollout=second",
		"gatewayClass.enabled=true", "ingressClass.enabled=true",
		"ingressClass.gatewayRef.namespace=infra", "ingressClass.gatewayRef.name=web"))
	if err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	if rel.Version != 2 || rel.Info.Status != release.StatusDeployed {
		t.Fatalf("after the upgrade: revision %d, status %s", rel.Version, rel.Info.Status)
	}
	second := waitAvailable(t, k8s, 3)
	if second == first {
		t.Fatalf("the upgrade did not roll the Deployment: still ReplicaSet %s", first)
	}
	d := &appsv1.Deployment{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "flotilla-controller-manager"}, d); err != nil {
		t.Fatal(err)
	}
	if args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--zap-log-level=debug") {
		t.Errorf("upgraded Deployment's args %q lack --zap-log-level=debug", args)
	}
	t.Logf("upgraded, rolled to ReplicaSet %s, Available with 3 replicas in %s", second, time.Since(t0).Round(time.Millisecond))
	upgraded := manifestObjects(t, rel)
	for _, o := range upgraded {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(o), o.DeepCopy()); err != nil {
			t.Errorf("after the upgrade, %s: %v", key(o), err)
		}
	}
	for _, kind := range []string{"FleetClass", "GatewayClass", "IngressClass", "IngressClassConfig"} {
		found := false
		for _, o := range upgraded {
			found = found || o.GetKind() == kind
		}
		if !found {
			t.Errorf("the upgrade did not add a %s", kind)
		}
	}

	// helm uninstall: everything of the release goes, its Pods too; the CRDs stay.
	t0 = time.Now()
	uninstall := action.NewUninstall(cfg)
	uninstall.Wait, uninstall.Timeout = true, 2*time.Minute
	if _, err := uninstall.Run(releaseName); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	eventually(t, 2*time.Minute, func(ctx context.Context) error {
		for _, o := range upgraded {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(o), o.DeepCopy()); !apierrors.IsNotFound(err) {
				return fmt.Errorf("%s still there after helm uninstall (%v)", key(o), err)
			}
		}
		for _, list := range []client.ObjectList{&corev1.PodList{}, &appsv1.ReplicaSetList{}} {
			if err := k8s.List(ctx, list, client.InNamespace(releaseNamespace), client.MatchingLabels{"control-plane": "controller-manager"}); err != nil {
				return err
			}
			if n := len(mustItems(list)); n > 0 {
				return fmt.Errorf("%d %T items of the manager still there", n, list)
			}
		}
		return nil
	})
	for _, name := range flotillaCRDs {
		if err := k8s.Get(ctx, client.ObjectKey{Name: name}, &apiextensionsv1.CustomResourceDefinition{}); err != nil {
			t.Errorf("CRD %s after helm uninstall: %v (Helm keeps crds/)", name, err)
		}
	}
	t.Logf("uninstalled %d objects in %s; the 3 CRDs stay", len(upgraded), time.Since(t0).Round(time.Millisecond))
}

// actionConfig is Helm's configuration for the cluster of kubeconfig, releases stored in Secrets.
func actionConfig(t *testing.T, kubeconfig string) *action.Configuration {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	ns := releaseNamespace
	flags.KubeConfig, flags.Namespace = &kubeconfig, &ns
	cfg := &action.Configuration{}
	if err := cfg.Init(flags, releaseNamespace, "secret", func(format string, v ...any) { t.Logf("helm: "+format, v...) }); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// manifestObjects are the objects of a release's manifest (not its CRDs), with their namespaces.
func manifestObjects(t *testing.T, rel *release.Release) []*unstructured.Unstructured {
	t.Helper()
	objs := decodeManifests(t, []byte(rel.Manifest))
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			t.Fatalf("the release's manifest holds %s: CRDs belong in crds/", key(o))
		}
	}
	return objs
}

// waitAvailable waits until the manager Deployment has rolled out completely (observed, every replica
// updated, ready and available, condition Available) and returns its current ReplicaSet.
func waitAvailable(t *testing.T, k8s client.Client, replicas int32) string {
	t.Helper()
	var rs string
	eventually(t, 2*time.Minute, func(ctx context.Context) error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "flotilla-controller-manager"}, d); err != nil {
			return err
		}
		s := d.Status
		if s.ObservedGeneration != d.Generation || s.UpdatedReplicas != replicas || s.AvailableReplicas != replicas || s.Replicas != replicas {
			return fmt.Errorf("Deployment generation %d, status %+v", d.Generation, s)
		}
		available := false
		for _, c := range s.Conditions {
			available = available || (c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue)
		}
		if !available {
			return fmt.Errorf("Deployment not Available: %+v", s.Conditions)
		}
		sets := &appsv1.ReplicaSetList{}
		if err := k8s.List(ctx, sets, client.InNamespace(releaseNamespace), client.MatchingLabels{"control-plane": "controller-manager"}); err != nil {
			return err
		}
		rs = ""
		for _, r := range sets.Items {
			if r.Spec.Replicas != nil && *r.Spec.Replicas > 0 {
				if rs != "" {
					return fmt.Errorf("ReplicaSets %s and %s both scaled up", rs, r.Name)
				}
				if r.Status.AvailableReplicas != replicas {
					return fmt.Errorf("ReplicaSet %s has %d available replicas", r.Name, r.Status.AvailableReplicas)
				}
				rs = r.Name
			}
		}
		if rs == "" {
			return fmt.Errorf("no scaled-up ReplicaSet")
		}
		return nil
	})
	return rs
}

func mustItems(list client.ObjectList) []any {
	switch l := list.(type) {
	case *corev1.PodList:
		items := make([]any, len(l.Items))
		for i := range l.Items {
			items[i] = l.Items[i]
		}
		return items
	case *appsv1.ReplicaSetList:
		items := make([]any, len(l.Items))
		for i := range l.Items {
			items[i] = l.Items[i]
		}
		return items
	}
	panic(fmt.Sprintf("unexpected list %T", list))
}

// eventually is cluster.Eventually.
func eventually(t *testing.T, timeout time.Duration, cond func(ctx context.Context) error) {
	t.Helper()
	cluster.Eventually(t, timeout, cond)
}
