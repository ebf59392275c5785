package migrate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/ingress"
	"github.com/flotilla-dev/flotilla/internal/xds/explain"
)

// Verification is the outcome of Verify.
type Verification struct {
	// Requests is how many requests were compared.
	Requests int `json:"requests"`
	// Different is how many requests get another decision after the migration; Differences
	// are the first of them (at most maxDifferences), with both decisions.
	Different   int          `json:"different"`
	Differences []Difference `json:"differences,omitempty"`
	// Notes say what the comparison assumed (certificates not in the input).
	Notes []string `json:"notes,omitempty"`
}

// Difference is one request Envoy would serve differently after the migration.
type Difference struct {
	Request  string `json:"request"`
	Ingress  string `json:"ingress"`
	Migrated string `json:"migrated"`
}

// maxDifferences bounds the differences a Verification lists.
const maxDifferences = 50

// Verify resolves and translates the input as it is and with the migrated Ingresses replaced
// by the printed objects (created after every object of the input, all at once, as one apply
// creates them), then compares what Envoy does with every request of a corpus derived from the
// Ingresses: every host (and alias) × every path with boundary variants (trailing slash, one more
// segment, one more character, upper case, a query) on every HTTP and HTTPS port, and each canary
// header and cookie value. Decisions compare by outcome (status, redirect Location, weighted
// clusters with their exact shares and endpoints, every filter applied, the certificate
// presented), not by the names of the routes that made them.
func Verify(res *Result) (*Verification, error) {
	v := &Verification{}
	before := *res.set
	before.Docs = res.set.Docs
	after := before
	docs := &after.Docs
	var maxTime time.Time
	res.set.EachNamespaced(func(o metav1.Object) {
		if t := o.GetCreationTimestamp(); t.After(maxTime) {
			maxTime = t.Time
		}
	})
	created := metav1.NewTime(maxTime.Add(time.Minute).Truncate(time.Second))
	docs.Ingresses = slices.DeleteFunc(slices.Clone(docs.Ingresses), func(ing *networkingv1.Ingress) bool {
		return res.Migrated[ing.Namespace+"/"+ing.Name]
	})
	docs.HTTPRoutes, docs.ListenerSets = slices.Clip(docs.HTTPRoutes), slices.Clip(docs.ListenerSets)
	docs.RouteFilters, docs.ReferenceGrants = slices.Clip(docs.RouteFilters), slices.Clip(docs.ReferenceGrants)
	for _, o := range res.Objects {
		obj := o.Obj.DeepCopyObject()
		switch x := obj.(type) {
		case *gwapiv1.HTTPRoute:
			x.CreationTimestamp, x.Generation = created, 1
			docs.HTTPRoutes = append(docs.HTTPRoutes, x)
		case *gwapiv1.ListenerSet:
			x.CreationTimestamp, x.Generation = created, 1
			docs.ListenerSets = append(docs.ListenerSets, x)
		case *flotillav1alpha1.RouteFilter:
			x.CreationTimestamp, x.Generation = created, 1
			docs.RouteFilters = append(docs.RouteFilters, x)
		case *gwapiv1.ReferenceGrant:
			x.CreationTimestamp = created
			docs.ReferenceGrants = append(docs.ReferenceGrants, x)
		default:
			return nil, fmt.Errorf("verify: object %T is not one migrate prints", obj)
		}
	}
	// A TLS Secret of an Ingress that the input does not hold is taken to exist (teams rarely
	// export Secrets): both sides get the same certificate for it.
	if missing := missingTLSSecrets(res); len(missing) > 0 {
		secrets, data, err := syntheticSecrets(missing)
		if err != nil {
			return nil, err
		}
		for _, d := range []*gatewayapi.Documents{&before.Docs, docs} {
			d.Secrets = append(slices.Clip(d.Secrets), secrets...)
			d.SecretData = append(slices.Clip(d.SecretData), data...)
		}
		v.Notes = append(v.Notes, fmt.Sprintf("TLS Secrets not in the input were taken to exist with a valid certificate: %s", strings.Join(missing, ", ")))
	}
	// The API server labels every namespace with its name; the input's may not say so.
	nss := namespaces(res)
	before.Docs.Namespaces, docs.Namespaces = nss, nss
	fb, err := before.Translate(res.Gateway)
	if err != nil {
		return nil, fmt.Errorf("the input as it is: %w", err)
	}
	fa, err := after.Translate(res.Gateway)
	if err != nil {
		return nil, fmt.Errorf("the input migrated: %w", err)
	}
	eb, ea := explain.Prepare(fb.Resources), explain.Prepare(fa.Resources)
	for _, req := range corpus(res) {
		db, err := eb.Explain(req)
		if err != nil {
			return nil, err
		}
		da, err := ea.Explain(req)
		if err != nil {
			return nil, err
		}
		v.Requests++
		if ob, oa := outcomeOf(db), outcomeOf(da); !reflect.DeepEqual(ob, oa) {
			v.Different++
			if len(v.Differences) < maxDifferences {
				v.Differences = append(v.Differences, Difference{Request: describe(req), Ingress: summary(db, ob), Migrated: summary(da, oa)})
			}
		}
	}
	return v, nil
}

