package controller

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-dev/flotilla/internal/xds/server"
)

// Data-plane reports: every replica publishes what the Envoys connected to it say, one Lease per
// replica in the operator's namespace (see doc.go, "Data-plane status from every replica").
const (
	// LabelDataPlaneReport marks a replica's report Lease; its value is the replica's name.
	LabelDataPlaneReport = "gateway.flotilla.dev/data-plane-report"
	// AnnotationDataPlaneReport holds the report, compact JSON (DataPlaneReport).
	AnnotationDataPlaneReport = "gateway.flotilla.dev/data-plane-report"
	// maxRejectionMessage bounds Envoy's error message in a report (a Lease's annotations may
	// not exceed 256 KiB together).
	maxRejectionMessage = 512
)

// DataPlaneReport is one replica's view of the fleets whose Envoys are connected to it.
type DataPlaneReport struct {
	// Fleets by fleet key; a fleet with no Envoy on the replica is absent.
	Fleets map[string]FleetDataPlane `json:"fleets,omitempty"`
}

// FleetDataPlane is what one fleet's Envoys connected to one replica said, or the sum over replicas.
type FleetDataPlane struct {
	// Connected Envoys, and how many of them run the latest version of every type.
	Connected int `json:"connected"`
	UpToDate  int `json:"upToDate"`
	// Rejected is the latest NACK still outstanding.
	Rejected *DataPlaneRejection `json:"rejected,omitempty"`
	// Replicas is how many replicas' reports were summed (aggregates only).
	Replicas int `json:"-"`
}

// DataPlaneRejection is one NACK: Envoy Node refused Version of Type (a type URL) with Message.
type DataPlaneRejection struct {
	Node    string      `json:"node"`
	Type    string      `json:"type"`
	Version string      `json:"version"`
	Message string      `json:"message"`
	At      metav1.Time `json:"at"`
}

// fleetDataPlane is a fleet's entry of a report, from what the xDS server says.
func fleetDataPlane(st server.DataPlaneStatus) FleetDataPlane {
	out := FleetDataPlane{Connected: st.Connected, UpToDate: st.UpToDate}
	if r := st.Rejected; r != nil {
		msg := r.Message
		if len(msg) > maxRejectionMessage {
			msg = msg[:maxRejectionMessage] + "…"
		}
		// Second precision, as the report stores it: a NACK compares the same before and after.
		out.Rejected = &DataPlaneRejection{Node: r.Node, Type: r.TypeURL, Version: r.Version, Message: msg,
			At: metav1.NewTime(r.At.Truncate(time.Second))}
	}
	return out
}

// empty says the entry has nothing to report.
func (f FleetDataPlane) empty() bool { return f.Connected == 0 && f.Rejected == nil }

// equal compares two entries by what they report.
func (f FleetDataPlane) equal(o FleetDataPlane) bool {
	if f.Connected != o.Connected || f.UpToDate != o.UpToDate || (f.Rejected == nil) != (o.Rejected == nil) {
		return false
	}
	if f.Rejected == nil {
		return true
	}
	a, b := *f.Rejected, *o.Rejected
	return a.Node == b.Node && a.Type == b.Type && a.Version == b.Version && a.Message == b.Message && a.At.Equal(&b.At)
}

// add sums two replicas' views of a fleet: counts add up, the latest NACK wins (ties by node and
// type, so the result does not depend on the order of the reports).
func (f FleetDataPlane) add(o FleetDataPlane) FleetDataPlane {
	out := FleetDataPlane{Connected: f.Connected + o.Connected, UpToDate: f.UpToDate + o.UpToDate,
		Replicas: f.Replicas + 1, Rejected: f.Rejected}
	if r := o.Rejected; r != nil && (out.Rejected == nil || r.At.After(out.Rejected.At.Time) ||
		r.At.Equal(&out.Rejected.At) && r.Type+r.Node < out.Rejected.Type+out.Rejected.Node) {
		out.Rejected = r
	}
	return out
}

// encodeReport is the annotation's value: deterministic (encoding/json sorts map keys).
func encodeReport(r DataPlaneReport) (string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("encoding the data-plane report: %w", err)
	}
	return string(b), nil
}

