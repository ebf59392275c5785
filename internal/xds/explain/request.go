package explain

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Header is one request header; Name is in lower case.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Request is what a client sends: an HTTP request (scheme http or https), a TLS connection
// (tls: SNI only) or a plain TCP or UDP connection (tcp, udp).
type Request struct {
	Method string
	Scheme string
	// Authority is the Host header (host[:port]); SNI the TLS server name (https, tls).
	Authority string
	SNI       string
	// Port is the port the client connects to: the Gateway listener's port.
	Port uint32
	// Path is the path as sent (without query), Query the query string (without "?").
	Path    string
	Query   string
	Headers []Header
	// Client is the client address Envoy derives (from the peer, or from X-Forwarded-For past
	// the FleetClass's trusted hops); access rules and rate-limit exemptions are evaluated with
	// it. Empty: they are described, not evaluated.
	Client string
}

// defaultPorts are the ports of URLs that name none.
var defaultPorts = map[string]uint32{"http": 80, "https": 443, "tls": 443}

// ParseRequest reads a request such as "GET https://app.example.com/api/v1?x=1" (the method is
// optional, GET by default), "tls://db.example.com:5432" or "tcp://:9000", and headers "Name:
// value". The port defaults by scheme (80 for http, 443 for https and tls); the SNI of https and tls
// is the URL's host. A Host header replaces :authority (not the SNI).
func ParseRequest(line string, headers []string) (Request, error) {
	line = strings.TrimSpace(line)
	method, target, ok := strings.Cut(line, " ")
	if !ok {
		method, target = "", line
	}
	target = strings.TrimSpace(target)
	if !strings.Contains(target, "://") {
		target = "http://" + target
	}
	u, err := url.Parse(target)
	if err != nil {
		return Request{}, fmt.Errorf("request %q: %w", line, err)
	}
	r := Request{Scheme: strings.ToLower(u.Scheme), Method: strings.ToUpper(method)}
	switch r.Scheme {
	case "http", "https":
		if r.Method == "" {
			r.Method = "GET"
		}
	case "tls", "tcp", "udp":
		if r.Method != "" {
			return Request{}, fmt.Errorf("request %q: a %s connection has no method", line, r.Scheme)
		}
	default:
		return Request{}, fmt.Errorf("request %q: scheme %q: want http, https, tls, tcp or udp", line, u.Scheme)
	}
	if u.Port() == "" {
		p, ok := defaultPorts[r.Scheme]
		if !ok {
			return Request{}, fmt.Errorf("request %q: a %s URL needs a port", line, r.Scheme)
		}
		r.Port = p
	} else {
		p, err := strconv.ParseUint(u.Port(), 10, 16)
		if err != nil || p == 0 {
			return Request{}, fmt.Errorf("request %q: port %q is not a port number", line, u.Port())
		}
		r.Port = uint32(p)
	}
	r.Authority = u.Host
	if r.Scheme == "https" || r.Scheme == "tls" {
		r.SNI = strings.ToLower(u.Hostname())
		if net.ParseIP(r.SNI) != nil {
			r.SNI = "" // clients send no SNI for an IP address
		}
	}
	if r.Scheme == "http" || r.Scheme == "https" {
		r.Path, r.Query = u.EscapedPath(), u.RawQuery
		if r.Path == "" {
			r.Path = "/"
		}
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if strings.HasPrefix(h, ":") { // a pseudo-header, ":authority: x"
			name, value, ok = strings.Cut(h[1:], ":")
			name = ":" + name
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" || name == ":" {
			return Request{}, fmt.Errorf("header %q: want \"Name: value\"", h)
		}
		value = strings.TrimSpace(value)
		switch name {
		case "host", ":authority":
			r.Authority = value
		case ":method":
			r.Method = value
		case ":path", ":scheme":
			return Request{}, fmt.Errorf("header %q: give the path and scheme in the URL", h)
		default:
			r.Headers = append(r.Headers, Header{Name: name, Value: value})
		}
	}
	return r, nil
}

// String is the request line as given.
func (r Request) String() string {
	var b strings.Builder
	if r.Method != "" {
		b.WriteString(r.Method + " ")
	}
	b.WriteString(r.Scheme + "://" + r.Authority + r.Path)
	if r.Query != "" {
		b.WriteString("?" + r.Query)
	}
	return b.String()
}
