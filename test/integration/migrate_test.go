package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/migrate"
	"github.com/flotilla-dev/flotilla/internal/offline"
	"github.com/flotilla-dev/flotilla/test/cluster"
)

// What flotillactl migrate prints for the migration golden is valid for the real API server:
// every object passes a server-side dry run (schemas, CEL rules, Gateway API's webhook-free
// validation), and the RouteFilters, created, are Accepted by Flotilla's RouteFilter controller
// (with the basic-auth Secret they name, ResolvedRefs too).
func TestMigratedObjectsApply(t *testing.T) {
	dir := filepath.Join(cluster.RepoRoot(), "internal", "migrate", "testdata")
	data, err := os.ReadFile(filepath.Join(dir, "ingress-migrate.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := offline.Load([]offline.Source{{Name: "ingress-migrate.in.yaml", Dir: dir, Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := migrate.Migrate(set, migrate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range res.Objects {
		if ns := o.Obj.GetNamespace(); !seen[ns] {
			seen[ns] = true
			namespace(t, "migrate-"+ns, nil)
		}
	}
	// The golden's namespaces, prefixed so as not to meet other tests' objects.
	prefixed := func(o client.Object) client.Object {
		c := o.DeepCopyObject().(client.Object)
		c.SetNamespace("migrate-" + c.GetNamespace())
		return c
	}
	ctx := context.Background()
	for _, o := range res.Objects {
		if err := k8s.Create(ctx, prefixed(o.Obj), client.DryRunAll); err != nil {
			t.Errorf("%T %s/%s: the API server refuses it: %v", o.Obj, o.Obj.GetNamespace(), o.Obj.GetName(), err)
		}
	}
	users := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "migrate-shop", Name: "users"}}
	for _, s := range set.Docs.SecretData {
		if s.Name == "users" {
			users.Data = s.Data
		}
	}
	create(t, users)
	var filters int
	for _, o := range res.Objects {
		rf, ok := o.Obj.(*flotillav1alpha1.RouteFilter)
		if !ok {
			continue
		}
		rf = prefixed(rf).(*flotillav1alpha1.RouteFilter)
		if ba := rf.Spec.BasicAuth; ba != nil && ba.SecretRef.Namespace != nil {
			ba.SecretRef.Namespace = nil // the filter's own namespace, as in the golden
		}
		create(t, rf)
		filters++
		routeFilterCondition(t, rf, "Accepted", metav1.ConditionTrue, "Accepted", "")
		routeFilterCondition(t, rf, "ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs", "")
	}
	if filters < 7 {
		t.Errorf("%d RouteFilters were printed, want the golden's 7 or more", filters)
	}
}
