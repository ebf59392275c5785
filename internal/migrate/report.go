package migrate

import (
	"encoding/json"

	"fmt"
	"io"
	"maps"
	"sigs.k8s.io/yaml"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
)

// targets say what each annotation becomes in a migrated Ingress.
var targets = map[string]string{
	"rewrite-target":           "HTTPRoute URLRewrite ReplaceFullPath; with capture groups ($1), a RouteFilter pathRewrite",
	"use-regex":                "HTTPRoute RegularExpression path matches, case-insensitive and anchored at the start, on every path of the host",
	"ssl-redirect":             "an HTTPRoute on the HTTP listeners that redirects to https (RequestRedirect), or the same rules as HTTPS",
	"force-ssl-redirect":       "an HTTPRoute on the HTTP listeners that redirects to https (RequestRedirect)",
	"upstream-vhost":           "HTTPRoute URLRewrite hostname",
	"x-forwarded-prefix":       "HTTPRoute RequestHeaderModifier (set X-Forwarded-Prefix)",
	"server-alias":             "more HTTPRoute hostnames",
	"proxy-read-timeout":       "RouteFilter timeouts.idle (the larger of read and send)",
	"proxy-send-timeout":       "RouteFilter timeouts.idle (the larger of read and send)",
	"enable-cors":              "HTTPRoute CORS filter",
	"canary":                   "rules of the primary's HTTPRoute: weighted backendRefs, header and Cookie matches",
	"canary-by-header":         "an HTTPRoute rule with a header match before the primary's",
	"canary-by-header-value":   "an HTTPRoute rule with an Exact header match",
	"canary-by-header-pattern": "an HTTPRoute rule with a RegularExpression header match",
	"canary-by-cookie":         "HTTPRoute rules with RegularExpression matches of the Cookie header (always, never)",
	"canary-weight":            "backendRef weights of the primary's rule",
	"canary-weight-total":      "backendRef weights of the primary's rule",
	"whitelist-source-range":   "RouteFilter clientAccess.allow",
	"allowlist-source-range":   "RouteFilter clientAccess.allow",
	"denylist-source-range":    "RouteFilter clientAccess.deny",
	"limit-rps":                "RouteFilter rateLimit",
	"limit-rpm":                "RouteFilter rateLimit",
	"limit-burst-multiplier":   "RouteFilter rateLimit burst",
	"limit-whitelist":          "RouteFilter rateLimit exemptions",
	"auth-type":                "RouteFilter basicAuth",
	"auth-secret":              "RouteFilter basicAuth.secretRef",
	"auth-secret-type":         "RouteFilter basicAuth.format",
	"auth-realm":               "RouteFilter basicAuth.realm",
	"auth-url":                 "RouteFilter externalAuth",
	"auth-signin":              "RouteFilter externalAuth sign-in redirect",
	"auth-response-headers":    "RouteFilter externalAuth.responseHeaders",
	"proxy-body-size":          "RouteFilter requestBody.maxSize",
}

// annotationReports say what each of an Ingress's annotations of prefix became.
func annotationReports(ing *networkingv1.Ingress, prefix, result string) []AnnotationReport {
	var out []AnnotationReport
	for _, k := range slices.Sorted(maps.Keys(ing.Annotations)) {
		n, ok := strings.CutPrefix(k, prefix+"/")
		if !ok {
			continue
		}
		to := ""
		switch result {
		case ResultMigrated:
			to = targets[n]
			if to == "" {
				to = "nothing to print: the controller ignores it today (see notes)"
			}
		case ResultNotMigrated:
			to = "stays on the Ingress (not migrated)"
		case ResultRefused:
			to = "the Ingress is refused by the controller (see reason)"
		}
		out = append(out, AnnotationReport{Name: k, Value: ing.Annotations[k], To: to})
	}
	return out
}

// Markdown writes the report as a table per result.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Migration of the Ingresses of Gateway %s\n\n", r.Gateway)
	fmt.Fprintf(&b, "%d migrated, %d not migrated, %d refused by the controller, %d skipped (other classes).\n",
		r.Summary.Migrated, r.Summary.NotMigrated, r.Summary.Refused, r.Summary.Skipped)
	for _, ing := range r.Ingresses {
		fmt.Fprintf(&b, "\n## Ingress %s/%s: %s\n\n", ing.Namespace, ing.Name, ing.Result)
		if ing.Reason != "" {
			fmt.Fprintf(&b, "%s\n\n", ing.Reason)
		}
		for _, o := range ing.Objects {
			fmt.Fprintf(&b, "- %s\n", o)
		}
		if len(ing.Annotations) > 0 {
			b.WriteString("\n| annotation | value | becomes |\n|---|---|---|\n")
			for _, a := range ing.Annotations {
				fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", a.Name, strings.ReplaceAll(a.Value, "|", `\|`), a.To)
			}
		}
		for _, n := range ing.Notes {
			fmt.Fprintf(&b, "\nNote: %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// YAML writes the objects as a YAML stream, each after its comment.
func (r *Result) YAML(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# flotillactl migrate: the Ingresses of Gateway %s as Gateway API objects\n", r.Report.Gateway)
	fmt.Fprintf(&b, "# (%d migrated, %d not migrated, %d refused, %d skipped: see the report).\n",
		r.Report.Summary.Migrated, r.Report.Summary.NotMigrated, r.Report.Summary.Refused, r.Report.Summary.Skipped)
	for _, o := range r.Objects {
		m, err := clean(o.Obj)
		if err != nil {
			return err
		}
		y, err := yaml.Marshal(m)
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		for _, line := range wrap(o.Comment, 98) {
			b.WriteString("# " + line + "\n")
		}
		b.Write(y)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// JSON writes the objects as a v1 List.
func (r *Result) JSON(w io.Writer) error {
	items := make([]any, 0, len(r.Objects))
	for _, o := range r.Objects {
		m, err := clean(o.Obj)
		if err != nil {
			return err
		}
		items = append(items, m)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
}

// clean is an object as a map without its empty status and creation time.
func clean(o any) (map[string]any, error) {
	j, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	dropNulls(m)
	return m, nil
}

// dropNulls removes the null values of a decoded JSON object, recursively.
func dropNulls(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			dropNulls(e)
		}
	case []any:
		for _, e := range x {
			dropNulls(e)
		}
	}
}

// wrap breaks s into lines of at most n characters at spaces.
func wrap(s string, n int) []string {
	var out []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > n {
			out = append(out, line)
			line = w
			continue
		}
		line = strings.TrimSpace(line + " " + w)
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}