// outcome is what a decision does to a request, without the names of what made it.
type outcome struct {
	TLS          bool
	Certificates []string
	Type         string
	Status       int
	Location     string
	Backends     []explain.Backend
	Filters      []explain.Operation
}

func outcomeOf(d *explain.Decision) outcome {
	o := outcome{Type: d.Action.Type, Status: d.Action.Status, Location: d.Action.Location, Backends: d.Action.Backends, Filters: d.Filters}
	if c := d.FilterChain; c != nil {
		o.TLS, o.Certificates = c.TLS, c.Certificates
	}
	return o
}

func summary(d *explain.Decision, o outcome) string {
	var b strings.Builder
	b.WriteString(d.Action.Summary)
	if r := d.Route; r != nil {
		fmt.Fprintf(&b, " [route %s]", r.Name)
	}
	if len(o.Certificates) > 0 {
		fmt.Fprintf(&b, " [certificate %s]", strings.Join(o.Certificates, ","))
	}
	for _, f := range o.Filters {
		fmt.Fprintf(&b, "; %s: %s", f.Kind, f.Detail)
	}
	return b.String()
}

func describe(r explain.Request) string {
	host := r.Authority
	if !strings.Contains(host, ":") {
		host = fmt.Sprintf("%s:%d", host, r.Port)
	}
	s := fmt.Sprintf("%s %s://%s%s", r.Method, r.Scheme, host, r.Path)
	if r.Query != "" {
		s += "?" + r.Query
	}
	for _, h := range r.Headers {
		s += fmt.Sprintf(" -H '%s: %s'", h.Name, h.Value)
	}
	return s
}

// corpus are the requests Verify compares.
func corpus(res *Result) []explain.Request {
	var hosts []string
	paths := map[string][]string{} // by host; "" for the Ingresses without a host
	var headers [][2]string
	addHost := func(h string) {
		if strings.HasPrefix(h, "*.") {
			h = "wild" + h[1:]
		}
		if h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	for _, ing := range res.set.Docs.Ingresses {
		for _, t := range ing.Spec.TLS {
			for _, h := range t.Hosts {
				addHost(h)
			}
		}
		for _, rule := range ing.Spec.Rules {
			addHost(rule.Host)
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				paths[rule.Host] = append(paths[rule.Host], literal(p.Path))
			}
		}
		for k, val := range ing.Annotations {
			_, n, ok := strings.Cut(k, "/")
			if !ok {
				continue
			}
			switch n {
			case "server-alias":
				for _, a := range strings.Split(val, ",") {
					addHost(strings.TrimSpace(a))
				}
			case "canary-by-header":
				headers = append(headers, [2]string{val, "always"}, [2]string{val, "never"}, [2]string{val, "other"})
				if hv := annotation(ing, "canary-by-header-value"); hv != "" {
					headers = append(headers, [2]string{val, hv})
				}
			case "canary-by-cookie":
				headers = append(headers, [2]string{"Cookie", val + "=always"}, [2]string{"Cookie", "a=b; " + val + "=never"})
			case "cors-allow-origin":
				for _, o := range strings.Split(val, ",") {
					if o = strings.TrimSpace(o); o != "*" && !strings.Contains(o, "*") {
						headers = append(headers, [2]string{"Origin", o})
					}
				}
				headers = append(headers, [2]string{"Origin", "https://elsewhere.invalid"})
			}
		}
	}
	hosts = append(hosts, "flotilla-verify.invalid")
	slices.Sort(hosts)
	var ports []struct {
		scheme string
		port   gwapiv1.PortNumber
	}
	for _, l := range res.Gateway.Spec.Listeners {
		switch l.Protocol {
		case gwapiv1.HTTPProtocolType:
			ports = append(ports, struct {
				scheme string
				port   gwapiv1.PortNumber
			}{"http", l.Port})
		case gwapiv1.HTTPSProtocolType:
			ports = append(ports, struct {
				scheme string
				port   gwapiv1.PortNumber
			}{"https", l.Port})
		}
	}
	var out []explain.Request
	seen := map[string]bool{}
	add := func(scheme string, port gwapiv1.PortNumber, host, target string, hs [][2]string) {
		url := fmt.Sprintf("%s://%s:%d%s", scheme, host, port, target)
		var hdrs []string
		for _, h := range hs {
			hdrs = append(hdrs, h[0]+": "+h[1])
		}
		k := url + "\x00" + strings.Join(hdrs, "\x00")
		if seen[k] {
			return
		}
		seen[k] = true
		req, err := explain.ParseRequest("GET "+url, hdrs)
		if err == nil {
			out = append(out, req)
		}
	}
	for _, host := range hosts {
		ps := slices.Concat([]string{"/", "/flotilla-verify-nomatch"}, paths[host], paths[""])
		for _, pp := range ports {
			for _, p := range ps {
				for _, variant := range variants(p) {
					add(pp.scheme, pp.port, host, variant, nil)
				}
				for _, h := range headers {
					add(pp.scheme, pp.port, host, p, [][2]string{h})
				}
			}
		}
	}
	return out
}

