package provisioner

import (
	"fmt"
	"slices"
	"strings"
)

// Refusal is one request a team made that the FleetClass does not allow. It is never clamped: the
// controller refuses the Gateway (Accepted=False, reason InvalidParameters) with every refusal in
// the message.
type Refusal struct {
	// Object is the object that asked: "FleetConfig <name>" or "Gateway <name>".
	Object string
	// Field is the path of the field in Object, e.g. spec.replicas.
	Field string
	// Value is what was asked, as the message shows it.
	Value string
	// Bound is the limit it broke, as the message shows it ("[1, 5]"), or "" when the class allows
	// no override of the field at all.
	Bound string
	// Message names the field, the value and the bound, e.g.
	// `spec.replicas: 12 is outside the class's bounds [1, 5]`.
	Message string
}

func (r Refusal) String() string { return r.Message }

// RefusalMessage joins refusals into one condition message, each prefixed with the object that
// asked, in the order Merge found them (deterministic).
func RefusalMessage(rs []Refusal) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		parts = append(parts, r.Object+" "+r.Message)
	}
	return strings.Join(parts, "; ")
}

// refusals collects Refusals for one object.
type refusals struct {
	object string
	list   []Refusal
}

// outside records a value outside a bound; detail completes "<field>: <value> <detail>".
func (rs *refusals) outside(field, value, bound, detail string) {
	rs.list = append(rs.list, Refusal{Object: rs.object, Field: field, Value: value, Bound: bound,
		Message: fmt.Sprintf("%s: %s %s", field, value, detail)})
}

// notAllowed records a field the class lets no team set; boundField names the FleetClass field
// that would allow it.
func (rs *refusals) notAllowed(field, value, boundField string) {
	msg := fmt.Sprintf("%s: %s cannot be set: the class allows no override of it (tenancy.overrides.%s)", field, value, boundField)
	if value == "" {
		msg = fmt.Sprintf("%s: cannot be set: the class allows no override of it (tenancy.overrides.%s)", field, boundField)
	}
	rs.list = append(rs.list, Refusal{Object: rs.object, Field: field, Value: value, Message: msg})
}

// Reserved label and annotation key domains: a key whose prefix (the part before '/') is one of
// these or a subdomain of one belongs to Kubernetes or to Flotilla.
var (
	kubernetesDomains = []string{"kubernetes.io", "k8s.io"}
	flotillaDomain    = "flotilla.dev"
)

// keyRule says which label or annotation keys a team may set in one place.
type keyRule struct {
	// any allows every key that is not reserved (Gateway infrastructure without tenancy overrides).
	any bool
	// prefixes allow keys starting with one of them; "" allows every key that is not reserved. A
	// non-empty prefix may also allow kubernetes.io and k8s.io keys explicitly.
	prefixes []string
	// boundField names the FleetClass field the prefixes come from.
	boundField string
}

// checkKeys refuses, in key order, each key of m the rule does not allow and returns the keys it
// allows. The labels Flotilla sets and the flotilla.dev domain are never allowed; the Kubernetes
// domains only through an explicit, non-empty prefix, so that the prefix "" (or no FleetClass)
// never lets a team set them.
func (rs *refusals) checkKeys(field string, m map[string]string, rule keyRule) map[string]string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var ok map[string]string
	for _, k := range keys {
		path := fmt.Sprintf("%s[%q]", field, k)
		refuse := func(bound, detail string) {
			rs.list = append(rs.list, Refusal{Object: rs.object, Field: path, Value: k, Bound: bound,
				Message: path + ": key " + detail})
		}
		domain, _, hasDomain := strings.Cut(k, "/")
		if !hasDomain {
			domain = ""
		}
		explicit := slices.ContainsFunc(rule.prefixes, func(p string) bool { return p != "" && keyHasPrefix(k, p) })
		switch {
		case k == LabelGatewayName || k == LabelManagedBy || k == LabelFleet:
			refuse("", "is reserved: Flotilla sets it on every fleet object")
		case inDomain(domain, flotillaDomain):
			refuse("", "is reserved: Flotilla sets the keys of the flotilla.dev domain itself")
		case !rule.any && len(rule.prefixes) == 0:
			rs.list = append(rs.list, Refusal{Object: rs.object, Field: path, Value: k,
				Message: fmt.Sprintf("%s: cannot be set: the class allows no override of it (tenancy.overrides.%s)", path, rule.boundField)})
		case slices.ContainsFunc(kubernetesDomains, func(d string) bool { return inDomain(domain, d) }) && !explicit:
			refuse("", "is reserved for Kubernetes (kubernetes.io, k8s.io): only a FleetClass prefix naming it explicitly allows it")
		case !rule.any && !explicit && !slices.Contains(rule.prefixes, ""):
			bound := fmt.Sprintf("%q", rule.prefixes)
			refuse(bound, fmt.Sprintf("is not under an allowed prefix %s (tenancy.overrides.%s; a prefix without '/' names a domain and its subdomains)", bound, rule.boundField))
		default:
			if ok == nil {
				ok = map[string]string{}
			}
			ok[k] = m[k]
		}
	}
	return ok
}

// keyHasPrefix reports whether a FleetClass key prefix allows key, comparing domains as domains so
// that a prefix never reaches into a domain it does not name:
//
//   - "domain/name-prefix" (e.g. "service.beta.kubernetes.io/aws-load-balancer-"): the key's domain
//     is exactly domain and its name starts with name-prefix ("domain/" allows every name there);
//   - "domain" without a '/' (e.g. "example.com"): the key's domain is domain or a subdomain of it
//     ("team.example.com/x"), or the key has no domain and its name starts with the prefix
//     ("example-tier"). "example" thus allows "example/x" and "a.example/x", but never
//     "example.kubernetes.io/x" or "examplecorp.com/x".
func keyHasPrefix(key, prefix string) bool {
	keyDomain, keyName, keyQualified := strings.Cut(key, "/")
	if !keyQualified {
		keyDomain, keyName = "", key
	}
	if domain, name, ok := strings.Cut(prefix, "/"); ok {
		return keyQualified && keyDomain == domain && strings.HasPrefix(keyName, name)
	}
	if !keyQualified {
		return strings.HasPrefix(keyName, prefix)
	}
	return inDomain(keyDomain, prefix)
}

// inDomain reports whether a key prefix is domain or a subdomain of it.
func inDomain(prefix, domain string) bool {
	return prefix == domain || strings.HasSuffix(prefix, "."+domain)
}
