package translate

import (
	"bytes"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"
)

// Sections are the resource types as RenderYAML names them, in the order Envoy reads them.
var Sections = []string{"listeners", "routes", "clusters", "endpoints", "secrets"}

// Messages returns the resources by section name.
func (r *Resources) Messages() map[string][]proto.Message {
	return map[string][]proto.Message{
		"listeners": messages(r.Listeners), "routes": messages(r.Routes), "clusters": messages(r.Clusters),
		"endpoints": messages(r.Endpoints), "secrets": messages(r.Secrets),
	}
}

// RenderYAML shows xDS resources as a person reads them: YAML (proto field names), one section per
// resource type present in sections, in the order of Sections, then the warnings unless nil.
// A TLS certificate secret shows the size of its data, never the data (a private key) itself; a
// validation context's CA certificates, public, are shown in full.
func RenderYAML(sections map[string][]proto.Message, warnings []string) ([]byte, error) {
	var out bytes.Buffer
	for _, name := range Sections {
		msgs, ok := sections[name]
		if !ok {
			continue
		}
		list := make([]any, 0, len(msgs))
		for _, m := range msgs {
			j, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
			if err != nil {
				return nil, fmt.Errorf("rendering %s: %w", name, err)
			}
			var v map[string]any
			if err := json.Unmarshal(j, &v); err != nil {
				return nil, err
			}
			if name == "secrets" {
				redactSecret(v)
			}
			list = append(list, v)
		}
		y, err := yaml.Marshal(map[string]any{name: list})
		if err != nil {
			return nil, err
		}
		out.Write(y)
	}
	if warnings != nil {
		y, err := yaml.Marshal(map[string]any{"warnings": warnings})
		if err != nil {
			return nil, err
		}
		out.Write(y)
	}
	return out.Bytes(), nil
}

func messages[T proto.Message](in []T) []proto.Message {
	out := make([]proto.Message, len(in))
	for i, m := range in {
		out[i] = m
	}
	return out
}

// redactSecret replaces the data of a rendered TLS certificate (the private key, and the chain
// that goes with it) by its size. The CA certificates of a validation context are public and are
// shown in full.
func redactSecret(v map[string]any) {
	tc, _ := v["tls_certificate"].(map[string]any)
	for _, k := range []string{"certificate_chain", "private_key"} {
		ds, _ := tc[k].(map[string]any)
		if b, ok := ds["inline_bytes"].(string); ok {
			ds["inline_bytes"] = fmt.Sprintf("<%d bytes of base64, not shown>", len(b))
		}
		if s, ok := ds["inline_string"].(string); ok {
			ds["inline_string"] = fmt.Sprintf("<%d bytes, not shown>", len(s))
		}
	}
}
