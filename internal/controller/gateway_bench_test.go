package controller

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	cachetypes "github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/apiwrites"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"github.com/flotilla-dev/flotilla/internal/scheme"
	"github.com/flotilla-dev/flotilla/internal/xds/server"
)

const (
	benchNamespaces     = 50
	benchGatewaysPerNS  = 10
	benchClass          = "flotilla"
	benchFleetClass     = "standard"
	benchOperatorNS     = "flotilla-system"
	benchCASecret       = "flotilla-ca"
	benchNamespaceLabel = "flotilla.example.com/tenant"
)

// builderIndexer registers SetupIndexes' indexes, with their very extractor functions, on a fake
// client builder (instead of a copy of them that could drift).
type builderIndexer struct{ b *fake.ClientBuilder }

func (i builderIndexer) IndexField(_ context.Context, obj client.Object, field string, fn client.IndexerFunc) error {
	i.b.WithIndex(obj, field, fn)
	return nil
}

// cacheReads makes the fake client's Get behave like the manager's cache-backed client: the cache
// reader sets apiVersion and kind on the typed object it returns, while the fake client (like an
// uncached client) clears them. Applier.Apply compares the live object, kind included, with the
// desired one, so without this every reconcile would re-apply every fleet object.
type cacheReads struct{ client.Client }

func (c cacheReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := c.Client.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return err
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return nil
}

// benchWorld is a fake API server holding one accepted Flotilla GatewayClass and its FleetClass,
// 50 tenant namespaces of 10 Gateways each, and the reconciler under test.
type benchWorld struct {
	api      client.Client // the fake API server, uncounted
	counted  client.Client // what the reconciler writes through (counted by apiwrites)
	r        *GatewayReconciler
	xds      *XDSReconciler
	gateways []types.NamespacedName
}

func benchGateway(ns, name string) *gwapiv1.Gateway {
	return &gwapiv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1,
			UID:               types.UID(fmt.Sprintf("uid-%s-%s", ns, name)),
			CreationTimestamp: metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))},
		Spec: gwapiv1.GatewaySpec{
			GatewayClassName: benchClass,
			Listeners: []gwapiv1.Listener{
				{Name: "http", Protocol: gwapiv1.HTTPProtocolType, Port: 80},
				{Name: "https", Protocol: gwapiv1.HTTPSProtocolType, Port: 443, Hostname: ptr.To(gwapiv1.Hostname("*.example.com")),
					TLS: &gwapiv1.ListenerTLSConfig{Mode: ptr.To(gwapiv1.TLSModeTerminate),
						CertificateRefs: []gwapiv1.SecretObjectReference{{Name: "wildcard-cert"}}}},
			},
		},
	}
}

