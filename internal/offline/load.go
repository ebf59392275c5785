package offline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
)

// DefaultNamespace is the namespace of namespaced objects read without one, as kubectl does.
const DefaultNamespace = "default"

// Set is every object read from the sources, as resolution reads them.
type Set struct {
	// Docs are the objects gatewayapi.Decode read, namespaces defaulted, with the synthetic
	// EndpointSlices of Services that have none.
	Docs gatewayapi.Documents
	// Classes are the GatewayClasses read: name → controllerName.
	Classes map[string]gwapiv1.GatewayController
	// Skipped says which documents were not read, and why: for standard error.
	Skipped []string
	// endpoints says, by Service "ns/name", how a Service without EndpointSlices got its endpoints
	// (or why it has none).
	endpoints map[string]string
}

// decodable are the kinds gatewayapi.Decode reads, by API group. Every other kind is skipped with
// a note (Decode would refuse it); the package test checks this list against Decode.
var decodable = map[string]string{
	"Gateway": gwapiv1.GroupName, "ListenerSet": gwapiv1.GroupName, "HTTPRoute": gwapiv1.GroupName,
	"GRPCRoute": gwapiv1.GroupName, "TLSRoute": gwapiv1.GroupName, "TCPRoute": gwapiv1.GroupName,
	"UDPRoute": gwapiv1.GroupName, "ReferenceGrant": gwapiv1.GroupName, "BackendTLSPolicy": gwapiv1.GroupName,
	"ConfigMap": "",
	"Service":   "", "Secret": "", "Namespace": "", "EndpointSlice": "discovery.k8s.io",
	"InferencePool": "inference.networking.k8s.io", "Pod": "",
	"Ingress": "networking.k8s.io", "IngressClass": "networking.k8s.io", "IngressClassConfig": "gateway.flotilla.dev",
	"RouteFilter": "gateway.flotilla.dev",
}

// skipReasons explain why some well-known kinds are skipped.
var skipReasons = map[string]string{
	"FleetClass":  "fleet parameters are the provisioner's business; of the xDS they change only the trusted X-Forwarded-For hops (clientAddress) and tracing (telemetry.tracing), taken as 0 and none here",
	"FleetConfig": "fleet parameters are the provisioner's business; of the xDS they change only tracing (telemetry.tracing), taken as none here",
}

// Load reads every document of the sources (YAML streams, JSON documents, v1 Lists). It fails only
// on a document that cannot be parsed, or one of a kind resolve reads that does not decode strictly.
func Load(sources []Source) (*Set, error) {
	s := &Set{Classes: map[string]gwapiv1.GatewayController{}}
	var jobs []*job
	for _, src := range sources {
		for _, doc := range splitDocuments(src.Data) {
			jobs = s.classify(jobs, fmt.Sprintf("%s:%d", src.Name, doc.line), src.Dir, doc.data)
		}
	}
	decodeAll(jobs)
	for _, j := range jobs {
		if j.err != nil {
			return nil, j.err
		}
		if j.docs != nil {
			merge(reflect.ValueOf(&s.Docs).Elem(), reflect.ValueOf(*j.docs))
		}
	}
	s.synthesizeEndpoints()
	return s, nil
}

// job is one document to decode, or the error that stopped its reading.
type job struct {
	where, kind, dir string
	data             []byte
	docs             *gatewayapi.Documents
	err              error
}

