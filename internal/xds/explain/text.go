package explain

import (
	"fmt"
	"io"
	"strings"
)

// maxSkippedText bounds the skipped routes Text lists.
const maxSkippedText = 20

// Text writes the decision for a person: one labelled line (or block) per step, then the result.
func (d *Decision) Text(w io.Writer) error {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-14s%s\n", label, fmt.Sprintf(format, args...))
	}
	more := func(format string, args ...any) {
		fmt.Fprintf(&b, "%-14s%s\n", "", fmt.Sprintf(format, args...))
	}
	r := d.Request
	req := r.Scheme + "://" + r.Authority
	if r.Method != "" {
		req = r.Method + " " + req
	}
	if r.Path != "" {
		req += r.Path
		if r.Query != "" {
			req += "?" + r.Query
		}
	}
	line("Request", "%s (port %d)", req, r.Port)
	var details []string
	if r.SNI != "" {
		details = append(details, "SNI "+r.SNI)
	}
	if r.OriginalPath != "" {
		details = append(details, "path normalized from "+r.OriginalPath)
	}
	for _, h := range r.Headers {
		details = append(details, h.Name+": "+h.Value)
	}
	if r.Client != "" {
		details = append(details, "from client "+r.Client)
	}
	if len(details) > 0 {
		more("%s", strings.Join(details, "; "))
	}
	if l := d.Listener; l != nil {
		line("Listener", "%s (%s port %d)", l.Name, l.Protocol, l.Port)
	}
	if c := d.FilterChain; c != nil {
		if c.Name != "" {
			line("Filter chain", "%s", c.Name)
			more("%s", c.Why)
		} else {
			line("Filter chain", "%s", c.Why)
		}
		switch {
		case c.TLS:
			more("terminates TLS with %s", orNone(c.Certificates))
		case len(c.ServerNames) > 0:
			more("TLS passthrough (the connection is proxied as is)")
		}
	}
	if d.RouteConfig != "" {
		line("Route config", "%s", d.RouteConfig)
	}
	if v := d.VirtualHost; v != nil {
		line("Virtual host", "%s (%s)", v.Name, plural(v.Routes, "route"))
		more("%s", v.Why)
	}
	if rt := d.Route; rt != nil {
		line("Route", "%s (route %d of %d)", rt.Name, rt.Position, d.VirtualHost.Routes)
		if s := rt.Source; s != nil {
			more("from %s %s/%s, rule %d, match %d", s.Kind, s.Namespace, s.Name, s.Rule, s.Match)
		}
		more("matches: %s", rt.Match)
	}
	if len(d.Skipped) > 0 {
		label := "Skipped"
		if d.Route == nil {
			label = "Not matched"
		}
		for i, s := range d.Skipped {
			if i == maxSkippedText {
				break
			}
			line(label, "%s: %s", s.Route, s.Why)
			label = ""
		}
		total := d.Considered
		if d.Route != nil {
			total--
		}
		if shown := min(len(d.Skipped), maxSkippedText); total > shown {
			more("... and %d more", total-shown)
		}
	}
	for i, f := range d.Filters {
		label := ""
		if i == 0 {
			label = "Filters"
		}
		line(label, "%s: %s", f.Kind, f.Detail)
	}
	a := d.Action
	line("Action", "%s", a.Type)
	for _, bk := range a.Backends {
		s := fmt.Sprintf("%s  weight %d (%s)", bk.Cluster, bk.Weight, percent(bk.Percent))
		switch {
		case bk.Missing && bk.Status != 0:
			s += fmt.Sprintf(": %s, answered %d", bk.Note, bk.Status)
		case len(bk.Endpoints) > 0:
			s += ": endpoints " + strings.Join(bk.Endpoints, ", ")
		case bk.Note != "":
			s += ": " + bk.Note
		}
		more("- %s", s)
		for _, f := range bk.Filters {
			more("    %s: %s", f.Kind, f.Detail)
		}
	}
	if a.Location != "" {
		more("Location: %s", a.Location)
	}
	line("Result", "%s", a.Summary)
	if a.Reason != "" {
		more("%s", a.Reason)
	}
	for i, n := range d.Notes {
		label := ""
		if i == 0 {
			label = "Notes"
		}
		line(label, "%s", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
