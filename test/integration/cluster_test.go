package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The test cluster behaves like a real one minus containers: Deployments become Available, Pods get
// IPs, EndpointSlices fill, and garbage collection removes owned objects. Later tests rely on it.
func TestClusterRunsWorkloads(t *testing.T) {
	ctx := context.Background()
	labels := map[string]string{"app": "smoke"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "example.invalid/app:1", Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				}}},
			},
		},
	}
	create(t, dep)
	create(t, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80}}},
	})

	eventually(t, 30*time.Second, func(ctx context.Context) error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(dep), d); err != nil {
			return err
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue && d.Status.AvailableReplicas == 2 {
				return nil
			}
		}
		return fmt.Errorf("deployment status %+v", d.Status)
	})
	eventually(t, 30*time.Second, func(ctx context.Context) error {
		slices := &discoveryv1.EndpointSliceList{}
		if err := k8s.List(ctx, slices, client.InNamespace("default"), client.MatchingLabels{discoveryv1.LabelServiceName: "smoke"}); err != nil {
			return err
		}
		ready := 0
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready && len(e.Addresses) == 1 {
					ready++
				}
			}
		}
		if ready != 2 {
			return fmt.Errorf("%d ready endpoints, want 2", ready)
		}
		return nil
	})

	// Garbage collection: the ReplicaSet and Pods go with the Deployment.
	if err := k8s.Delete(ctx, dep, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, func(ctx context.Context) error {
		pods := &corev1.PodList{}
		if err := k8s.List(ctx, pods, client.InNamespace("default"), client.MatchingLabels(labels)); err != nil {
			return err
		}
		rs := &appsv1.ReplicaSetList{}
		if err := k8s.List(ctx, rs, client.InNamespace("default"), client.MatchingLabels(labels)); err != nil {
			return err
		}
		if len(pods.Items)+len(rs.Items) > 0 {
			return fmt.Errorf("%d Pods and %d ReplicaSets left", len(pods.Items), len(rs.Items))
		}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(dep), &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("deployment still there: %v", err)
		}
		return nil
	})
}
