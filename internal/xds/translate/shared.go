package translate

import (
	"cmp"
	"fmt"
	"regexp/syntax"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// InvalidBackendCluster is the cluster name that stands for the share of traffic sent to backends
// that could not be resolved. No cluster has this name (model cluster names have four segments),
// so Envoy answers that share with the route's cluster_not_found_response_code (HTTP) or closes
// the connection (TCP, TLS) or drops the datagrams (UDP).
const InvalidBackendCluster = "flotilla/invalid-backend"

// Envoy extension names.
const (
	nameHCM            = "envoy.filters.network.http_connection_manager"
	nameTCPProxy       = "envoy.filters.network.tcp_proxy"
	nameDirectResponse = "envoy.filters.network.direct_response"
	nameTLSInspector   = "envoy.filters.listener.tls_inspector"
	nameUDPProxy       = "envoy.filters.udp_listener.udp_proxy"
	nameRouter         = "envoy.filters.http.router"
	nameCORS           = "envoy.filters.http.cors"
	nameTLSSocket      = "envoy.transport_sockets.tls"
	nameHTTPOptions    = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

// Envoy's fixed numbers that the translation depends on.
const (
	// defaultRouteTimeout is Envoy's route timeout when none is configured.
	defaultRouteTimeout = 15 * time.Second
	// maxHeaderBytes is the longest header name or value Envoy's API accepts.
	maxHeaderBytes = 16384
	// maxHeadersToAdd is the most headers one route (or weighted cluster) may add.
	maxHeadersToAdd = 1000
	// maxQueryNameBytes is the longest query parameter name a match may name.
	maxQueryNameBytes = 1024
)

// packer marshals messages into Any's deterministically (byte-identical output for equal input).
var packer = proto.MarshalOptions{Deterministic: true}

// pack validates m (validation does not reach into Any's, so every typed config is validated
// before it is packed) and wraps it in an Any.
func pack(m interface {
	proto.Message
	ValidateAll() error
}) (*anypb.Any, error) {
	if err := m.ValidateAll(); err != nil {
		return nil, fmt.Errorf("%s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	b, err := packer.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return &anypb.Any{TypeUrl: "type.googleapis.com/" + string(m.ProtoReflect().Descriptor().FullName()), Value: b}, nil
}

// adsSource is a config source that says "over the ADS stream".
func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// safe says whether s can go into an Envoy string field that is copied into headers or URLs: valid
// UTF-8, no NUL, CR or LF (what Envoy's HTTP_HEADER_VALUE rule refuses), at most maxHeaderBytes.
func safe(s string) bool {
	if len(s) > maxHeaderBytes || !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsAny(s, "\x00\r\n")
}

// isToken says whether s is an HTTP token (RFC 9110), what a header name must be. Gateway API
// validates header names with the same rule.
func isToken(s string) bool {
	if s == "" || len(s) > maxHeaderBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// parseDuration parses a Gateway API duration ("10s", "500ms", "1h"). ok is false for anything
// time.ParseDuration refuses and for negative durations.
func parseDuration(s string) (time.Duration, bool) {
	d, err := time.ParseDuration(s)
	return d, err == nil && d >= 0
}

// checkRegex parses a regular expression with RE2's syntax (Go's regexp/syntax implements it),
// remembering the answer for the rest of the translation.
func (b *builder) checkRegex(re string) error {
	if err, ok := b.regexes[re]; ok {
		return err
	}
	_, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		err = fmt.Errorf("regular expression %q: %w", re, err)
	}
	b.regexes[re] = err
	return err
}

// safeRegex is a StringMatcher for a regular expression (RE2, Envoy's default engine; the
// deprecated google_re2 field is not set).
func safeRegex(re string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}}
}

func exact(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
}

// byName returns pointers to items in name order (the model gives them sorted already; sorting
// here makes the output independent of that, and of which of two conflicting items comes first).
func byName[T any](items []T, name func(*T) string) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	if !slices.IsSortedFunc(out, func(a, b *T) int { return cmp.Compare(name(a), name(b)) }) {
		slices.SortStableFunc(out, func(a, b *T) int { return cmp.Compare(name(a), name(b)) })
	}
	return out
}

// sorted returns ss sorted, copying it only when it is not sorted already.
func sorted(ss []string) []string {
	if slices.IsSorted(ss) {
		return ss
	}
	ss = slices.Clone(ss)
	slices.Sort(ss)
	return ss
}
