package translate

import (
	"fmt"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/flotilla-dev/flotilla/internal/model"
)

var redirectCodes = map[int]routev3.RedirectAction_RedirectResponseCode{
	301: routev3.RedirectAction_MOVED_PERMANENTLY,
	302: routev3.RedirectAction_FOUND,
	303: routev3.RedirectAction_SEE_OTHER,
	307: routev3.RedirectAction_TEMPORARY_REDIRECT,
	308: routev3.RedirectAction_PERMANENT_REDIRECT,
}

// wellKnownPorts are the ports a URL of a scheme leaves out.
var wellKnownPorts = map[string]int32{"http": 80, "https": 443}

// redirect translates a RequestRedirect. fail says why it cannot be expressed.
//
// The port follows Gateway API: the filter's port; else, when the scheme changes, the new
// scheme's well-known port; else the listener's port. A port that is the well-known one of the
// Location's scheme is left out of the URL. The listener strips the port from Host (the HCM's
// strip_any_host_port), so Envoy writes no port unless port_redirect is set.
func (b *builder) redirect(ctx *routeCtx, mr *model.Route) (*routev3.RedirectAction, string) {
	rd := mr.Redirect
	out := &routev3.RedirectAction{}
	code, ok := redirectCodes[rd.StatusCode]
	if !ok {
		b.routeWarnf(mr.Name, "redirect status code %d is not supported; 302 is used", rd.StatusCode)
		code = routev3.RedirectAction_FOUND
	}
	out.ResponseCode = code
	out.StripQuery = rd.StripQuery
	scheme := ctx.scheme
	if rd.Scheme != "" {
		scheme = strings.ToLower(rd.Scheme)
		if !validScheme(scheme) {
			return nil, fmt.Sprintf("redirect scheme %q is invalid", rd.Scheme)
		}
		out.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: scheme}
	}
	if rd.Hostname != "" {
		if !safe(rd.Hostname) || strings.ContainsAny(rd.Hostname, "/?#@ ") {
			return nil, fmt.Sprintf("redirect hostname %q is invalid", rd.Hostname)
		}
		out.HostRedirect = rd.Hostname
	}
	port := ctx.listener.Port
	switch wk, known := wellKnownPorts[scheme]; {
	case rd.Port != 0:
		if rd.Port < 1 || rd.Port > 65535 {
			return nil, fmt.Sprintf("redirect port %d is invalid", rd.Port)
		}
		port = rd.Port
	case rd.Scheme != "" && known:
		port = wk
	}
	if wellKnownPorts[scheme] != port {
		out.PortRedirect = uint32(port)
	}
	if p := rd.Path; p != nil {
		switch {
		case p.ReplaceFullPath != nil:
			if !safe(*p.ReplaceFullPath) {
				return nil, fmt.Sprintf("redirect path %q is invalid", *p.ReplaceFullPath)
			}
			out.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: *p.ReplaceFullPath}
		case p.ReplacePrefixMatch != nil:
			prefix, re, fail := replacePrefix(mr.Match.Path, *p.ReplacePrefixMatch)
			switch {
			case fail != "":
				return nil, fail
			case re != nil:
				out.PathRewriteSpecifier = &routev3.RedirectAction_RegexRewrite{RegexRewrite: re}
			case prefix != "":
				out.PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: prefix}
			}
		}
	}
	return out, ""
}

// validScheme says whether s is a URL scheme (RFC 3986: a letter, then letters, digits, "+-.").
func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}