// variants of a path: as it is, with a trailing slash and without, one more segment, one more
// character, in upper case, with a query.
func variants(p string) []string {
	out := []string{p, p + "/", p + "/x", p + "x", strings.ToUpper(p), p + "?q=1"}
	if t := strings.TrimSuffix(p, "/"); t != p && t != "" {
		out = append(out, t)
	}
	return out
}

// literal is the literal start of a path that may be a regular expression: up to its first
// special character.
func literal(p string) string {
	if p == "" {
		return "/"
	}
	if i := strings.IndexAny(p, `()[]{}.*+?^$|\`); i >= 0 {
		p = p[:i]
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}

func annotation(ing *networkingv1.Ingress, name string) string {
	for k, v := range ing.Annotations {
		if strings.HasSuffix(k, "/"+name) {
			return v
		}
	}
	return ""
}

// missingTLSSecrets are the TLS Secrets ("ns/name") the Ingresses of the migration name that
// the input does not hold.
func missingTLSSecrets(res *Result) []string {
	have := map[string]bool{}
	for _, s := range res.set.Docs.Secrets {
		have[s.Namespace+"/"+s.Name] = true
	}
	var out []string
	for _, ing := range res.set.Docs.Ingresses {
		if ingress.Select(ing, res.classes()) == nil {
			continue
		}
		for _, t := range ing.Spec.TLS {
			if k := ing.Namespace + "/" + t.SecretName; t.SecretName != "" && !have[k] && !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (res *Result) classes() []ingress.Class {
	return ingress.ClassesFor(res.Gateway.Namespace, res.Gateway.Name, res.set.Docs.IngressClasses, res.set.Docs.IngressClassConfigs)
}

// syntheticSecrets are TLS Secrets with one self-signed certificate.
func syntheticSecrets(names []string) ([]gatewayapi.SecretInfo, []*corev1.Secret, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flotillactl migrate --verify"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), DNSNames: []string{"flotilla-verify.invalid"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kp := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
	var infos []gatewayapi.SecretInfo
	var data []*corev1.Secret
	for _, n := range names {
		ns, name, _ := strings.Cut(n, "/")
		infos = append(infos, gatewayapi.SecretInfo{Namespace: ns, Name: name, Type: corev1.SecretTypeTLS, ValidTLS: true})
		data = append(data, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: kp}})
	}
	return infos, data, nil
}

// namespaces are the input's Namespaces and one for every other namespace of its objects, each
// with the kubernetes.io/metadata.name label the API server sets.
func namespaces(res *Result) []*corev1.Namespace {
	var out []*corev1.Namespace
	seen := map[string]bool{}
	for _, n := range res.set.Docs.Namespaces {
		c := n.DeepCopy()
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[corev1.LabelMetadataName] = c.Name
		out = append(out, c)
		seen[c.Name] = true
	}
	add := func(ns string) {
		if ns != "" && !seen[ns] {
			seen[ns] = true
			out = append(out, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{corev1.LabelMetadataName: ns}}})
		}
	}
	res.set.EachNamespaced(func(o metav1.Object) { add(o.GetNamespace()) })
	for _, o := range res.Objects {
		add(o.Obj.GetNamespace())
	}
	return out
}
