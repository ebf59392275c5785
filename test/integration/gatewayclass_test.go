package integration

import (
	"context"
	"fmt"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/consts"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/apiwrites"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/features"
)

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
}

func gatewayClass(name string, ref *gwapiv1.ParametersReference) *gwapiv1.GatewayClass {
	return &gwapiv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       gwapiv1.GatewayClassSpec{ControllerName: controller.ControllerName, ParametersRef: ref},
	}
}

func fleetClassRef(name string) *gwapiv1.ParametersReference {
	return &gwapiv1.ParametersReference{Group: "gateway.flotilla.dev", Kind: "FleetClass", Name: name}
}

// classCondition waits until the class's condition of type t has the given status and reason at the
// class's current generation, and returns it.
func classCondition(t *testing.T, name, typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	eventually(t, 20*time.Second, func(ctx context.Context) error {
		gc := &gwapiv1.GatewayClass{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: name}, gc); err != nil {
			return err
		}
		c := meta.FindStatusCondition(gc.Status.Conditions, typ)
		if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != gc.Generation {
			return fmt.Errorf("GatewayClass %s condition %s = %+v, want %s/%s at generation %d", name, typ, c, status, reason, gc.Generation)
		}
		got = *c
		return nil
	})
	return got
}

func TestGatewayClassAcceptedWithFleetClass(t *testing.T) {
	create(t, &flotillav1alpha1.FleetClass{ObjectMeta: metav1.ObjectMeta{Name: "accepted-params"}})
	create(t, gatewayClass("accepted", fleetClassRef("accepted-params")))

	c := classCondition(t, "accepted", string(gwapiv1.GatewayClassConditionStatusAccepted), metav1.ConditionTrue, string(gwapiv1.GatewayClassReasonAccepted))
	if !strings.Contains(c.Message, `FleetClass "accepted-params"`) {
		t.Errorf("Accepted message %q does not name the FleetClass", c.Message)
	}
	sv := classCondition(t, "accepted", string(gwapiv1.GatewayClassConditionStatusSupportedVersion), metav1.ConditionTrue, string(gwapiv1.GatewayClassReasonSupportedVersion))
	if !strings.Contains(sv.Message, consts.BundleVersion) {
		t.Errorf("SupportedVersion message %q does not name the installed version %s", sv.Message, consts.BundleVersion)
	}
	gc := &gwapiv1.GatewayClass{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: "accepted"}, gc); err != nil {
		t.Fatal(err)
	}
	if want := features.Supported(); fmt.Sprint(gc.Status.SupportedFeatures) != fmt.Sprint(want) {
		t.Errorf("supportedFeatures = %v, want %v", gc.Status.SupportedFeatures, want)
	}

	// The FleetClass itself is Accepted, and its defaults give a working fleet.
	eventually(t, 10*time.Second, func(ctx context.Context) error {
		fc := &flotillav1alpha1.FleetClass{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: "accepted-params"}, fc); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(fc.Status.Conditions, flotillav1alpha1.ConditionAccepted) {
			return fmt.Errorf("FleetClass conditions %+v", fc.Status.Conditions)
		}
		if fc.Spec.Service.Type != flotillav1alpha1.ServiceTypeLoadBalancer || fc.Spec.Envoy.LogLevel != "info" ||
			fc.Spec.Envoy.DrainTimeout == nil || fc.Spec.Envoy.DrainTimeout.Duration != 30*time.Second {
			return fmt.Errorf("FleetClass defaults not applied: %+v", fc.Spec)
		}
		return nil
	})

	// A class without parametersRef runs with the defaults.
	create(t, gatewayClass("accepted-defaults", nil))
	classCondition(t, "accepted-defaults", string(gwapiv1.GatewayClassConditionStatusAccepted), metav1.ConditionTrue, string(gwapiv1.GatewayClassReasonAccepted))
}