func newBenchWorld(b *testing.B) *benchWorld {
	b.Helper()
	fleetClass := &flotillav1alpha1.FleetClass{
		ObjectMeta: metav1.ObjectMeta{Name: benchFleetClass, Generation: 1},
		Spec: flotillav1alpha1.FleetClassSpec{
			Replicas: ptr.To[int32](1),
			Service:  flotillav1alpha1.ServiceSpec{Type: flotillav1alpha1.ServiceTypeClusterIP},
			Tenancy: &flotillav1alpha1.Tenancy{
				NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{benchNamespaceLabel: "true"}},
				MaxGatewaysPerNamespace: ptr.To[int32](20),
				Overrides: &flotillav1alpha1.OverrideBounds{
					Replicas:         &flotillav1alpha1.ReplicaBounds{Min: 1, Max: 3},
					ServiceTypes:     []flotillav1alpha1.ServiceType{flotillav1alpha1.ServiceTypeClusterIP, flotillav1alpha1.ServiceTypeLoadBalancer},
					LabelKeyPrefixes: []string{"team.example.com/"},
					LogLevel:         true,
				},
			},
		},
	}
	class := &gwapiv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: benchClass, Generation: 1},
		Spec: gwapiv1.GatewayClassSpec{ControllerName: ControllerName, ParametersRef: &gwapiv1.ParametersReference{
			Group: gwapiv1.Group(flotillav1alpha1.GroupVersion.Group), Kind: flotillav1alpha1.KindFleetClass, Name: benchFleetClass}},
		Status: gwapiv1.GatewayClassStatus{Conditions: []metav1.Condition{{
			Type: string(gwapiv1.GatewayClassConditionStatusAccepted), Status: metav1.ConditionTrue, ObservedGeneration: 1,
			Reason: string(gwapiv1.GatewayClassReasonAccepted), LastTransitionTime: metav1.Now(),
		}}},
	}
	objs := []client.Object{fleetClass, class, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchOperatorNS}}}
	w := &benchWorld{}
	for n := range benchNamespaces {
		ns := fmt.Sprintf("team-%02d", n)
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{benchNamespaceLabel: "true"}}})
		for g := range benchGatewaysPerNS {
			gw := benchGateway(ns, fmt.Sprintf("gw-%02d", g))
			objs = append(objs, gw)
			w.gateways = append(w.gateways, client.ObjectKeyFromObject(gw))
		}
	}

	builder := fake.NewClientBuilder().WithScheme(scheme.New()).
		WithStatusSubresource(&gwapiv1.Gateway{}, &gwapiv1.GatewayClass{}, &flotillav1alpha1.FleetClass{}, &flotillav1alpha1.FleetConfig{}).
		WithObjects(objs...)
	if err := SetupIndexes(context.Background(), builderIndexer{builder}, nil); err != nil {
		b.Fatal(err)
	}
	w.api = builder.Build()
	w.counted = apiwrites.Wrap(cacheReads{w.api})
	events := NewFleetEvents()
	resolutions := &Resolutions{Events: events}
	defaults := provisioner.Defaults{EnvoyImage: "docker.io/envoyproxy/envoy:distroless-v1.36.2",
		XDSAddress: "flotilla-xds.flotilla-system.svc", XDSPort: 18000, OperatorNamespace: benchOperatorNS}
	w.r = &GatewayReconciler{
		Resolutions: resolutions,
		FleetInputs: FleetInputs{Client: w.counted},
		Status:      &StatusWriter{Client: w.counted, Reader: w.api},
		Applier:     &Applier{Client: w.counted},
		Certificates: &Certificates{Client: w.counted, Reader: w.api,
			Namespace: benchOperatorNS, SecretName: benchCASecret, Now: time.Now},
	}
	w.xds = &XDSReconciler{FleetInputs: FleetInputs{Client: w.counted}, DataPlane: discardDataPlane{}, Events: events,
		Resolutions: resolutions, Defaults: defaults, XDSTrust: w.r.Certificates.TrustPEM}
	return w
}

// discardDataPlane is an xDS server that accepts everything and has no Envoys.
type discardDataPlane struct{}

func (discardDataPlane) Publish(string, map[resource.Type][]cachetypes.Resource) (bool, error) {
	return false, nil
}
func (discardDataPlane) Forget(string) {}
func (discardDataPlane) DataPlaneStatus(string) server.DataPlaneStatus {
	return server.DataPlaneStatus{}
}

// reconcile is what the two controllers do for a Gateway after a change: the xDS controller
// resolves and stores, the Gateway controller provisions and writes status from that resolution.
func (w *benchWorld) reconcile(ctx context.Context, b *testing.B, key types.NamespacedName) {
	if _, err := w.xds.Reconcile(ctx, reconcile.Request{NamespacedName: key}); err != nil {
		b.Fatalf("resolving %s: %v", key, err)
	}
	if _, err := w.r.Reconcile(ctx, reconcile.Request{NamespacedName: key}); err != nil {
		b.Fatalf("reconciling %s: %v", key, err)
	}
}

