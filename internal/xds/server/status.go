package server

import (
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maxPending bounds the responses remembered per stream and type while their ACK is awaited.
const maxPending = 16

// DataPlaneStatus is what a fleet's Envoys connected to this replica last said.
type DataPlaneStatus struct {
	// Connected counts the fleet's admitted streams.
	Connected int
	// UpToDate counts the connected Envoys that run the latest version of every type they
	// subscribed to, clusters and listeners included (0 while the fleet is not published).
	UpToDate int
	// Acked: the fleet is published, at least one stream is connected, and every connected Envoy
	// has subscribed to clusters and listeners and accepted the latest version of every type it
	// subscribed to. (A delta stream counts as up to date when it has no response awaiting an
	// ACK and no NACK outstanding, since delta requests carry no version.)
	Acked bool
	// Rejected is the latest NACK still outstanding, nil when none is.
	Rejected *Rejection
}

// Rejection is one NACK: Envoy Node refused Version of TypeURL with Message (its error_detail).
// It is outstanding until that stream accepts another version of the type, the stream closes, or
// the current version becomes the one the Envoy runs.
type Rejection struct {
	TypeURL string
	Version string
	Message string
	Node    string
	At      time.Time
}

// summary is the part of a DataPlaneStatus whose change OnDataPlaneStatus reports: the counts
// too, so that another Envoy connecting to a fleet that is up to date is reported.
type summary struct {
	acked                             bool
	connected, upToDate               int
	typeURL, version, message, nodeID string
}

// typeState is one stream's exchange for one type. Guarded by Server.mu.
type typeState struct {
	requested bool
	pending   []sentResponse // sent, awaiting ACK or NACK, oldest first
	lastSent  string
	accepted  string     // SotW: the request's version_info; delta: the version of the last ACKed response
	nack      *Rejection // outstanding NACK on this stream
	nackBase  string     // SotW: the version Envoy ran when it sent the NACK
	// nackLogged is when a NACK of this type on this stream was last logged, and quiet how many
	// have not been since (see nackLogInterval).
	nackLogged time.Time
	quiet      int
}

// nackLogInterval bounds the log lines of NACKs: per stream and type, a NACK of another version or
// message than the outstanding one is logged, others at most once per interval (with the number
// left out). A client NACKing in a loop costs a metric increment per request, no push (park) and
// no log flood.
const nackLogInterval = 30 * time.Second

type sentResponse struct{ nonce, version string }

// take returns the version sent under nonce and forgets it and everything sent before it.
func (ts *typeState) take(nonce string) (string, bool) {
	if nonce == "" {
		return "", false
	}
	for i, r := range ts.pending {
		if r.nonce == nonce {
			ts.pending = ts.pending[i+1:]
			return r.version, true
		}
	}
	return "", false
}

func (st *xstream) typ(typeURL string) *typeState {
	ts := st.types[typeURL]
	if ts == nil {
		ts = &typeState{}
		st.types[typeURL] = ts
	}
	return ts
}

// xdsRequest is what state-of-the-world and delta requests have in common.
type xdsRequest interface {
	GetTypeUrl() string
	GetResponseNonce() string
	GetErrorDetail() *rpcstatus.Status
}

// request checks a request's identity (refusing the stream when it fails) and records its ACK or
// NACK. For a state-of-the-world request it may rewrite version_info, see park.
func (s *Server) request(key streamKey, node *corev3.Node, req xdsRequest) error {
	now := time.Now()
	s.mu.Lock()
	st := s.streams[key]
	if st == nil {
		s.mu.Unlock()
		return status.Error(codes.Internal, "unknown xDS stream")
	}
	if reason, claimed := s.admitLocked(st, node); reason != "" {
		nodeID := node.GetId()
		if node == nil {
			nodeID = st.node.GetId()
		}
		s.mu.Unlock()
		return s.refuse(st, reason, claimed, nodeID)
	}
	rejected, quiet := s.recordLocked(st, req, now)
	notify := s.updateSummaryLocked(st.fleet)
	s.mu.Unlock()
	if rejected != nil {
		s.log.Info("Envoy rejected its configuration", "fleet", st.fleet, "node", rejected.Node,
			"type", typeLabel(rejected.TypeURL), "version", rejected.Version, "error", rejected.Message, "notLoggedBefore", quiet)
	}
	if notify {
		s.notify(st.fleet)
	}
	return nil
}

// recordLocked updates a stream's exchange for the request's type and returns the NACK it
// carries when it is to be logged (see nackLogInterval), with how many were not logged before it.
func (s *Server) recordLocked(st *xstream, req xdsRequest, now time.Time) (*Rejection, int) {
	typ := req.GetTypeUrl()
	ts := st.typ(typ)
	ts.requested = true
	version, known := ts.take(req.GetResponseNonce())
	var rejected *Rejection
	repeated := false // the outstanding NACK again
	if detail := req.GetErrorDetail(); detail != nil {
		if !known {
			version = ts.lastSent
		}
		rejected = &Rejection{TypeURL: typ, Version: version, Message: detail.GetMessage(), Node: st.node.GetId(), At: now}
		if prev := ts.nack; prev != nil && prev.Version == rejected.Version && prev.Message == rejected.Message {
			rejected.At, repeated = prev.At, true // the same NACK again: DataPlaneStatus keeps when it first came
		}
		ts.nack = rejected
		if _, published := s.versions[st.fleet]; published {
			s.metrics.nacks.WithLabelValues(st.fleet, typeLabel(typ)).Inc()
		}
	}
	switch r := req.(type) {
	case *discoveryv3.DiscoveryRequest:
		// version_info is what Envoy runs, ACK or NACK alike; a new one supersedes a NACK.
		if rejected != nil {
			ts.nackBase = r.GetVersionInfo()
		} else if ts.nack != nil && r.GetVersionInfo() != ts.nackBase {
			ts.nack = nil
		}
		ts.accepted = r.GetVersionInfo()
		park(ts, r)
	case *discoveryv3.DeltaDiscoveryRequest:
		if rejected == nil && known {
			ts.accepted, ts.nack = version, nil
		}
	}
	if rejected == nil {
		return nil, 0
	}
	if !ts.nackLogged.IsZero() && now.Sub(ts.nackLogged) < nackLogInterval && repeated {
		ts.quiet++
		return nil, 0
	}
	quiet := ts.quiet
	ts.nackLogged, ts.quiet = now, 0
	return rejected, quiet
}

// park keeps go-control-plane from answering a NACK with the rejected version again (it would
// at once, since the request's version differs from the snapshot's, and Envoy would NACK again,
// forever): while the Envoy still runs the version it ran when it NACKed, its requests tell the
// cache it has the rejected version. The cache then answers when the snapshot moves on, or for
// names newly subscribed. A snapshot that already moved on is sent at once.
func park(ts *typeState, req *discoveryv3.DiscoveryRequest) {
	if ts.nack != nil && ts.nack.Version != "" && req.GetVersionInfo() == ts.nackBase {
		req.VersionInfo = ts.nack.Version
	}
}

// sent records a response about to be sent on a stream.
func (s *Server) sent(key streamKey, typeURL, nonce, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[key]
	if st == nil || !st.admitted {
		return
	}
	ts := st.typ(typeURL)
	ts.pending = append(ts.pending, sentResponse{nonce, version})
	if len(ts.pending) > maxPending {
		ts.pending = ts.pending[len(ts.pending)-maxPending:]
	}
	ts.lastSent = version
	if _, published := s.versions[st.fleet]; published {
		s.metrics.pushes.WithLabelValues(st.fleet, typeLabel(typeURL)).Inc()
	}
}

// DataPlaneStatus reports what the fleet's Envoys connected to this replica last said.
func (s *Server) DataPlaneStatus(fleet string) DataPlaneStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statusLocked(fleet)
}