func TestGatewayClassInvalidParameters(t *testing.T) {
	create(t, &flotillav1alpha1.FleetClass{
		ObjectMeta: metav1.ObjectMeta{Name: "invalid-params"},
		Spec: flotillav1alpha1.FleetClassSpec{Resources: &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		}},
	})
	cases := []struct {
		name    string
		ref     *gwapiv1.ParametersReference
		message string
	}{
		{"wrong-group", &gwapiv1.ParametersReference{Group: "example.com", Kind: "FleetClass", Name: "x"},
			`parametersRef must refer to group "gateway.flotilla.dev" kind "FleetClass", not group "example.com" kind "FleetClass"`},
		{"wrong-kind", &gwapiv1.ParametersReference{Group: "gateway.flotilla.dev", Kind: "FleetConfig", Name: "x"},
			`not group "gateway.flotilla.dev" kind "FleetConfig"`},
		{"namespaced", &gwapiv1.ParametersReference{Group: "gateway.flotilla.dev", Kind: "FleetClass", Name: "x", Namespace: ptr.To(gwapiv1.Namespace("default"))},
			`parametersRef.namespace must not be set: FleetClass "x" is cluster-scoped`},
		{"missing", fleetClassRef("does-not-exist"), `FleetClass "does-not-exist" not found`},
		{"invalid", fleetClassRef("invalid-params"),
			`FleetClass "invalid-params" is invalid: spec.resources.requests[cpu]: Invalid value: "2": must be less than or equal to the cpu limit 1`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := "invalid-" + tc.name
			create(t, gatewayClass(name, tc.ref))
			c := classCondition(t, name, string(gwapiv1.GatewayClassConditionStatusAccepted), metav1.ConditionFalse, string(gwapiv1.GatewayClassReasonInvalidParameters))
			if !strings.Contains(c.Message, tc.message) {
				t.Errorf("message %q does not contain %q", c.Message, tc.message)
			}
			waitForEvent(t, name, corev1.EventTypeWarning, string(gwapiv1.GatewayClassReasonInvalidParameters), tc.message)
		})
	}

	// The FleetClass says what is wrong with it, too.
	eventually(t, 10*time.Second, func(ctx context.Context) error {
		fc := &flotillav1alpha1.FleetClass{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: "invalid-params"}, fc); err != nil {
			return err
		}
		c := meta.FindStatusCondition(fc.Status.Conditions, flotillav1alpha1.ConditionAccepted)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != flotillav1alpha1.ReasonInvalid ||
			!strings.Contains(c.Message, "spec.resources.requests[cpu]") {
			return fmt.Errorf("FleetClass Accepted = %+v", c)
		}
		return nil
	})
}

// waitForEvent waits for an Event about the named cluster-scoped object.
func waitForEvent(t *testing.T, name, typ, reason, noteContains string) {
	t.Helper()
	waitForEventIn(t, "", name, typ, reason, noteContains)
}

// waitForEventIn waits for an Event about the object namespace/name ("" namespace: cluster-scoped).
func waitForEventIn(t *testing.T, namespace, name, typ, reason, noteContains string) {
	t.Helper()
	eventually(t, 10*time.Second, func(ctx context.Context) error {
		list := &eventsv1.EventList{}
		if err := k8s.List(ctx, list); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Regarding.Namespace == namespace && e.Type == typ && e.Reason == reason && strings.Contains(e.Note, noteContains) {
				return nil
			}
		}
		return fmt.Errorf("no %s Event %s about %s containing %q", typ, reason, name, noteContains)
	})
}

