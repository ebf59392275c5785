package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// StatusWriter is the one place that writes status. It reads the object, lets the caller set the
// status it owns, and writes only when something changed; on a conflict it re-reads from the API
// server (the cache may lag behind our own last write) and tries again.
type StatusWriter struct {
	Client client.Client // cached reads, status writes
	Reader client.Reader // uncached reads after a conflict
	// Writer, when set, makes the status writes instead of Client (a client with limits of its
	// own: the bulk of a large fleet's writes are status).
	Writer client.Client
}

// Update applies mutate to the current state of the object named by key and writes its status if it
// changed. It reports whether a write happened. An object that no longer exists is not an error.
func (w *StatusWriter) Update(ctx context.Context, key types.NamespacedName, obj client.Object, mutate func()) (bool, error) {
	var reader client.Reader = w.Client
	wrote := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := reader.Get(ctx, key, obj); err != nil {
			return err
		}
		reader = w.Reader
		before := obj.DeepCopyObject()
		mutate()
		if equality.Semantic.DeepEqual(before, obj) {
			return nil
		}
		writer := w.Client
		if w.Writer != nil {
			writer = w.Writer
		}
		if err := writer.Status().Update(ctx, obj); err != nil {
			return err
		}
		wrote = true
		return nil
	})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("writing status of %s: %w", key, err)
	}
	return wrote, nil
}
