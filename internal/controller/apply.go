package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// FieldManager is the one server-side apply field manager of Flotilla's controllers.
const FieldManager = "flotilla"

// AnnotationAppliedHash records the hash of what Flotilla last applied to an object it owns.
const AnnotationAppliedHash = "gateway.flotilla.dev/applied-hash"

// Applier server-side applies the objects Flotilla owns, and only when they need it: an object whose
// live state already holds everything desired (and whose applied-hash matches) is not written, so
// a resync at steady state makes no API writes, while a deleted or hand-edited object is restored.
type Applier struct {
	Client client.Client
}

// Apply makes obj (a fully specified desired object) exist as desired, controlled by owner. It
// reports whether it wrote.
func (a *Applier) Apply(ctx context.Context, owner client.Object, obj client.Object) (bool, error) {
	scheme := a.Client.Scheme()
	gvk, err := apiutil.GVKForObject(obj, scheme)
	if err != nil {
		return false, err
	}
	if err := controllerutil.SetControllerReference(owner, obj, scheme); err != nil {
		return false, err
	}
	desired, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return false, fmt.Errorf("converting %s: %w", gvk.Kind, err)
	}
	delete(desired, "status")
	desired = prune(desired).(map[string]any)
	hash, err := hashOf(desired)
	if err != nil {
		return false, err
	}
	u := &unstructured.Unstructured{Object: desired}
	u.SetGroupVersionKind(gvk)
	anns := u.GetAnnotations()
	if anns == nil {
		anns = map[string]string{}
	}
	anns[AnnotationAppliedHash] = hash
	u.SetAnnotations(anns)

	live, err := scheme.New(gvk)
	if err != nil {
		return false, err
	}
	liveObj := live.(client.Object)
	switch err := a.Client.Get(ctx, client.ObjectKeyFromObject(obj), liveObj); {
	case err == nil:
		if !metav1.IsControlledBy(liveObj, owner) {
			// Never adopt: an apply would merge into it, keeping whatever its author put there.
			return false, notOwned(gvk.Kind, liveObj)
		}
		if liveObj.GetAnnotations()[AnnotationAppliedHash] == hash {
			liveU, err := runtime.DefaultUnstructuredConverter.ToUnstructured(liveObj)
			if err != nil {
				return false, err
			}
			// Uncached reads leave TypeMeta empty; the kind is not in question here.
			liveU["apiVersion"], liveU["kind"] = u.GetAPIVersion(), u.GetKind()
			if subset(u.Object, liveU) {
				return false, nil
			}
		}
	case !apierrors.IsNotFound(err):
		return false, fmt.Errorf("reading %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	if err := a.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("applying %s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return true, nil
}

// NotOwnedError says an object bearing the name of a fleet object exists but Flotilla did not create
// it for this Gateway instance: Flotilla owns only what it created, so it neither adopts nor
// overwrites it.
type NotOwnedError struct {
	Kind, Namespace, Name string
	// Controller is the object's controller reference, if it has one.
	Controller *metav1.OwnerReference
}

func notOwned(kind string, live client.Object) *NotOwnedError {
	return &NotOwnedError{Kind: kind, Namespace: live.GetNamespace(), Name: live.GetName(), Controller: metav1.GetControllerOf(live)}
}

func (e *NotOwnedError) Error() string {
	if e.Controller != nil {
		return fmt.Sprintf("%s %s/%s exists and is controlled by %s %s (uid %s), not by this Gateway", e.Kind, e.Namespace, e.Name,
			e.Controller.Kind, e.Controller.Name, e.Controller.UID)
	}
	return fmt.Sprintf("%s %s/%s exists and was not created by Flotilla for this Gateway", e.Kind, e.Namespace, e.Name)
}

// PreviousInstance says the object belongs to an earlier Gateway of the same name (deleted, then
// re-created): garbage collection removes it shortly, and the new instance's objects follow.
func (e *NotOwnedError) PreviousInstance(gw client.Object) bool {
	c := e.Controller
	return c != nil && c.Kind == "Gateway" && c.Name == gw.GetName() && c.UID != gw.GetUID()
}

// CheckOwned returns a *NotOwnedError for the first of objs (desired objects) that exists without
// owner as its controller, so that nothing is applied when any one of them cannot be.
func (a *Applier) CheckOwned(ctx context.Context, owner client.Object, objs ...client.Object) error {
	scheme := a.Client.Scheme()
	for _, obj := range objs {
		gvk, err := apiutil.GVKForObject(obj, scheme)
		if err != nil {
			return err
		}
		live, err := scheme.New(gvk)
		if err != nil {
			return err
		}
		liveObj := live.(client.Object)
		switch err := a.Client.Get(ctx, client.ObjectKeyFromObject(obj), liveObj); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("reading %s %s: %w", gvk.Kind, obj.GetName(), err)
		case !metav1.IsControlledBy(liveObj, owner):
			return notOwned(gvk.Kind, liveObj)
		}
	}
	return nil
}

// hashOf is a stable hash of an unstructured object (encoding/json sorts map keys).
func hashOf(obj map[string]any) (string, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}

// prune drops nulls and empty maps, which typed objects carry for unset fields (creationTimestamp:
// null, resources: {}) and the API server never stores.
func prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range t {
			p := prune(val)
			if p == nil {
				continue
			}
			if m, ok := p.(map[string]any); ok && len(m) == 0 {
				continue
			}
			out[k] = p
		}
		return out
	case []any:
		out := make([]any, 0, len(t))
		for _, val := range t {
			p := prune(val)
			if p == nil {
				p = map[string]any{}
			}
			out = append(out, p)
		}
		return out
	default:
		return v
	}
}

// subset says whether every field of want is in have with the same value. Lists must match
// element-wise, so an entry someone added to a list Flotilla owns counts as drift.
func subset(want, have any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			hv, ok := h[k]
			if !ok || !subset(wv, hv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !subset(w[i], h[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(want, have) || fmt.Sprint(want) == fmt.Sprint(have)
	}
}

// deleteIfOwned removes an object Flotilla no longer wants (an HPA after autoscaling was turned
// off, say), but only when owner controls it.
func deleteIfOwned(ctx context.Context, c client.Client, owner client.Object, obj client.Object) (bool, error) {
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.UID != owner.GetUID() {
		return false, nil
	}
	if err := c.Delete(ctx, obj); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return true, nil
}