func (s *Server) statusLocked(fleet string) DataPlaneStatus {
	current, published := s.versions[fleet]
	out := DataPlaneStatus{Connected: s.connected[fleet]}
	var latest *Rejection
	for st := range s.byFleet[fleet] {
		if !st.admitted {
			continue
		}
		// Still initialising until it has subscribed to clusters and listeners.
		streamUpToDate := published && st.types[resource.ClusterType] != nil && st.types[resource.ListenerType] != nil
		for typ, ts := range st.types {
			if !ts.requested {
				continue
			}
			var upToDate bool
			nack := ts.nack
			if st.key.delta {
				upToDate = len(ts.pending) == 0 && nack == nil
			} else {
				upToDate = ts.accepted == current[typ]
				if upToDate {
					nack = nil // the Envoy runs the current version after all
				}
			}
			streamUpToDate = streamUpToDate && upToDate
			if nack != nil && (latest == nil || nack.At.After(latest.At) ||
				nack.At.Equal(latest.At) && nack.TypeURL+nack.Node < latest.TypeURL+latest.Node) {
				latest = nack
			}
		}
		if streamUpToDate {
			out.UpToDate++
		}
	}
	acked := published && out.Connected > 0 && out.UpToDate == out.Connected
	out.Acked = acked
	if latest != nil {
		r := *latest
		out.Rejected = &r
	}
	return out
}

// updateSummaryLocked recomputes the fleet's summary and says whether it changed (a fleet never
// summarised counts as not acked, nothing rejected).
func (s *Server) updateSummaryLocked(fleet string) bool {
	st := s.statusLocked(fleet)
	sum := summary{acked: st.Acked, connected: st.Connected, upToDate: st.UpToDate}
	if r := st.Rejected; r != nil {
		sum.typeURL, sum.version, sum.message, sum.nodeID = r.TypeURL, r.Version, r.Message, r.Node
	}
	if s.summaries[fleet] == sum {
		return false
	}
	s.summaries[fleet] = sum
	return true
}
