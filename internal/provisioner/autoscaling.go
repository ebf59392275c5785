package provisioner

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// HorizontalPodAutoscaler scales the fleet's Deployment on average CPU utilization when
// p.Autoscaling is set; nil otherwise (the controller then deletes any it made before).
func HorizontalPodAutoscaler(gw *gwapiv1.Gateway, p Params) *autoscalingv2.HorizontalPodAutoscaler {
	a := p.Autoscaling
	if a == nil {
		return nil
	}
	target := DefaultTargetCPUUtilization
	if a.TargetCPUUtilizationPercentage != nil {
		target = *a.TargetCPUUtilizationPercentage
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: objectMeta(gw, p),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: FleetName(gw)},
			MinReplicas:    copyPtr(&a.MinReplicas),
			MaxReplicas:    a.MaxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name:   corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target},
				},
			}},
		},
	}
}

// PodDisruptionBudget protects the fleet's Pods during voluntary disruptions when
// p.PodDisruptionBudget is set; nil otherwise.
func PodDisruptionBudget(gw *gwapiv1.Gateway, p Params) *policyv1.PodDisruptionBudget {
	b := p.PodDisruptionBudget
	if b == nil {
		return nil
	}
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(gw, p),
		Spec: policyv1.PodDisruptionBudgetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: SelectorLabels(gw)},
			MinAvailable:   copyPtr(b.MinAvailable),
			MaxUnavailable: copyPtr(b.MaxUnavailable),
		},
	}
}