func TestFleetClassEditFlipsGatewayClass(t *testing.T) {
	accepted := string(gwapiv1.GatewayClassConditionStatusAccepted)
	create(t, gatewayClass("flip", fleetClassRef("flip-params")))
	// Created after the class: the class follows.
	first := classCondition(t, "flip", accepted, metav1.ConditionFalse, string(gwapiv1.GatewayClassReasonInvalidParameters))
	fc := &flotillav1alpha1.FleetClass{ObjectMeta: metav1.ObjectMeta{Name: "flip-params"}}
	create(t, fc)
	second := classCondition(t, "flip", accepted, metav1.ConditionTrue, string(gwapiv1.GatewayClassReasonAccepted))
	if !second.LastTransitionTime.After(first.LastTransitionTime.Time) && second.LastTransitionTime != first.LastTransitionTime {
		t.Errorf("lastTransitionTime did not move on a transition: %v then %v", first.LastTransitionTime, second.LastTransitionTime)
	}

	// An edit the API server accepts but Flotilla cannot use flips the class.
	set := func(mutate func(*flotillav1alpha1.FleetClass)) {
		t.Helper()
		eventually(t, 5*time.Second, func(ctx context.Context) error {
			cur := &flotillav1alpha1.FleetClass{}
			if err := k8s.Get(ctx, client.ObjectKey{Name: "flip-params"}, cur); err != nil {
				return err
			}
			mutate(cur)
			return k8s.Update(ctx, cur)
		})
	}
	set(func(fc *flotillav1alpha1.FleetClass) {
		fc.Spec.Pod = &flotillav1alpha1.PodMetadata{Labels: map[string]string{"bad key!": "x"}}
	})
	c := classCondition(t, "flip", accepted, metav1.ConditionFalse, string(gwapiv1.GatewayClassReasonInvalidParameters))
	if !strings.Contains(c.Message, "spec.pod.labels") {
		t.Errorf("message %q does not name the invalid field", c.Message)
	}
	set(func(fc *flotillav1alpha1.FleetClass) { fc.Spec.Pod = nil })
	back := classCondition(t, "flip", accepted, metav1.ConditionTrue, string(gwapiv1.GatewayClassReasonAccepted))

	// A FleetClass edit that changes nothing for the class writes nothing to it.
	gc := &gwapiv1.GatewayClass{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: "flip"}, gc); err != nil {
		t.Fatal(err)
	}
	rv := gc.ResourceVersion
	classWrites := writesTo("GatewayClass")
	set(func(fc *flotillav1alpha1.FleetClass) { fc.Spec.Envoy.LogLevel = "debug" })
	eventually(t, 10*time.Second, func(ctx context.Context) error {
		cur := &flotillav1alpha1.FleetClass{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: "flip-params"}, cur); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(cur.Status.Conditions, flotillav1alpha1.ConditionAccepted); c == nil || c.ObservedGeneration != cur.Generation {
			return fmt.Errorf("FleetClass not yet reconciled at generation %d: %+v", cur.Generation, c)
		}
		return nil
	})
	time.Sleep(time.Second) // the class reconcile runs off the same event; give it time to (not) write
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: "flip"}, gc); err != nil {
		t.Fatal(err)
	}
	if w := writesTo("GatewayClass"); w != classWrites {
		t.Errorf("GatewayClass writes went from %v to %v although nothing changed for it", classWrites, w)
	}
	if gc.ResourceVersion != rv {
		t.Errorf("GatewayClass was written although nothing changed: resourceVersion %s -> %s, status %+v", rv, gc.ResourceVersion, gc.Status)
	}
	if c := meta.FindStatusCondition(gc.Status.Conditions, accepted); c == nil || !c.LastTransitionTime.Equal(&back.LastTransitionTime) {
		t.Errorf("lastTransitionTime moved without a transition: %+v vs %+v", c, back)
	}
}

func TestSupportedVersionFollowsInstalledCRDs(t *testing.T) {
	create(t, gatewayClass("versions", nil))
	sv := string(gwapiv1.GatewayClassConditionStatusSupportedVersion)
	classCondition(t, "versions", sv, metav1.ConditionTrue, string(gwapiv1.GatewayClassReasonSupportedVersion))

	setBundleVersion := func(v string) {
		t.Helper()
		eventually(t, 5*time.Second, func(ctx context.Context) error {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := k8s.Get(ctx, client.ObjectKey{Name: "udproutes.gateway.networking.k8s.io"}, crd); err != nil {
				return err
			}
			crd.Annotations[consts.BundleVersionAnnotation] = v
			return k8s.Update(ctx, crd)
		})
	}
	setBundleVersion("v1.5.0")
	t.Cleanup(func() { setBundleVersion(consts.BundleVersion) })
	c := classCondition(t, "versions", sv, metav1.ConditionFalse, string(gwapiv1.GatewayClassReasonUnsupportedVersion))
	if !strings.Contains(c.Message, "udproutes.gateway.networking.k8s.io (v1.5.0)") || !strings.Contains(c.Message, "v1.6.x") {
		t.Errorf("message %q does not name the CRD, its version and the supported version", c.Message)
	}
	// Best effort: the class stays accepted.
	classCondition(t, "versions", string(gwapiv1.GatewayClassConditionStatusAccepted), metav1.ConditionTrue, string(gwapiv1.GatewayClassReasonAccepted))
	setBundleVersion(consts.BundleVersion)
	classCondition(t, "versions", sv, metav1.ConditionTrue, string(gwapiv1.GatewayClassReasonSupportedVersion))
}

