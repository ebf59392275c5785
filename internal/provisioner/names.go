package provisioner

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Labels Flotilla sets on every fleet object. The Pod selector uses LabelFleet and LabelManagedBy
// only: both are derived from the fleet key and never change for the life of the Gateway.
const (
	LabelGatewayName = "gateway.networking.k8s.io/gateway-name"
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	LabelFleet       = "gateway.flotilla.dev/fleet"

	// ManagedByValue is the value of LabelManagedBy.
	ManagedByValue = "flotilla"

	// AnnotationBootstrapChecksum on the Pod template rolls the Pods when the bootstrap changes.
	AnnotationBootstrapChecksum = "gateway.flotilla.dev/bootstrap-checksum"
)

const (
	namePrefix    = "flotilla-"
	maxNameLength = 63 // a DNS label: the Service name must be one
	nameHashLen   = 8
	fleetHashLen  = 16
)

// FleetKey is the fleet's identity, "<namespace>/<name>": the snapshot key, node.cluster of its
// Envoys and the name in its certificate.
func FleetKey(gw *gwapiv1.Gateway) string {
	return FleetKeyFor(gw.Namespace, gw.Name)
}

// FleetKeyFor is the fleet key of the Gateway namespace/name: the one spelling of it.
func FleetKeyFor(namespace, name string) string {
	return namespace + "/" + name
}

// FleetHash is a short, stable hash of the fleet key: the value of LabelFleet.
func FleetHash(gw *gwapiv1.Gateway) string {
	return shortHash(FleetKey(gw), fleetHashLen)
}

// FleetName is the name of every object of the fleet (ServiceAccount, ConfigMap, Secret,
// Deployment, Service, HPA, PDB): "flotilla-<gateway-name>", a DNS-1035 label of at most 63
// characters. A Gateway name with dots, or one too long, is cut and suffixed with a hash of the
// whole name so that two Gateways never share a fleet name.
func FleetName(gw *gwapiv1.Gateway) string {
	return namePrefix + fitName(gw.Name, maxNameLength-len(namePrefix))
}

// SecretName is the name of the Secret holding the fleet's client certificate, which internal/pki
// (or cert-manager) fills with the keys SecretKeyCertificate, SecretKeyPrivateKey and SecretKeyCA.
func SecretName(gw *gwapiv1.Gateway) string { return FleetName(gw) }

// BackendClientSecretName is the Secret (and cert-manager Certificate) of the client certificate
// the fleet presents to TLS backends when the FleetClass has cert-manager issue one.
func BackendClientSecretName(gw *gwapiv1.Gateway) string {
	return namePrefix + fitName(gw.Name, maxNameLength-len(namePrefix)-len(backendSuffix)) + backendSuffix
}

const backendSuffix = "-backend"

// gatewayNameLabel is the Gateway's name as a label value: the name itself when it is a valid
// label value (63 characters at most), else the name cut with a hash, as FleetName does.
func gatewayNameLabel(gw *gwapiv1.Gateway) string {
	if len(gw.Name) <= maxNameLength {
		return gw.Name
	}
	return fitName(gw.Name, maxNameLength)
}

// fitName returns name when it is a dot-free string of at most max characters, else the name with
// dots replaced, cut to leave room for "-<hash>", ending in the hash of the original name.
func fitName(name string, max int) string {
	clean := strings.ReplaceAll(name, ".", "-")
	if clean == name && len(name) <= max {
		return name
	}
	cut := max - nameHashLen - 1
	if len(clean) < cut {
		cut = len(clean)
	}
	head := strings.TrimRight(clean[:cut], "-")
	return head + "-" + shortHash(name, nameHashLen)
}

// SelectorLabels select the fleet's Pods. They are immutable: a Deployment's selector cannot change.
func SelectorLabels(gw *gwapiv1.Gateway) map[string]string {
	return map[string]string{
		LabelFleet:     FleetHash(gw),
		LabelManagedBy: ManagedByValue,
	}
}

// FleetLabels are the labels Flotilla itself puts on every fleet object.
func FleetLabels(gw *gwapiv1.Gateway) map[string]string {
	l := SelectorLabels(gw)
	l[LabelGatewayName] = gatewayNameLabel(gw)
	return l
}

// objectLabels are the labels of a fleet object: the Gateway's infrastructure labels under
// Flotilla's own (which Merge never lets a team set anyway).
func objectLabels(gw *gwapiv1.Gateway, p Params) map[string]string {
	out := maps.Clone(p.InfrastructureLabels)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, FleetLabels(gw))
	return out
}

// objectAnnotations are the annotations of a fleet object: the Gateway's infrastructure
// annotations plus extra (nil when there are none, so that the output stays minimal).
func objectAnnotations(p Params, extra ...map[string]string) map[string]string {
	out := maps.Clone(p.InfrastructureAnnotations)
	for _, e := range extra {
		if len(e) > 0 && out == nil {
			out = map[string]string{}
		}
		maps.Copy(out, e)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func shortHash(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}
