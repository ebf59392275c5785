package gatewayapi

import (
	"bytes"
	"encoding/pem"
	"fmt"

	"github.com/flotilla-dev/flotilla/internal/pki"
)

// caKey names a ConfigMap or Secret that holds CA certificates.
type caKey struct{ kind, ns, name string }

// caEntry is one CACertificate of the input, parsed on first use.
type caEntry struct {
	raw    string
	parsed bool
	// certs are the certificates of ca.crt, re-encoded as PEM; problem says why there are none.
	certs   string
	problem string
}

// caCertificate returns the certificates of a ConfigMap's or Secret's ca.crt as PEM, or why it
// cannot be used: the object does not exist, has no ca.crt, or ca.crt holds no certificate or one
// that does not parse. Each object is parsed once per Resolve, however many policies name it.
func (r *resolver) caCertificate(kind, ns, name string) (string, string) {
	if r.caIndex == nil {
		r.caIndex = make(map[caKey]*caEntry, len(r.in.CACertificates))
		for _, c := range r.in.CACertificates {
			r.caIndex[caKey{c.Kind, c.Namespace, c.Name}] = &caEntry{raw: c.PEM}
		}
	}
	id := fmt.Sprintf("%s %s/%s", kind, ns, name)
	e := r.caIndex[caKey{kind, ns, name}]
	if e == nil {
		return "", id + " does not exist"
	}
	if !e.parsed {
		e.parsed = true
		var err error
		if e.raw == "" {
			e.problem = id + " has no ca.crt"
		} else if e.certs, err = pemCertificates([]byte(e.raw)); err != nil {
			e.problem = fmt.Sprintf("%s: ca.crt %v", id, err)
		}
	}
	return e.certs, e.problem
}

// pemCertificates re-encodes the CERTIFICATE blocks of PEM data, each of which must parse, and
// skips other blocks (Envoy does too). No certificate at all is an error.
func pemCertificates(data []byte) (string, error) {
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return out.String(), nil
}
