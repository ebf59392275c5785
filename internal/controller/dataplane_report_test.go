package controller

import (
	"slices"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/flotilla-dev/flotilla/internal/xds/server"
)

func TestDataPlaneConditionAcrossReplicas(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	nack := func(node string, sec int) *DataPlaneRejection {
		return &DataPlaneRejection{Node: node, Type: resource.RouteType, Version: "v2", Message: "bad regex " + node,
			At: metav1.NewTime(at.Add(time.Duration(sec) * time.Second))}
	}
	sum := func(views ...FleetDataPlane) FleetDataPlane {
		var out FleetDataPlane
		for _, v := range views {
			out = out.add(v)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		failure string
		views   []FleetDataPlane
		status  metav1.ConditionStatus
		reason  string
		message string
	}{
		{name: "no replica has an Envoy", status: metav1.ConditionUnknown, reason: ReasonNoProxiesConnected,
			message: "No Envoy of this fleet is connected to any Flotilla replica"},
		{name: "all up to date on two replicas", views: []FleetDataPlane{{Connected: 1, UpToDate: 1}, {Connected: 2, UpToDate: 2}},
			status: metav1.ConditionTrue, reason: ReasonDataPlaneAccepted, message: "3 connected Envoys on 2 replicas accepted the latest configuration"},
		{name: "one Envoy", views: []FleetDataPlane{{Connected: 1, UpToDate: 1}},
			status: metav1.ConditionTrue, reason: ReasonDataPlaneAccepted, message: "1 connected Envoy on 1 replica accepted the latest configuration"},
		{name: "one replica behind", views: []FleetDataPlane{{Connected: 1, UpToDate: 1}, {Connected: 2, UpToDate: 1}},
			status: metav1.ConditionUnknown, reason: ReasonDataPlaneAccepted,
			message: "2 of 3 connected Envoys on 2 replicas run the latest configuration; waiting for the others to acknowledge it"},
		{name: "a NACK on the other replica, the latest wins", views: []FleetDataPlane{
			{Connected: 1, UpToDate: 0, Rejected: nack("envoy-a", 0)}, {Connected: 2, UpToDate: 1, Rejected: nack("envoy-b", 1)}},
			status: metav1.ConditionFalse, reason: ReasonDataPlaneRejected,
			message: "Envoy envoy-b rejected envoy.config.route.v3.RouteConfiguration version v2 (it keeps serving its last accepted configuration): bad regex envoy-b"},
		{name: "translation failure comes first", failure: "boom", views: []FleetDataPlane{{Connected: 1, Rejected: nack("envoy-a", 0)}},
			status: metav1.ConditionFalse, reason: ReasonTranslationFailed,
			message: "Translating the configuration failed (a Flotilla bug; the last good configuration keeps serving): boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dataPlaneCondition(tc.failure, sum(tc.views...), 7)
			if c.Status != tc.status || c.Reason != tc.reason || c.Message != tc.message || c.ObservedGeneration != 7 {
				t.Errorf("got %s/%s %q (generation %d), want %s/%s %q", c.Status, c.Reason, c.Message, c.ObservedGeneration, tc.status, tc.reason, tc.message)
			}
			// The order of the reports does not matter.
			rev := slices.Clone(tc.views)
			slices.Reverse(rev)
			if r := dataPlaneCondition(tc.failure, sum(rev...), 7); r != c {
				t.Errorf("reports in reverse order: %q, in order: %q", r.Message, c.Message)
			}
		})
	}
}

func TestReportEncodingAndChanges(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	e := fleetDataPlane(server.DataPlaneStatus{Connected: 2, UpToDate: 1,
		Rejected: &server.Rejection{TypeURL: resource.ClusterType, Version: "v1", Message: "no", Node: "n", At: at}})
	before := DataPlaneReport{Fleets: map[string]FleetDataPlane{"a/x": e, "b/y": {Connected: 1, UpToDate: 1}}}
	enc, err := encodeReport(before)
	if err != nil {
		t.Fatal(err)
	}
	l := &coordinationv1.Lease{}
	l.Annotations = map[string]string{AnnotationDataPlaneReport: enc}
	decoded, err := decodeReport(l)
	if err != nil {
		t.Fatal(err)
	}
	if got := changedFleets(before, decoded); len(got) != 0 {
		t.Errorf("a report read back differs in %v (%s)", got, enc)
	}
	after := DataPlaneReport{Fleets: map[string]FleetDataPlane{"a/x": {Connected: 2, UpToDate: 2}, "c/z": {Connected: 1}}}
	if got, want := changedFleets(decoded, after), []string{"a/x", "b/y", "c/z"}; !slices.Equal(got, want) {
		t.Errorf("changed fleets %v, want %v", got, want)
	}
	if got := changedFleets(after, after); len(got) != 0 {
		t.Errorf("an unchanged report changed %v", got)
	}
	renewed := metav1.NewMicroTime(at)
	l.Spec = coordinationv1.LeaseSpec{RenewTime: &renewed, LeaseDurationSeconds: ptr.To[int32](30)}
	if got := reportExpiry(l); !got.Equal(at.Add(30 * time.Second)) {
		t.Errorf("expiry %s", got)
	}
	if got := reportExpiry(&coordinationv1.Lease{}); !got.IsZero() {
		t.Errorf("a Lease never renewed expires at %s, want at once", got)
	}
}

func TestReportLeaseName(t *testing.T) {
	for in, want := range map[string]string{
		"flotilla-controller-manager-7d9f-abcde": "flotilla-data-plane-flotilla-controller-manager-7d9f-abcde",
		"My_Host.local":                          "flotilla-data-plane-my-host.local",
		"":                                       "flotilla-data-plane-replica",
	} {
		if got := ReportLeaseName(in); got != want {
			t.Errorf("ReportLeaseName(%q) = %q, want %q", in, got, want)
		}
	}
}
