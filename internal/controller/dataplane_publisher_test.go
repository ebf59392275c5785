package controller

import (
	"context"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/flotilla-dev/flotilla/internal/scheme"
	"github.com/flotilla-dev/flotilla/internal/xds/server"
)

type fakeStatus struct {
	mu sync.Mutex
	by map[string]server.DataPlaneStatus
}

func (f *fakeStatus) set(fleet string, st server.DataPlaneStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.by[fleet] = st
}

func (f *fakeStatus) DataPlaneStatus(fleet string) server.DataPlaneStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.by[fleet]
}

// The report is written when what it says changes and only then; a renewal patches renewTime
// alone; the leader's side reads it back.
func TestReportPublisherWritesOnlyChanges(t *testing.T) {
	writes := map[string]int{}
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			writes["create"]++
			return c.Create(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			writes["patch"]++
			return c.Patch(ctx, obj, p, opts...)
		},
	}).Build()
	src := &fakeStatus{by: map[string]server.DataPlaneStatus{}}
	p := &ReportPublisher{Client: c, Namespace: "flotilla-system", Replica: "replica-b", Source: src,
		RenewInterval: time.Second, Expiry: 3 * time.Second}
	p.init()
	ctx := context.Background()
	key := types.NamespacedName{Namespace: "flotilla-system", Name: ReportLeaseName("replica-b")}
	read := func() DataPlaneReport {
		t.Helper()
		l := &coordinationv1.Lease{}
		if err := c.Get(ctx, key, l); err != nil {
			t.Fatal(err)
		}
		if l.Labels[LabelDataPlaneReport] == "" || *l.Spec.LeaseDurationSeconds != 3 || *l.Spec.HolderIdentity != "replica-b" {
			t.Errorf("lease %+v", l.ObjectMeta)
		}
		r, err := decodeReport(l)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	src.set("team/a", server.DataPlaneStatus{Connected: 2, UpToDate: 1})
	p.Changed("team/a")
	p.Changed("team/b") // nothing connected: not reported
	if err := p.flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := read().Fleets; len(got) != 1 || got["team/a"].Connected != 2 || got["team/a"].UpToDate != 1 {
		t.Errorf("report %+v", got)
	}
	if writes["create"] != 1 || writes["patch"] != 1 { // the patch found nothing, so it created
		t.Errorf("writes %v after the first report", writes)
	}
	// A replica restarted under the same name replaces its previous report at once.
	again := &ReportPublisher{Client: c, Namespace: "flotilla-system", Replica: "replica-b", Source: &fakeStatus{by: map[string]server.DataPlaneStatus{}},
		RenewInterval: time.Second, Expiry: 3 * time.Second}
	again.init()
	if err := again.flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got := read().Fleets; len(got) != 0 {
		t.Errorf("the restarted replica's first write kept %v", got)
	}
	if err := p.write(ctx, true); err != nil { // back to what p says
		t.Fatal(err)
	}
	writes = map[string]int{"create": 1, "patch": 1}

	// Notices that change nothing write nothing.
	p.Changed("team/a")
	p.Changed("team/c")
	if err := p.flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	if writes["patch"] != 1 {
		t.Errorf("an unchanged report was written: %v", writes)
	}

	// A change is written; so is the fleet's departure.
	src.set("team/a", server.DataPlaneStatus{Connected: 2, UpToDate: 2})
	p.Changed("team/a")
	if err := p.flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := read().Fleets["team/a"]; got.UpToDate != 2 || writes["patch"] != 2 {
		t.Errorf("report %+v after %v", got, writes)
	}
	src.set("team/a", server.DataPlaneStatus{})
	p.Changed("team/a")
	if err := p.flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := read().Fleets; len(got) != 0 || writes["patch"] != 3 {
		t.Errorf("report %+v after %v", got, writes)
	}

	// A renewal keeps the report.
	src.set("team/a", server.DataPlaneStatus{Connected: 1, UpToDate: 1})
	p.Changed("team/a")
	if err := p.flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := p.flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got := read().Fleets["team/a"]; got.Connected != 1 || writes["patch"] != 5 {
		t.Errorf("after a renewal: %+v, writes %v", got, writes)
	}

	// The leader sums it with its own view, and stops when it expires.
	now := time.Now()
	reports := &DataPlaneReports{Reader: c, Namespace: "flotilla-system", Replica: "replica-a",
		Self: &fakeStatus{by: map[string]server.DataPlaneStatus{"team/a": {Connected: 3, UpToDate: 3}}}, Now: func() time.Time { return now }}
	dp, err := reports.Fleet(ctx, "team/a")
	if err != nil {
		t.Fatal(err)
	}
	if dp.Connected != 4 || dp.UpToDate != 4 || dp.Replicas != 2 {
		t.Errorf("sum %+v", dp)
	}
	now = now.Add(4 * time.Second)
	if dp, _ := reports.Fleet(ctx, "team/a"); dp.Connected != 3 || dp.Replicas != 1 {
		t.Errorf("sum after the report expired %+v", dp)
	}
}
