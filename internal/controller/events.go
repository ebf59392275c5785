package controller

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

// recordTransition emits an Event when a condition changes what it says: a Warning when it turns
// False (or its False message changes), a Normal when it turns True again. Unchanged conditions emit
// nothing, so a resync never floods the namespace with Events.
func recordTransition(rec recorder.EventRecorder, obj runtime.Object, before *metav1.Condition, after metav1.Condition) {
	if rec == nil {
		return
	}
	switch {
	case after.Status == metav1.ConditionFalse &&
		(before == nil || before.Status != after.Status || before.Reason != after.Reason || before.Message != after.Message):
		rec.Eventf(obj, nil, corev1.EventTypeWarning, after.Reason, "Validate", "%s", after.Message)
	case after.Status == metav1.ConditionTrue && before != nil && before.Status == metav1.ConditionFalse:
		rec.Eventf(obj, nil, corev1.EventTypeNormal, after.Reason, "Validate", "%s", after.Message)
	}
}
