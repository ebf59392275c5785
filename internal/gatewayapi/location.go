package gatewayapi

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/flotilla-dev/flotilla/internal/model"
)

var locationHostRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// FixedRedirect parses the Location of a redirect sent as written, the way nginx's
// "return <code> <url>" sends it (ingress-nginx's permanent-redirect, temporal-redirect and
// app-root; a RouteFilter's redirect): an absolute http or https URL, or, when pathOK, a path on
// the request's own scheme and host. Its query, if any, is sent as written; the request's is
// dropped. why says what is wrong with it ("" when nothing is).
func FixedRedirect(v string, pathOK bool) (rd *model.Redirect, why string) {
	if strings.ContainsAny(v, " \t") {
		return nil, "is not a URL"
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || u.User != nil || u.Fragment != "":
		return nil, "is not an absolute http or https URL"
	case pathOK && u.Scheme == "" && u.Host == "" && strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "//"):
		rd = &model.Redirect{}
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		if pathOK {
			return nil, "is not an absolute http or https URL or a path starting with /"
		}
		return nil, "is not an absolute http or https URL"
	default:
		rd = &model.Redirect{Scheme: u.Scheme, Hostname: u.Hostname()}
		if !locationHostRE.MatchString(strings.ToLower(rd.Hostname)) {
			return nil, "does not name a valid host"
		}
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return nil, "has an invalid port"
			}
			rd.Port = int32(n)
		}
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	rd.Path = &model.PathModifier{ReplaceFullPath: &path}
	rd.StripQuery = true
	return rd, ""
}
