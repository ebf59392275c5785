package xdstest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3filter "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// The Endpoint Picker protocol's names (GIE docs/proposals/004-endpoint-picker-protocol).
const (
	// DestinationEndpointHeader is the request header an Endpoint Picker sets to the picked
	// "ip:port" (or a comma-separated list of them, the first preferred).
	DestinationEndpointHeader = "x-gateway-destination-endpoint"
	// LBMetadataNamespace is the dynamic metadata namespace the pick is also written to; Envoy's
	// override_host load balancing policy reads it from there.
	LBMetadataNamespace = "envoy.lb"
)

// PickRequest is one inference request as a fleet's Envoy presents it to an InferencePool's
// Endpoint Picker.
type PickRequest struct {
	// Authority is the :authority header; empty means "inference.example.com".
	Authority string
	// Path is the :path header; empty means "/v1/completions".
	Path string
	// Headers are further request headers (lower-case names), such as lwepp's
	// test-epp-endpoint-selection.
	Headers map[string]string
	// Model and Prompt make the OpenAI completions body {"model": ..., "prompt": ...}.
	Model, Prompt string
}

// Pick is what the Endpoint Picker answered.
type Pick struct {
	// Header is the x-gateway-destination-endpoint request header the picker set ("" if none).
	Header string
	// Metadata is the dynamic metadata envoy.lb/x-gateway-destination-endpoint ("" if none).
	Metadata string
	// ImmediateStatus is the HTTP status of an ImmediateResponse (503 when nothing is ready, 429
	// when shedding load), 0 when the picker let the request through.
	ImmediateStatus int
}

// DialEndpointPicker opens a gRPC connection to an Endpoint Picker over TLS. A nil tlsConfig
// encrypts without verifying the server's certificate, as a fleet's Envoy does with a picker that
// no BackendTLSPolicy targets (pickers serve self-signed certificates by default).
func DialEndpointPicker(addr string, tlsConfig *tls.Config) (*grpc.ClientConn, error) {
	if tlsConfig == nil {
		tlsConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // what the gateway does by default
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
	if err != nil {
		return nil, fmt.Errorf("dialling Endpoint Picker %s: %w", addr, err)
	}
	return conn, nil
}

// PickEndpoint asks an Endpoint Picker where one request goes, sending exactly what a fleet's
// Envoy sends with Flotilla's ext_proc configuration (request and response headers SEND, bodies
// FULL_DUPLEX_STREAMED, trailers SEND): the protocol configuration and the request headers without
// end of stream, then the whole JSON body with end of stream, without waiting for the headers'
// answer. It reads answers until it has both the request headers' and the body's (the picker
// answers the headers once it has seen the body), or an ImmediateResponse, and then ends the stream
// as Envoy would were the request cancelled. A stream that ends with an error before the headers
// are answered returns the error; the picker's gRPC status is then in it.
func PickEndpoint(ctx context.Context, conn grpc.ClientConnInterface, req PickRequest) (Pick, error) {
	body, err := json.Marshal(map[string]string{"model": req.Model, "prompt": req.Prompt})
	if err != nil {
		return Pick{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := extprocv3.NewExternalProcessorClient(conn).Process(ctx)
	if err != nil {
		return Pick{}, fmt.Errorf("opening an ext_proc stream: %w", err)
	}
	full := extprocv3filter.ProcessingMode_FULL_DUPLEX_STREAMED
	if err := stream.Send(&extprocv3.ProcessingRequest{
		ProtocolConfig: &extprocv3.ProtocolConfiguration{RequestBodyMode: full, ResponseBodyMode: full},
		Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
			Headers: requestHeaders(req, len(body)),
		}},
	}); err != nil {
		return Pick{}, sendError(stream, "request headers", err)
	}
	if err := stream.Send(&extprocv3.ProcessingRequest{
		Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{Body: body, EndOfStream: true}},
	}); err != nil {
		return Pick{}, sendError(stream, "request body", err)
	}

	var pick Pick
	var headersDone, bodyDone bool
	for !headersDone || !bodyDone {
		resp, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) && headersDone {
				return pick, nil
			}
			return pick, fmt.Errorf("ext_proc stream ended before the picker answered the request: %w", err)
		}
		mergeMetadata(&pick, resp)
		switch r := resp.GetResponse().(type) {
		case *extprocv3.ProcessingResponse_RequestHeaders:
			headersDone = true
			for _, h := range r.RequestHeaders.GetResponse().GetHeaderMutation().GetSetHeaders() {
				if strings.EqualFold(h.GetHeader().GetKey(), DestinationEndpointHeader) {
					pick.Header = headerValue(h.GetHeader())
				}
			}
		case *extprocv3.ProcessingResponse_RequestBody:
			// In FULL_DUPLEX_STREAMED mode one answer (streamed or not) per chunk; ours is the last.
			bodyDone = true
		case *extprocv3.ProcessingResponse_ImmediateResponse:
			pick.ImmediateStatus = int(r.ImmediateResponse.GetStatus().GetCode())
			return pick, nil
		case nil:
			// A standalone mode_override or flow-control message: nothing of the pick.
		default:
			return pick, fmt.Errorf("unexpected ext_proc answer %T while the request is being processed", r)
		}
	}
	return pick, nil
}

// requestHeaders are the headers Envoy sends: HTTP/2-style pseudo headers first, then the rest,
// values as raw bytes (what Envoy fills).
func requestHeaders(req PickRequest, bodyLen int) *corev3.HeaderMap {
	authority, path := req.Authority, req.Path
	if authority == "" {
		authority = "inference.example.com"
	}
	if path == "" {
		path = "/v1/completions"
	}
	hs := []*corev3.HeaderValue{
		{Key: ":authority", RawValue: []byte(authority)},
		{Key: ":path", RawValue: []byte(path)},
		{Key: ":method", RawValue: []byte("POST")},
		{Key: ":scheme", RawValue: []byte("http")},
		{Key: "content-type", RawValue: []byte("application/json")},
		{Key: "content-length", RawValue: fmt.Appendf(nil, "%d", bodyLen)},
	}
	keys := make([]string, 0, len(req.Headers))
	for k := range req.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		hs = append(hs, &corev3.HeaderValue{Key: strings.ToLower(k), RawValue: []byte(req.Headers[k])})
	}
	return &corev3.HeaderMap{Headers: hs}
}

func headerValue(h *corev3.HeaderValue) string {
	if len(h.GetRawValue()) > 0 {
		return string(h.GetRawValue())
	}
	return h.GetValue()
}

// mergeMetadata records envoy.lb/x-gateway-destination-endpoint from any answer's dynamic
// metadata, as Envoy merges every answer's metadata into the request's.
func mergeMetadata(pick *Pick, resp *extprocv3.ProcessingResponse) {
	ns := resp.GetDynamicMetadata().GetFields()[LBMetadataNamespace].GetStructValue()
	if v, ok := ns.GetFields()[DestinationEndpointHeader]; ok {
		pick.Metadata = v.GetStringValue()
	}
}

// sendError turns a failed Send into the stream's real error: gRPC reports io.EOF from Send and
// the status from the next Recv.
func sendError(stream extprocv3.ExternalProcessor_ProcessClient, what string, err error) error {
	if errors.Is(err, io.EOF) {
		if _, rerr := stream.Recv(); rerr != nil {
			err = rerr
		}
	}
	return fmt.Errorf("sending %s: %w", what, err)
}