func TestGatewayClassFinalizerWhileGatewaysExist(t *testing.T) {
	ctx := context.Background()
	create(t, gatewayClass("finalizer", nil))
	classCondition(t, "finalizer", string(gwapiv1.GatewayClassConditionStatusAccepted), metav1.ConditionTrue, string(gwapiv1.GatewayClassReasonAccepted))
	hasFinalizer := func(want bool) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			gc := &gwapiv1.GatewayClass{}
			if err := k8s.Get(ctx, client.ObjectKey{Name: "finalizer"}, gc); err != nil {
				return err
			}
			if got := slices.Contains(gc.Finalizers, gwapiv1.GatewayClassFinalizerGatewaysExist); got != want {
				return fmt.Errorf("finalizers %v, want finalizer present=%v", gc.Finalizers, want)
			}
			return nil
		}
	}
	eventually(t, 5*time.Second, hasFinalizer(false))

	gw := &gwapiv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "uses-finalizer", Namespace: "default"},
		Spec: gwapiv1.GatewaySpec{GatewayClassName: "finalizer", Listeners: []gwapiv1.Listener{
			{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType},
		}},
	}
	create(t, gw)
	eventually(t, 10*time.Second, hasFinalizer(true))

	// Deleting the class waits for its Gateways.
	if err := k8s.Delete(ctx, gatewayClass("finalizer", nil)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	gc := &gwapiv1.GatewayClass{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: "finalizer"}, gc); err != nil || gc.DeletionTimestamp.IsZero() {
		t.Fatalf("class should be terminating while its Gateway exists: err=%v class=%+v", err, gc.ObjectMeta)
	}
	if err := k8s.Delete(ctx, gw); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func(ctx context.Context) error {
		err := k8s.Get(ctx, client.ObjectKey{Name: "finalizer"}, &gwapiv1.GatewayClass{})
		if err == nil {
			return fmt.Errorf("class still exists after its last Gateway went")
		}
		return client.IgnoreNotFound(err)
	})
}

// writesTo sums the manager's API writes (every verb) to objects of a kind, from its metrics.
func writesTo(kind string) float64 {
	total := 0.0
	for _, verb := range []string{"create", "update", "patch", "delete", "apply", "update-status", "patch-status"} {
		total += testutil.ToFloat64(apiwrites.Writes.WithLabelValues(kind, verb))
	}
	return total
}

// A Gateway that moves to another class takes the finalizer with it.
func TestGatewayClassFinalizerFollowsAGatewayThatChangesClass(t *testing.T) {
	create(t, gatewayClass("move-from", nil))
	create(t, gatewayClass("move-to", nil))
	gw := &gwapiv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "mover", Namespace: "default"},
		Spec: gwapiv1.GatewaySpec{GatewayClassName: "move-from", Listeners: []gwapiv1.Listener{
			{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType},
		}},
	}
	create(t, gw)
	finalizer := func(class string, want bool) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			gc := &gwapiv1.GatewayClass{}
			if err := k8s.Get(ctx, client.ObjectKey{Name: class}, gc); err != nil {
				return err
			}
			if got := slices.Contains(gc.Finalizers, gwapiv1.GatewayClassFinalizerGatewaysExist); got != want {
				return fmt.Errorf("class %s finalizers %v, want present=%v", class, gc.Finalizers, want)
			}
			return nil
		}
	}
	eventually(t, 10*time.Second, finalizer("move-from", true))
	eventually(t, 5*time.Second, func(ctx context.Context) error {
		cur := &gwapiv1.Gateway{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(gw), cur); err != nil {
			return err
		}
		cur.Spec.GatewayClassName = "move-to"
		return k8s.Update(ctx, cur)
	})
	eventually(t, 10*time.Second, finalizer("move-to", true))
	eventually(t, 10*time.Second, finalizer("move-from", false))
}
