package offline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"io"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/xds/translate"
)

// Output formats.
const (
	FormatYAML = "yaml"
	FormatJSON = "json"
)

// ParseTypes reads a --type value: "all", or a comma-separated list of xDS sections
// (translate.Sections: listeners, routes, clusters, endpoints, secrets). The result is in
// translate.Sections order.
func ParseTypes(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" || s == "all" {
		return slices.Clone(translate.Sections), nil
	}
	want := map[string]bool{}
	for _, t := range strings.Split(s, ",") {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "all" {
			return slices.Clone(translate.Sections), nil
		}
		if !slices.Contains(translate.Sections, t) {
			return nil, fmt.Errorf("unknown type %q: want all, or some of %s", t, strings.Join(translate.Sections, ","))
		}
		want[t] = true
	}
	var out []string
	for _, t := range translate.Sections {
		if want[t] {
			out = append(out, t)
		}
	}
	return out, nil
}

// Render writes each fleet's xDS sections (those named), its translation warnings, the notes and
// the status every object would get. YAML is one document per Gateway, its xDS in the form of
// the translator's goldens (translate.RenderYAML, secrets redacted); JSON is one object,
// {"gateways": [...]}, each entry with the same fields.
func Render(w io.Writer, fleets []*Translation, format string, sections []string) error {
	switch format {
	case FormatYAML:
		for i, f := range fleets {
			if i > 0 {
				if _, err := io.WriteString(w, "---\n"); err != nil {
					return err
				}
			}
			if err := renderYAML(w, f, sections); err != nil {
				return err
			}
		}
		return nil
	case FormatJSON:
		out := struct {
			Gateways []fleetJSON `json:"gateways"`
		}{Gateways: make([]fleetJSON, 0, len(fleets))}
		for _, f := range fleets {
			fj, err := toJSON(f, sections)
			if err != nil {
				return err
			}
			out.Gateways = append(out.Gateways, fj)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(out)
	}
	return fmt.Errorf("unknown output format %q: want yaml or json", format)
}

// xdsYAML is the fleet's xDS in the translator's golden form: the sections named, then warnings.
// Each section is rendered on its own goroutine; the concatenation is what one RenderYAML call
// of them all gives (RenderYAML renders section after section).
func xdsYAML(f *Translation, sections []string) ([]byte, error) {
	if f.Resources == nil {
		return nil, nil
	}
	all := f.Resources.Messages()
	warnings := f.Resources.Warnings
	if warnings == nil {
		warnings = []string{}
	}
	parts := make([][]byte, len(sections)+1)
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, s := range sections {
		wg.Go(func() { parts[i], errs[i] = translate.RenderYAML(map[string][]proto.Message{s: all[s]}, nil) })
	}
	parts[len(sections)], errs[len(sections)] = translate.RenderYAML(nil, warnings)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("rendering the xDS of Gateway %s: %w", f.key(), err)
	}
	return bytes.Join(parts, nil), nil
}

func (f *Translation) key() string { return provisioner.FleetKey(f.Gateway) }

// renderYAML writes one Gateway's document: gateway, notes, translationError, the xDS sections,
// warnings, status.
func renderYAML(w io.Writer, f *Translation, sections []string) error {
	var buf bytes.Buffer
	parts := []map[string]any{{"gateway": f.key()}}
	if len(f.Notes) > 0 {
		parts = append(parts, map[string]any{"notes": f.Notes})
	}
	if f.TranslationError != "" {
		parts = append(parts, map[string]any{"translationError": f.TranslationError})
	}
	for _, part := range parts {
		y, err := yaml.Marshal(part)
		if err != nil {
			return fmt.Errorf("rendering Gateway %s: %w", f.key(), err)
		}
		buf.Write(y)
	}
	// The status renders while the xDS does.
	var status []byte
	var statusErr error
	var wg sync.WaitGroup
	wg.Go(func() { status, statusErr = yaml.Marshal(map[string]any{"status": StatusOf(f.Gateway, &f.Result)}) })
	x, err := xdsYAML(f, sections)
	wg.Wait()
	if err != nil {
		return err
	}
	if statusErr != nil {
		return fmt.Errorf("rendering the status of Gateway %s: %w", f.key(), statusErr)
	}
	buf.Write(x)
	buf.Write(status)
	_, err = w.Write(buf.Bytes())
	return err
}

// fleetJSON is one Gateway's entry in JSON output: the same fields as the YAML document.
type fleetJSON struct {
	Gateway          string          `json:"gateway"`
	Notes            []string        `json:"notes,omitempty"`
	TranslationError string          `json:"translationError,omitempty"`
	Listeners        json.RawMessage `json:"listeners,omitempty"`
	Routes           json.RawMessage `json:"routes,omitempty"`
	Clusters         json.RawMessage `json:"clusters,omitempty"`
	Endpoints        json.RawMessage `json:"endpoints,omitempty"`
	Secrets          json.RawMessage `json:"secrets,omitempty"`
	Warnings         json.RawMessage `json:"warnings,omitempty"`
	Status           Status          `json:"status"`
}

// toJSON renders a fleet's entry. The xDS sections have the structure RenderYAML gives them
// (proto field names, keys sorted), rendered to JSON directly; secrets go through RenderYAML,
// which redacts them.
func toJSON(f *Translation, sections []string) (fleetJSON, error) {
	out := fleetJSON{Gateway: f.key(), Notes: f.Notes, TranslationError: f.TranslationError, Status: StatusOf(f.Gateway, &f.Result)}
	if f.Resources == nil {
		return out, nil
	}
	all := f.Resources.Messages()
	parts := make([]json.RawMessage, len(sections))
	errs := make([]error, len(sections))
	var wg sync.WaitGroup
	for i, s := range sections {
		wg.Go(func() { parts[i], errs[i] = sectionJSON(s, all[s]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("rendering the xDS of Gateway %s: %w", f.key(), err)
	}
	fields := map[string]*json.RawMessage{"listeners": &out.Listeners, "routes": &out.Routes, "clusters": &out.Clusters,
		"endpoints": &out.Endpoints, "secrets": &out.Secrets}
	for i, s := range sections {
		*fields[s] = parts[i]
	}
	warnings := f.Resources.Warnings
	if warnings == nil {
		warnings = []string{}
	}
	w, err := marshal(warnings)
	out.Warnings = w
	return out, err
}

// sectionJSON renders one section as a JSON array.
func sectionJSON(name string, msgs []proto.Message) (json.RawMessage, error) {
	if name == "secrets" {
		y, err := translate.RenderYAML(map[string][]proto.Message{name: msgs}, nil)
		if err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSON(y)
		if err != nil {
			return nil, err
		}
		var v map[string]any
		if err := json.Unmarshal(j, &v); err != nil {
			return nil, err
		}
		return marshal(v[name])
	}
	list := make([]any, len(msgs))
	for i, m := range msgs {
		j, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(j, &list[i]); err != nil {
			return nil, err
		}
	}
	return marshal(list)
}

// marshal is json.Marshal without HTML escapes ("<" stays "<").
func marshal(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