// classify reads a document's kind: kinds resolve reads become jobs (appended to jobs), a
// GatewayClass is noted, other kinds are skipped with a note. A document that cannot be read
// becomes a job that carries its error, so that errors come in input order.
func (s *Set) classify(jobs []*job, where, dir string, data []byte) []*job {
	h, err := sniff(data)
	if err != nil {
		return append(jobs, &job{err: fmt.Errorf("%s: %w", where, err)})
	}
	group, _, _ := strings.Cut(h.APIVersion, "/")
	if !strings.Contains(h.APIVersion, "/") {
		group = "" // "v1": the core group
	}
	switch {
	case h.Kind == "" && !hasContent(data):
		return jobs
	case h.Kind == "" && hasTopLevel(data, "resources:"):
		s.Skipped = append(s.Skipped, where+": skipped a kustomization (give flotillactl the manifests, or kustomize build output on -f -)")
		return jobs
	case h.Kind == "":
		s.Skipped = append(s.Skipped, where+": skipped a document without kind")
		return jobs
	case h.Kind == "List" && group == "":
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := yaml.Unmarshal(data, &list); err != nil {
			return append(jobs, &job{err: fmt.Errorf("%s: List: %w", where, err)})
		}
		for i, item := range list.Items {
			jobs = s.classify(jobs, fmt.Sprintf("%s (item %d)", where, i), dir, item)
		}
		return jobs
	case h.Kind == "GatewayClass" && group == gwapiv1.GroupName:
		gc := &gwapiv1.GatewayClass{}
		if err := yaml.UnmarshalStrict(data, gc); err != nil {
			return append(jobs, &job{err: fmt.Errorf("%s: GatewayClass: %w", where, err)})
		}
		s.Classes[gc.Name] = gc.Spec.ControllerName
		return jobs
	}
	if g, ok := decodable[h.Kind]; !ok || g != group {
		why := skipReasons[h.Kind]
		if why == "" {
			why = "resolve does not read this kind"
		}
		s.Skipped = append(s.Skipped, fmt.Sprintf("%s: skipped %s %s (%s): %s", where, h.Kind, objectName(data), h.APIVersion, why))
		return jobs
	}
	return append(jobs, &job{where: where, kind: h.Kind, dir: dir, data: data})
}

// decodeAll decodes the jobs with gatewayapi.Decode, one document at a time, on every CPU (YAML
// decoding is most of the time flotillactl takes).
func decodeAll(jobs []*job) {
	next := make(chan *job)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Go(func() {
			for j := range next {
				j.decode()
			}
		})
	}
	for _, j := range jobs {
		if j.err == nil {
			next <- j
		}
	}
	close(next)
	wg.Wait()
}

func (j *job) decode() {
	d, err := gatewayapi.Decode(j.data, j.dir)
	if err != nil {
		// Decode names the document by its index in what it was given (always 0 here): say where
		// it is instead.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		j.err = fmt.Errorf("%s: %s %s: %w", j.where, j.kind, objectName(j.data), err)
		return
	}
	defaultNamespaces(&d)
	j.docs = &d
}

// document is one document of a YAML stream and the line it starts on.
type document struct {
	line int
	data []byte
}

// splitDocuments splits a YAML stream on its "---" separator lines.
func splitDocuments(data []byte) []document {
	var out []document
	start, startLine, line := 0, 1, 1
	for i := 0; i <= len(data); {
		end := bytes.IndexByte(data[i:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += i
		}
		if isSeparator(data[i:end]) {
			out = append(out, document{line: startLine, data: data[start:i]})
			start, startLine = min(end+1, len(data)), line+1
		}
		i, line = end+1, line+1
	}
	return append(out, document{line: startLine, data: data[start:]})
}

// isSeparator says whether a line is a YAML document separator: "---", alone or followed by a
// space (and a comment, say).
func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(bytes.TrimRight(line, " \t\r"), []byte("---"))
	return ok && (len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t')
}

// hasTopLevel says whether a document has a top-level line starting with key.
func hasTopLevel(data []byte, key string) bool {
	for line := range bytes.Lines(data) {
		if bytes.HasPrefix(line, []byte(key)) {
			return true
		}
	}
	return false
}

// hasContent says whether a document holds more than comments and blank lines.
func hasContent(data []byte) bool {
	for line := range bytes.Lines(data) {
		l := bytes.TrimSpace(line)
		if len(l) > 0 && l[0] != '#' && !bytes.Equal(l, []byte("...")) {
			return true
		}
	}
	return false
}

// header is a document's type.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// sniff reads a document's apiVersion and kind: from its top-level "apiVersion:" and "kind:" lines
// when it has both (most YAML does), or as JSON, else by parsing the YAML.
func sniff(data []byte) (header, error) {
	var h header
	for line := range bytes.Lines(data) {
		if v, ok := topLevelValue(line, "kind:"); ok {
			h.Kind = v
		} else if v, ok := topLevelValue(line, "apiVersion:"); ok {
			h.APIVersion = v
		}
	}
	if h.Kind != "" && h.APIVersion != "" {
		return h, nil
	}
	h = header{}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' && json.Unmarshal(t, &h) == nil {
		return h, nil // JSON (a List item, kubectl's -o json): no YAML parse needed
	}
	if err := yaml.Unmarshal(data, &h); err != nil {
		return h, fmt.Errorf("not a Kubernetes object: %w", err)
	}
	return h, nil
}

