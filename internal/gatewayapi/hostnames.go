package gatewayapi

import (
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// intersectHostnames returns the hostnames a route serves on a listener ("" means any): the
// route's hostnames that the listener's hostname admits, each narrowed to the more specific of the
// two. ok is false when a route that names hostnames shares none with the listener.
func intersectHostnames(lh string, rhs []gwapiv1.Hostname) ([]string, bool) {
	if len(rhs) == 0 {
		return []string{lh}, true
	}
	out := make([]string, 0, len(rhs))
	for _, h := range rhs {
		if x, ok := intersectHostname(lh, string(h)); ok {
			out = append(out, x)
		}
	}
	return out, len(out) > 0
}

func intersectHostname(lh, rh string) (string, bool) {
	switch {
	case lh == "" || lh == rh:
		return rh, true
	case strings.HasPrefix(lh, "*.") && strings.HasSuffix(rh, lh[1:]) && len(rh) > len(lh)-1:
		return rh, true
	case strings.HasPrefix(rh, "*.") && strings.HasSuffix(lh, rh[1:]) && len(lh) > len(rh)-1:
		return lh, true
	}
	return "", false
}

// hostnameMatches says whether listener hostname lh admits domain d ("" admits any).
func hostnameMatches(lh, d string) bool {
	_, ok := intersectHostname(lh, d)
	return ok && (lh == "" || lh == d || strings.HasPrefix(lh, "*.") && strings.HasSuffix(d, lh[1:]))
}

// specificity ranks listener hostnames: exact beats wildcard beats empty; longer wildcards win.
func specificity(h string) int {
	switch {
	case h == "":
		return 0
	case strings.HasPrefix(h, "*."):
		return 1 + len(h)
	}
	return 1 << 20
}

// hostIndex is a set of hostnames ("" for any) that says whether one of them intersects one of
// another list (as intersectHostname, "" intersecting any), in time proportional to the length of
// that list's names, whatever the size of the set.
type hostIndex struct {
	n        int             // hostnames added
	any      bool            // "" was added
	names    map[string]bool // every hostname added
	wild     map[string]bool // ".example.com" for every "*.example.com" added
	suffixes map[string]bool // every ".rest" suffix of a name added, with a label before it
}

func (x *hostIndex) add(hs []string) {
	if x.names == nil {
		x.names, x.wild, x.suffixes = map[string]bool{}, map[string]bool{}, map[string]bool{}
	}
	for _, h := range hs {
		x.n++
		if h == "" {
			x.any = true
			continue
		}
		x.names[h] = true
		if strings.HasPrefix(h, "*.") {
			x.wild[h[1:]] = true
		}
		for i := 1; i < len(h); i++ {
			if h[i] == '.' {
				x.suffixes[h[i:]] = true
			}
		}
	}
}

// intersects says whether some hostname of the set intersects one of hs.
func (x *hostIndex) intersects(hs []string) bool {
	if x.n == 0 {
		return false
	}
	for _, y := range hs {
		if y == "" || x.any || x.names[y] {
			return true
		}
		// A wildcard of the set whose suffix ends y (after at least one character).
		for i := 1; i < len(y); i++ {
			if y[i] == '.' && x.wild[y[i:]] {
				return true
			}
		}
		// y is a wildcard whose suffix ends a name of the set (after at least one character).
		if strings.HasPrefix(y, "*.") && x.suffixes[y[1:]] {
			return true
		}
	}
	return false
}