// makeFleetReady does what the Deployment controller and the Service IP allocator would: the
// Deployment becomes available and the Service gets a cluster IP.
func (w *benchWorld) makeFleetReady(ctx context.Context, b *testing.B, key types.NamespacedName, i int) {
	gw := &gwapiv1.Gateway{}
	if err := w.api.Get(ctx, key, gw); err != nil {
		b.Fatal(err)
	}
	fleet := types.NamespacedName{Namespace: key.Namespace, Name: provisioner.FleetName(gw)}
	dep := &appsv1.Deployment{}
	if err := w.api.Get(ctx, fleet, dep); err != nil {
		b.Fatalf("fleet Deployment of %s: %v", key, err)
	}
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
		UpdatedReplicas: 1, Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}}
	if err := w.api.Status().Update(ctx, dep); err != nil {
		b.Fatalf("Deployment status of %s: %v", key, err)
	}
	svc := &corev1.Service{}
	if err := w.api.Get(ctx, fleet, svc); err != nil {
		b.Fatalf("fleet Service of %s: %v", key, err)
	}
	ip := fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip, []string{ip}
	if err := w.api.Update(ctx, svc); err != nil {
		b.Fatalf("fleet Service of %s: %v", key, err)
	}
}

// BenchmarkGatewayReconcile is the cost of one Gateway reconcile with 500 Gateways in the (fake)
// cache. ns/op includes the fake client's own cost (each Get deep-copies through the scheme, each
// Apply runs a structured-merge-diff field manager), which a real informer cache does not have
// for reads.
func BenchmarkGatewayReconcile(b *testing.B) {
	ctx := ctrl.LoggerInto(context.Background(), logr.Discard())
	w := newBenchWorld(b)

	// Provision every fleet, make it ready, and reconcile again so that every status says
	// Programmed: from then on a reconcile has nothing to change.
	for _, key := range w.gateways {
		w.reconcile(ctx, b, key)
	}
	for i, key := range w.gateways {
		w.makeFleetReady(ctx, b, key, i)
		w.reconcile(ctx, b, key)
	}
	for _, key := range w.gateways {
		gw := &gwapiv1.Gateway{}
		if err := w.api.Get(ctx, key, gw); err != nil {
			b.Fatal(err)
		}
		if c := meta.FindStatusCondition(gw.Status.Conditions, string(gwapiv1.GatewayConditionProgrammed)); c == nil || c.Status != metav1.ConditionTrue {
			b.Fatalf("Gateway %s is not programmed after setup: %+v", key, gw.Status.Conditions)
		}
	}

	b.Run("steady-state", func(b *testing.B) {
		b.ReportAllocs()
		start := apiwrites.Total()
		b.ResetTimer()
		for i := range b.N {
			w.reconcile(ctx, b, w.gateways[i%len(w.gateways)])
		}
		b.StopTimer()
		writes := apiwrites.Total() - start
		b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
		if writes != 0 {
			b.Fatalf("%d API writes in %d steady-state reconciles, want none", writes, b.N)
		}
	})

	var fresh atomic.Int64 // unique names across the benchmark's runs
	b.Run("first-provision", func(b *testing.B) {
		b.ReportAllocs()
		var writes int64
		for i := range b.N {
			b.StopTimer()
			n := fresh.Add(1)
			gw := benchGateway(fmt.Sprintf("team-%02d", i%benchNamespaces), fmt.Sprintf("fresh-%d", n))
			if err := w.api.Create(ctx, gw); err != nil {
				b.Fatal(err)
			}
			start := apiwrites.Total()
			b.StartTimer()

			w.reconcile(ctx, b, client.ObjectKeyFromObject(gw))

			b.StopTimer()
			writes += apiwrites.Total() - start
			w.removeFleet(ctx, b, gw)
			b.StartTimer()
		}
		b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
	})
}

// removeFleet deletes a Gateway and its fleet (the fake client has no garbage collector), so that
// every first-provision iteration sees the same 500 Gateways.
func (w *benchWorld) removeFleet(ctx context.Context, b *testing.B, gw *gwapiv1.Gateway) {
	name := provisioner.FleetName(gw)
	om := metav1.ObjectMeta{Namespace: gw.Namespace, Name: name}
	for _, obj := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: om}, &corev1.ConfigMap{ObjectMeta: om}, &appsv1.Deployment{ObjectMeta: om},
		&corev1.Service{ObjectMeta: om}, &corev1.Secret{ObjectMeta: om}, gw,
	} {
		if err := w.api.Delete(ctx, obj); err != nil {
			b.Fatalf("deleting %T %s/%s: %v", obj, obj.GetNamespace(), obj.GetName(), err)
		}
	}
}