// topLevelValue returns the plain scalar value of a top-level "key: value" line.
func topLevelValue(line []byte, key string) (string, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(key))
	if !ok {
		return "", false
	}
	if i := bytes.Index(rest, []byte(" #")); i >= 0 {
		rest = rest[:i]
	}
	v := string(bytes.TrimSpace(rest))
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	if v == "" || strings.ContainsAny(v, "{}[]&*!|>'\"%@`") {
		return "", false // not a plain scalar: let the parser read it
	}
	return v, true
}

// objectName is "ns/name" (or "name") of a document, for messages.
func objectName(data []byte) string {
	var o struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if yaml.Unmarshal(data, &o) != nil || o.Metadata.Name == "" {
		return "(unnamed)"
	}
	if o.Metadata.Namespace == "" {
		return o.Metadata.Name
	}
	return o.Metadata.Namespace + "/" + o.Metadata.Name
}

// defaultNamespaces puts namespaced objects read without a namespace into DefaultNamespace.
func defaultNamespaces(d *gatewayapi.Documents) {
	forEachObject(reflect.ValueOf(d).Elem(), func(o metav1.Object) {
		if o.GetNamespace() == "" {
			o.SetNamespace(DefaultNamespace)
		}
	})
	for i := range d.Secrets {
		if d.Secrets[i].Namespace == "" {
			d.Secrets[i].Namespace = DefaultNamespace
		}
	}
}

// clusterScoped are the types of cluster-scoped objects, which get no namespace.
var clusterScoped = map[reflect.Type]bool{
	reflect.TypeFor[*corev1.Namespace](): true, reflect.TypeFor[*networkingv1.IngressClass](): true,
	reflect.TypeFor[*flotillav1alpha1.IngressClassConfig](): true,
}

// EachNamespaced calls fn for every namespaced object of the set.
func (s *Set) EachNamespaced(fn func(metav1.Object)) {
	forEachObject(reflect.ValueOf(&s.Docs).Elem(), fn)
}

// forEachObject calls fn for every namespaced object in the slices of v (a Documents or Input).
func forEachObject(v reflect.Value, fn func(metav1.Object)) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Kind() == reflect.Struct && v.Type().Field(i).Anonymous:
			forEachObject(f, fn)
		case f.Kind() == reflect.Slice:
			for j := range f.Len() {
				o, ok := f.Index(j).Interface().(metav1.Object)
				if !ok || clusterScoped[f.Type().Elem()] {
					continue
				}
				fn(o)
			}
		}
	}
}

// merge appends every slice of src to the same slice of dst (both Documents, or embedded Inputs):
// whatever kinds Decode learns to read are merged without a change here.
func merge(dst, src reflect.Value) {
	for i := range dst.NumField() {
		f := dst.Field(i)
		switch {
		case f.Kind() == reflect.Slice:
			f.Set(reflect.AppendSlice(f, src.Field(i)))
		case f.Kind() == reflect.Struct && dst.Type().Field(i).Anonymous:
			merge(f, src.Field(i))
		}
	}
}