// decodeReport reads a report Lease's annotation (an unreadable one reports nothing).
func decodeReport(l *coordinationv1.Lease) (DataPlaneReport, error) {
	var r DataPlaneReport
	raw := l.Annotations[AnnotationDataPlaneReport]
	if raw == "" {
		return r, nil
	}
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return DataPlaneReport{}, fmt.Errorf("decoding the data-plane report of Lease %s/%s: %w", l.Namespace, l.Name, err)
	}
	return r, nil
}

// reportExpiry is when a report Lease stops counting: its last renewal plus its duration. A Lease
// without either has expired.
func reportExpiry(l *coordinationv1.Lease) time.Time {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return time.Time{}
	}
	return l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
}

// changedFleets are the fleets whose entries differ between two reports, sorted.
func changedFleets(before, after DataPlaneReport) []string {
	var out []string
	for fleet, a := range after.Fleets {
		if b, ok := before.Fleets[fleet]; !ok || !a.equal(b) {
			out = append(out, fleet)
		}
	}
	for fleet := range before.Fleets {
		if _, ok := after.Fleets[fleet]; !ok {
			out = append(out, fleet)
		}
	}
	slices.Sort(out)
	return out
}

// reportFleets are a report's fleet keys, sorted.
func reportFleets(r DataPlaneReport) []string { return slices.Sorted(maps.Keys(r.Fleets)) }

var invalidNameChars = regexp.MustCompile(`[^a-z0-9.-]+`)

// ReportLeaseName is the name of a replica's report Lease.
func ReportLeaseName(replica string) string {
	n := strings.Trim(invalidNameChars.ReplaceAllString(strings.ToLower(replica), "-"), "-.")
	if n == "" {
		n = "replica"
	}
	return strings.TrimRight("flotilla-data-plane-"+n[:min(len(n), 200)], "-.")
}

// dataPlaneCondition is the Gateway's ConditionDataPlaneAccepted from a translation failure (this
// replica's; every replica translates the same resolution) and the fleet's Envoys summed over
// every replica's unexpired report. Pure.
func dataPlaneCondition(failure string, dp FleetDataPlane, generation int64) metav1.Condition {
	c := metav1.Condition{Type: ConditionDataPlaneAccepted, ObservedGeneration: generation}
	switch {
	case failure != "":
		c.Status, c.Reason = metav1.ConditionFalse, ReasonTranslationFailed
		c.Message = "Translating the configuration failed (a Flotilla bug; the last good configuration keeps serving): " + failure
	case dp.Rejected != nil:
		r := dp.Rejected
		c.Status, c.Reason = metav1.ConditionFalse, ReasonDataPlaneRejected
		// No counts here: the message is the Warning Event's, which counts moving must not repeat.
		c.Message = fmt.Sprintf("Envoy %s rejected %s version %s (it keeps serving its last accepted configuration): %s",
			r.Node, strings.TrimPrefix(r.Type, resource.APITypePrefix), r.Version, r.Message)
	case dp.Connected == 0:
		c.Status, c.Reason = metav1.ConditionUnknown, ReasonNoProxiesConnected
		c.Message = "No Envoy of this fleet is connected to any Flotilla replica"
	case dp.UpToDate == dp.Connected:
		c.Status, c.Reason = metav1.ConditionTrue, ReasonDataPlaneAccepted
		c.Message = fmt.Sprintf("%s on %s accepted the latest configuration", envoys(dp.Connected), replicas(dp.Replicas))
	default:
		c.Status, c.Reason = metav1.ConditionUnknown, ReasonDataPlaneAccepted
		c.Message = fmt.Sprintf("%d of %s on %s run the latest configuration; waiting for the others to acknowledge it",
			dp.UpToDate, envoys(dp.Connected), replicas(dp.Replicas))
	}
	return c
}

func envoys(n int) string {
	if n == 1 {
		return "1 connected Envoy"
	}
	return fmt.Sprintf("%d connected Envoys", n)
}

func replicas(n int) string {
	if n == 1 {
		return "1 replica"
	}
	return fmt.Sprintf("%d replicas", n)
}
