package xdstest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3filter "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/structpb"
)

// fakePicker is an ext_proc server that records the first two messages of a stream and answers
// with answer (nil: end the stream with err).
type fakePicker struct {
	extprocv3.UnimplementedExternalProcessorServer
	got    chan []*extprocv3.ProcessingRequest
	answer func(headers, body *extprocv3.ProcessingRequest) []*extprocv3.ProcessingResponse
	err    error
}

func (f *fakePicker) Process(srv extprocv3.ExternalProcessor_ProcessServer) error {
	var got []*extprocv3.ProcessingRequest
	for len(got) < 2 {
		req, err := srv.Recv()
		if err != nil {
			return err
		}
		got = append(got, req)
	}
	f.got <- got
	if f.answer == nil {
		return f.err
	}
	for _, r := range f.answer(got[0], got[1]) {
		if err := srv.Send(r); err != nil {
			return err
		}
	}
	// Like an EPP, keep the stream open for the response phases until the client goes.
	_, err := srv.Recv()
	if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
		return nil
	}
	return err
}

func startFake(t *testing.T, f *fakePicker) grpc.ClientConnInterface {
	t.Helper()
	f.got = make(chan []*extprocv3.ProcessingRequest, 1)
	l := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(srv, f)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///picker",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return l.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func lbMetadata(endpoint string) *structpb.Struct {
	s, _ := structpb.NewStruct(map[string]any{LBMetadataNamespace: map[string]any{DestinationEndpointHeader: endpoint}})
	return s
}

// headersAnswer is a request headers answer setting the destination header.
func headersAnswer(endpoint string, md *structpb.Struct) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{
			Response: &extprocv3.CommonResponse{ClearRouteCache: true, HeaderMutation: &extprocv3.HeaderMutation{
				SetHeaders: []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: DestinationEndpointHeader, RawValue: []byte(endpoint)}}},
			}},
		}},
		DynamicMetadata: md,
	}
}

var bodyAnswer = &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{
	RequestBody: &extprocv3.BodyResponse{Response: &extprocv3.CommonResponse{}}}}

func TestPickEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fake    *fakePicker
		want    Pick
		wantErr codes.Code
	}{{
		name: "headers answered after the body, metadata with them",
		fake: &fakePicker{answer: func(_, _ *extprocv3.ProcessingRequest) []*extprocv3.ProcessingResponse {
			return []*extprocv3.ProcessingResponse{headersAnswer("10.244.0.5:8000", lbMetadata("10.244.0.5:8000")), bodyAnswer}
		}},
		want: Pick{Header: "10.244.0.5:8000", Metadata: "10.244.0.5:8000"},
	}, {
		name: "metadata on the body answer; header and metadata disagree",
		fake: &fakePicker{answer: func(_, _ *extprocv3.ProcessingRequest) []*extprocv3.ProcessingResponse {
			body := &extprocv3.ProcessingResponse{Response: bodyAnswer.Response, DynamicMetadata: lbMetadata("10.244.0.6:8000")}
			return []*extprocv3.ProcessingResponse{headersAnswer("10.244.0.5:8000", nil), body}
		}},
		want: Pick{Header: "10.244.0.5:8000", Metadata: "10.244.0.6:8000"},
	}, {
		name: "immediate response",
		fake: &fakePicker{answer: func(_, _ *extprocv3.ProcessingRequest) []*extprocv3.ProcessingResponse {
			return []*extprocv3.ProcessingResponse{{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
				ImmediateResponse: &extprocv3.ImmediateResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable}}}}}
		}},
		want: Pick{ImmediateStatus: 503},
	}, {
		name:    "stream error",
		fake:    &fakePicker{err: status.Error(codes.Unavailable, "no pods available")},
		wantErr: codes.Unavailable,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			conn := startFake(t, tc.fake)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := PickEndpoint(ctx, conn, PickRequest{Model: "m", Prompt: "p", Headers: map[string]string{"Test-EPP-Endpoint-Selection": "10.244.0.5"}})
			if tc.wantErr != codes.OK {
				if status.Code(err) != tc.wantErr {
					t.Fatalf("error %v, want code %s", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("pick %+v, want %+v", got, tc.want)
			}

			sent := <-tc.fake.got
			hs := sent[0].GetRequestHeaders()
			if hs == nil || hs.GetEndOfStream() {
				t.Fatalf("first message %v, want request headers without end of stream", sent[0])
			}
			if m := sent[0].GetProtocolConfig().GetRequestBodyMode(); m != extprocv3filter.ProcessingMode_FULL_DUPLEX_STREAMED {
				t.Errorf("protocol config request body mode %s", m)
			}
			headers := map[string]string{}
			for _, h := range hs.GetHeaders().GetHeaders() {
				headers[h.GetKey()] = string(h.GetRawValue())
			}
			for k, v := range map[string]string{":method": "POST", ":path": "/v1/completions", ":scheme": "http",
				":authority": "inference.example.com", "content-type": "application/json", "test-epp-endpoint-selection": "10.244.0.5"} {
				if headers[k] != v {
					t.Errorf("header %s = %q, want %q (all: %v)", k, headers[k], v, headers)
				}
			}
			b := sent[1].GetRequestBody()
			var body map[string]string
			if b == nil || !b.GetEndOfStream() || json.Unmarshal(b.GetBody(), &body) != nil || body["model"] != "m" || body["prompt"] != "p" {
				t.Errorf("second message %v, want the JSON body with end of stream", sent[1])
			}
		})
	}
}
