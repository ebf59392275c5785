package server

import (
	"context"
	"errors"
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/delta/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errForgotten ends the streams of a fleet that Forget dropped; errCertificateExpired a stream
// whose client certificate expired; errTrustWithdrawn one whose certificate's CA is no longer
// trusted (Reauthorize).
var (
	errForgotten          = errors.New("the fleet is no longer served")
	errCertificateExpired = errors.New("the client certificate expired")
	errTrustWithdrawn     = errors.New("the client certificate's CA is no longer trusted")
)

// adsService is the gRPC ADS service, and the only service registered (no per-type xDS services,
// no REST fetch): go-control-plane's state-of-the-world and delta handlers, each stream wrapped so
// that Forget can end it. (It uses the sotw and delta servers directly: go-control-plane's
// umbrella server package pulls in its rate-limit service module, which Flotilla does not need.)
type adsService struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	sotw  sotw.Server
	delta delta.Server
}

func (a *adsService) StreamAggregatedResources(st discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	c := newCancelable(st)
	defer c.cancel(nil)
	return c.result(a.sotw.StreamHandler(c, resource.AnyType))
}

func (a *adsService) DeltaAggregatedResources(st discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	c := newCancelable(st)
	defer c.cancel(nil)
	return c.result(a.delta.DeltaStreamHandler(c, resource.AnyType))
}

// cancelKey finds a stream's cancel function in its context (the callbacks only get the context).
type cancelKey struct{}

func cancelFrom(ctx context.Context) func(error) {
	cancel, _ := ctx.Value(cancelKey{}).(context.CancelCauseFunc)
	return cancel
}

// cancelableStream is a gRPC stream whose Recv also returns when its context is cancelled:
// go-control-plane ends a stream only when Recv fails or its server context ends, so this is how
// one stream is ended from outside. A goroutine per stream does the blocking Recv.
type cancelableStream[Req, Resp any] struct {
	grpc.BidiStreamingServer[Req, Resp]
	ctx    context.Context
	cancel context.CancelCauseFunc
	recv   chan received[Req]
	once   sync.Once
}

type received[Req any] struct {
	msg *Req
	err error
}

func newCancelable[Req, Resp any](st grpc.BidiStreamingServer[Req, Resp]) *cancelableStream[Req, Resp] {
	ctx, cancel := context.WithCancelCause(st.Context())
	return &cancelableStream[Req, Resp]{
		BidiStreamingServer: st,
		ctx:                 context.WithValue(ctx, cancelKey{}, cancel),
		cancel:              cancel,
		recv:                make(chan received[Req]),
	}
}

func (c *cancelableStream[Req, Resp]) Context() context.Context { return c.ctx }

func (c *cancelableStream[Req, Resp]) Recv() (*Req, error) {
	c.once.Do(func() { go c.pump() })
	select {
	case r := <-c.recv:
		return r.msg, r.err
	case <-c.ctx.Done():
		return nil, context.Cause(c.ctx)
	}
}

// pump reads the real stream until it fails or the stream is cancelled (the handler returning
// cancels it, which also ends the real Recv).
func (c *cancelableStream[Req, Resp]) pump() {
	for {
		msg, err := c.BidiStreamingServer.Recv()
		select {
		case c.recv <- received[Req]{msg, err}:
		case <-c.ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// result is the handler's error: go-control-plane ends a stream whose Recv failed without error,
// so a stream ended by Forget says why.
func (c *cancelableStream[Req, Resp]) result(err error) error {
	switch cause := context.Cause(c.ctx); {
	case errors.Is(cause, errForgotten):
		return status.Error(codes.Unavailable, errForgotten.Error())
	case errors.Is(cause, errCertificateExpired):
		return status.Error(codes.Unauthenticated, errCertificateExpired.Error())
	case errors.Is(cause, errTrustWithdrawn):
		return status.Error(codes.Unauthenticated, errTrustWithdrawn.Error())
	}
	return err
}
