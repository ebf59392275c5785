package gatewayapi

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

// Documents are Kubernetes objects read from YAML: what Resolve reads, and the Secrets themselves
// (their data is the translator's business, never Resolve's).
type Documents struct {
	Input
	// Gateways are every Gateway read, in document order; Input.Gateway is the first.
	Gateways []*gwapiv1.Gateway
	// SecretData are the Secrets read, with their data.
	SecretData []*corev1.Secret
	// The Ingress front end's objects: the internal/ingress package converts them into
	// Input.Ingresses.
	Ingresses           []*networkingv1.Ingress
	IngressClasses      []*networkingv1.IngressClass
	IngressClassConfigs []*flotillav1alpha1.IngressClassConfig
	// FleetClass and FleetConfig, when the stream has them (the first of each), give Input the
	// telemetry and client address parameters the controller takes from provisioner.Merge.
	FleetClass  *flotillav1alpha1.FleetClass
	FleetConfig *flotillav1alpha1.FleetConfig
}

// Decode reads a multi-document YAML stream of Kubernetes objects (strictly: unknown fields are
// errors). Secret stringData values and a ConfigMap's ca.crt of the form "@file" are read from
// dir/file. ConfigMaps and Secrets become CACertificates (their ca.crt, empty when they have none).
// Kinds Resolve does not read are errors, so a typo does not go unnoticed.
func Decode(data []byte, dir string) (Documents, error) {
	var d Documents
	for i, doc := range bytes.Split(data, []byte("\n---")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var head struct{ Kind string }
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return d, fmt.Errorf("document %d: %w", i, err)
		}
		if head.Kind == "" { // only comments, or an empty document
			continue
		}
		var err error
		switch head.Kind {
		case "Gateway":
			err = decode(doc, &d.Gateways)
			if err == nil && d.Gateway == nil {
				d.Gateway = d.Gateways[0]
			}
		case "ListenerSet":
			err = decode(doc, &d.ListenerSets)
		case "HTTPRoute":
			err = decode(doc, &d.HTTPRoutes)
		case "GRPCRoute":
			err = decode(doc, &d.GRPCRoutes)
		case "TLSRoute":
			err = decode(doc, &d.TLSRoutes)
		case "TCPRoute":
			err = decode(doc, &d.TCPRoutes)
		case "UDPRoute":
			err = decode(doc, &d.UDPRoutes)
		case "Ingress":
			err = decode(doc, &d.Ingresses)
		case "IngressClass":
			err = decode(doc, &d.IngressClasses)
		case "IngressClassConfig":
			err = decode(doc, &d.IngressClassConfigs)
		case "RouteFilter":
			err = decode(doc, &d.RouteFilters)
		case "FleetClass":
			if d.FleetClass == nil {
				d.FleetClass = &flotillav1alpha1.FleetClass{}
				err = yaml.UnmarshalStrict(doc, d.FleetClass)
			}
		case "FleetConfig":
			if d.FleetConfig == nil {
				d.FleetConfig = &flotillav1alpha1.FleetConfig{}
				err = yaml.UnmarshalStrict(doc, d.FleetConfig)
			}
		case "ReferenceGrant":
			err = decode(doc, &d.ReferenceGrants)
		case "Service":
			err = decode(doc, &d.Services)
		case "EndpointSlice":
			err = decode(doc, &d.EndpointSlices)
		case "Namespace":
			err = decode(doc, &d.Namespaces)
		case "BackendTLSPolicy":
			err = decode(doc, &d.BackendTLSPolicies)
		case "InferencePool":
			err = decode(doc, &d.InferencePools)
		case "Pod":
			err = decode(doc, &d.Pods)
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			if err = yaml.UnmarshalStrict(doc, cm); err == nil {
				var ca string
				ca, err = fileRef(cm.Data[caCertKey], dir)
				d.CACertificates = append(d.CACertificates, CACertificate{Kind: string(kindConfigMap), Namespace: cm.Namespace, Name: cm.Name, PEM: ca})
			}
		case "Secret":
			s := &corev1.Secret{}
			if err = yaml.UnmarshalStrict(doc, s); err == nil {
				err = fillSecret(s, dir)
				d.Secrets = append(d.Secrets, SecretInfoFrom(s))
				d.SecretData = append(d.SecretData, s)
				d.CACertificates = append(d.CACertificates, CACertificate{Kind: string(kindSecret), Namespace: s.Namespace, Name: s.Name,
					PEM: string(s.Data[caCertKey])})
			}
		default:
			err = fmt.Errorf("unexpected kind %q", head.Kind)
		}
		if err != nil {
			return d, fmt.Errorf("document %d (%s): %w", i, head.Kind, err)
		}
	}
	if d.FleetClass != nil && d.Gateway != nil {
		p, refusals := provisioner.Merge(d.Gateway, d.FleetClass, d.FleetConfig, provisioner.Defaults{})
		if len(refusals) > 0 {
			return d, fmt.Errorf("parameters refused: %s", provisioner.RefusalMessage(refusals))
		}
		d.Tracing, d.AccessLogSink, d.TrustedForwardedHops = p.Tracing, p.AccessLogSink, p.TrustedForwardedHops
	}
	return d, nil
}

func decode[T any](doc []byte, into *[]*T) error {
	o := new(T)
	if err := yaml.UnmarshalStrict(doc, o); err != nil {
		return err
	}
	*into = append(*into, o)
	return nil
}

// caCertKey is the key of a CA bundle in a ConfigMap or Secret that a BackendTLSPolicy names.
const caCertKey = "ca.crt"

// fillSecret moves stringData into data, as the API server does.
func fillSecret(s *corev1.Secret, dir string) error {
	for k, v := range s.StringData {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		v, err := fileRef(v, dir)
		if err != nil {
			return err
		}
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
	return nil
}

// fileRef is v, or the content of dir/file when v is "@file".
func fileRef(v, dir string) (string, error) {
	f, ok := strings.CutPrefix(v, "@")
	if !ok {
		return v, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, f))
	return string(b), err
}
