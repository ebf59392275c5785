package xdstest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	// The resource types a client decodes.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// state is what a client holds per type, guarded by base.mu.
type state struct {
	version   string // the version accepted last (SotW version_info; delta system_version_info)
	nonce     string // the nonce received last
	names     []string
	wildcard  bool
	resources map[string]proto.Message // accepted resources by name
	versions  map[string]string        // delta: accepted resources' versions by name
	responses int                      // responses received
	received  int                      // resources received, over all responses
	nacks     int                      // responses rejected
	reject    string                   // when set, responses are NACKed with this message
}

// base is the stream bookkeeping both clients share: per-type state, the stream's end, and a
// broadcast on every change that Wait listens to.
type base struct {
	mu        sync.Mutex
	types     map[string]*state
	changed   chan struct{}
	err       error
	done      chan struct{}
	cancel    context.CancelFunc
	closeFn   func() error
	closeOnce sync.Once
	closeErr  error
}

func newBase(cancel context.CancelFunc) base {
	return base{types: map[string]*state{}, changed: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
}

func (b *base) typ(typeURL string) *state {
	st := b.types[typeURL]
	if st == nil {
		st = &state{resources: map[string]proto.Message{}, versions: map[string]string{}}
		b.types[typeURL] = st
	}
	return st
}

// broadcastLocked wakes every Wait.
func (b *base) broadcastLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// end records why the stream ended.
func (b *base) end(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
	close(b.done)
	b.broadcastLocked()
}

// Wait waits until cond holds, ctx ends (an error) or the stream ends first (an error wrapping
// why). cond is evaluated now and after every change of the client's state (a response, the
// stream's end), without the client's lock, so it may call the client's accessors; it is not
// re-evaluated on changes elsewhere (the server's own state, say).
func (b *base) Wait(ctx context.Context, cond func() bool) error {
	for {
		b.mu.Lock()
		ch, done := b.changed, b.err != nil || isClosed(b.done)
		b.mu.Unlock()
		if cond() {
			return nil
		}
		if done {
			return fmt.Errorf("xDS stream ended: %w", b.Err())
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the xDS server: %w", ctx.Err())
		}
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// WaitResponses waits until at least n responses of the type have arrived (ACKed or not).
func (b *base) WaitResponses(ctx context.Context, typeURL string, n int) error {
	return b.Wait(ctx, func() bool { return b.Responses(typeURL) >= n })
}

// WaitVersion waits until the client has accepted version of the type.
func (b *base) WaitVersion(ctx context.Context, typeURL, version string) error {
	return b.Wait(ctx, func() bool { return b.Version(typeURL) == version })
}

// Version is the version of the type the client accepted last ("" before any).
func (b *base) Version(typeURL string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.typ(typeURL).version
}

// Responses counts the responses of the type received, accepted or rejected.
func (b *base) Responses(typeURL string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.typ(typeURL).responses
}

// Received counts the resources of the type received, over all responses (accepted or not): what
// the server sent, where Responses counts how often it did.
func (b *base) Received(typeURL string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.typ(typeURL).received
}

// resumeFrom copies what an earlier stream's client accepted (versions, subscriptions, resources,
// rejections), as Envoy keeps its configuration across a reconnect; counters start again at zero.
func (b *base) resumeFrom(prev *base) {
	prev.mu.Lock()
	defer prev.mu.Unlock()
	for typ, p := range prev.types {
		b.types[typ] = &state{version: p.version, names: slices.Clone(p.names), wildcard: p.wildcard,
			resources: maps.Clone(p.resources), versions: maps.Clone(p.versions), reject: p.reject}
	}
}

// NACKs counts the responses of the type the client rejected.
func (b *base) NACKs(typeURL string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.typ(typeURL).nacks
}

// Resources returns the accepted resources of the type by name (a copy of the map; the messages
// are shared and must not be modified).
func (b *base) Resources(typeURL string) map[string]proto.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.typ(typeURL).resources)
}

// Names returns the sorted names of the accepted resources of the type.
func (b *base) Names(typeURL string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Sorted(maps.Keys(b.typ(typeURL).resources))
}

// Reject makes the client NACK every response of the type, with message as Envoy's error
// detail, until Accept; the client keeps what it accepted before, as Envoy does.
func (b *base) Reject(typeURL, message string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.typ(typeURL).reject = message
}

// Accept makes the client ACK responses of the type again (from the next one on).
func (b *base) Accept(typeURL string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.typ(typeURL).reject = ""
}

// Done is closed when the stream has ended.
func (b *base) Done() <-chan struct{} { return b.done }

// Err is why the stream ended (nil while it is open).
func (b *base) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Close ends the stream and the connection and waits for the receiving goroutine. Closing
// again does nothing.
func (b *base) Close() error {
	b.closeOnce.Do(func() {
		b.cancel()
		b.closeErr = b.closeFn()
		<-b.done
	})
	return b.closeErr
}

// decode unpacks a response's resources by name.
func decode(resources []*anypb.Any) (map[string]proto.Message, error) {
	out := make(map[string]proto.Message, len(resources))
	for _, a := range resources {
		m, err := a.UnmarshalNew()
		if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", a.GetTypeUrl(), err)
		}
		name := cache.GetResourceName(m)
		if name == "" {
			return nil, errors.New("a resource without a name")
		}
		out[name] = m
	}
	return out, nil
}
