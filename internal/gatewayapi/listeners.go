package gatewayapi

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

const (
	kindGateway     gwapiv1.Kind = "Gateway"
	kindListenerSet gwapiv1.Kind = "ListenerSet"
	kindHTTPRoute   gwapiv1.Kind = "HTTPRoute"
	kindGRPCRoute   gwapiv1.Kind = "GRPCRoute"
	kindTLSRoute    gwapiv1.Kind = "TLSRoute"
	kindTCPRoute    gwapiv1.Kind = "TCPRoute"
	kindUDPRoute    gwapiv1.Kind = "UDPRoute"
	kindService     gwapiv1.Kind = "Service"
	kindSecret      gwapiv1.Kind = "Secret"
	kindConfigMap   gwapiv1.Kind = "ConfigMap"
)

// routeKinds is what each listener protocol can carry, in supportedKinds order.
var routeKinds = map[gwapiv1.ProtocolType][]gwapiv1.Kind{
	gwapiv1.HTTPProtocolType:  {kindHTTPRoute, kindGRPCRoute},
	gwapiv1.HTTPSProtocolType: {kindHTTPRoute, kindGRPCRoute},
	gwapiv1.TLSProtocolType:   {kindTLSRoute},
	gwapiv1.TCPProtocolType:   {kindTCPRoute},
	gwapiv1.UDPProtocolType:   {kindUDPRoute},
}

// listener is one Gateway or ListenerSet listener during resolution.
type listener struct {
	source     string // "Gateway/<ns>/<name>/<section>" or "ListenerSet/..."
	parentKind gwapiv1.Kind
	parentNS   string
	parentName string
	tier       int // 0 for the Gateway, 1.. for ListenerSets in precedence order
	name       gwapiv1.SectionName
	hostname   string
	port       int32
	protocol   gwapiv1.ProtocolType
	tls        *gwapiv1.ListenerTLSConfig
	allowed    *gwapiv1.AllowedRoutes

	c          conds
	kinds      []gwapiv1.RouteGroupKind
	supported  bool // protocol supported and port usable: takes part in conflicts
	conflict   gwapiv1.ListenerConditionReason
	certs      []string   // model Secret names of usable certificates
	terminates bool       // HTTPS, or TLS with mode Terminate
	ready      bool       // carries traffic: the model gets it
	idx        *portIndex // the owners of domains among the ready listeners of its port (large ports)
	routes     []*attachment

	// frontend is the client certificate validation of an HTTPS listener (nil: none);
	// noValidCA says it has no valid CA certificate, which refuses the listener.
	frontend  *frontendValidation
	noValidCA bool
}

func (l *listener) passthrough() bool {
	return l.protocol == gwapiv1.TLSProtocolType && !l.terminates
}

func hostnameOf(h *gwapiv1.Hostname) string {
	if h == nil {
		return ""
	}
	return string(*h)
}

// newListener validates what a listener says about itself: protocol, port, route kinds and
// certificate references (conflicts come later, across listeners).
func (r *resolver) newListener(kind gwapiv1.Kind, ns, name string, gen int64, tier int, spec gwapiv1.Listener) *listener {
	l := &listener{
		source: fmt.Sprintf("%s/%s/%s/%s", kind, ns, name, spec.Name), parentKind: kind, parentNS: ns, parentName: name,
		tier: tier, name: spec.Name, hostname: hostnameOf(spec.Hostname), port: spec.Port, protocol: spec.Protocol,
		tls: spec.TLS, allowed: spec.AllowedRoutes, c: conds{gen: gen},
	}
	kinds, ok := routeKinds[spec.Protocol]
	badKinds := l.filterKinds(kinds)
	switch {
	case !ok:
		l.c.set(string(gwapiv1.ListenerConditionAccepted), false, string(gwapiv1.ListenerReasonUnsupportedProtocol),
			fmt.Sprintf("Protocol %q is not supported", spec.Protocol))
	case spec.Protocol == gwapiv1.TLSProtocolType && l.terminates && !r.in.TLSTerminate:
		l.kinds = []gwapiv1.RouteGroupKind{}
		l.c.set(string(gwapiv1.ListenerConditionAccepted), false, string(gwapiv1.ListenerReasonUnsupportedValue),
			"TLS listeners in mode Terminate are not supported yet; use mode Passthrough or an HTTPS listener")
	case provisioner.IsReservedPort(provisioner.ContainerPort(spec.Port)):
		l.c.set(string(gwapiv1.ListenerConditionAccepted), false, string(gwapiv1.ListenerReasonPortUnavailable),
			fmt.Sprintf("Port %d is reserved for Envoy's admin, health and stats endpoints", spec.Port))
	default:
		l.supported = true
	}
	refReason, refMsg := l.resolveCertificates(r)
	if spec.Protocol == gwapiv1.HTTPSProtocolType {
		l.frontend = r.frontendFor(spec.Port)
		if fv := l.frontend; fv != nil && fv.reason != "" {
			refReason = cmp.Or(refReason, fv.reason)
			refMsg = strings.TrimPrefix(refMsg+"; "+fv.msg, "; ")
		}
	}
	switch {
	case refReason != "":
		l.c.set(string(gwapiv1.ListenerConditionResolvedRefs), false, string(refReason), refMsg)
	case len(badKinds) > 0:
		l.c.set(string(gwapiv1.ListenerConditionResolvedRefs), false, string(gwapiv1.ListenerReasonInvalidRouteKinds),
			fmt.Sprintf("Route kinds not supported on a %s listener: %s", spec.Protocol, strings.Join(badKinds, ", ")))
	default:
		l.c.set(string(gwapiv1.ListenerConditionResolvedRefs), true, string(gwapiv1.ListenerReasonResolvedRefs), "References resolved")
	}
	return l
}

// filterKinds sets supportedKinds from allowedRoutes.kinds (or the protocol's kinds) and returns
// the requested kinds the protocol cannot carry.
func (l *listener) filterKinds(kinds []gwapiv1.Kind) []string {
	group := gwapiv1.Group(gwapiv1.GroupName)
	l.kinds = []gwapiv1.RouteGroupKind{}
	// tls.mode defaults to Terminate (the API server fills it in; YAML in tests may not).
	if l.protocol == gwapiv1.TLSProtocolType && (l.tls == nil || l.tls.Mode == nil || *l.tls.Mode != gwapiv1.TLSModePassthrough) {
		l.terminates = true
	}
	if l.protocol == gwapiv1.HTTPSProtocolType {
		l.terminates = true
	}
	if l.allowed == nil || len(l.allowed.Kinds) == 0 {
		for _, k := range kinds {
			l.kinds = append(l.kinds, gwapiv1.RouteGroupKind{Group: &group, Kind: k})
		}
		return nil
	}
	var bad []string
	for _, rk := range l.allowed.Kinds {
		g := gwapiv1.Group(gwapiv1.GroupName)
		if rk.Group != nil {
			g = *rk.Group
		}
		if g == gwapiv1.GroupName && slices.Contains(kinds, rk.Kind) {
			if !slices.ContainsFunc(l.kinds, func(k gwapiv1.RouteGroupKind) bool { return k.Kind == rk.Kind }) {
				l.kinds = append(l.kinds, gwapiv1.RouteGroupKind{Group: &group, Kind: rk.Kind})
			}
		} else {
			bad = append(bad, fmt.Sprintf("%s/%s", g, rk.Kind))
		}
	}
	return bad
}

func (l *listener) allowsKind(k gwapiv1.Kind) bool {
	if k == kindIngress {
		k = kindHTTPRoute
	}
	return slices.ContainsFunc(l.kinds, func(rk gwapiv1.RouteGroupKind) bool { return rk.Kind == k })
}

// resolveCertificates checks the certificateRefs of a terminating listener and keeps the usable
// ones. It returns the ResolvedRefs reason of the first problem ("" when there is none).
func (l *listener) resolveCertificates(r *resolver) (gwapiv1.ListenerConditionReason, string) {
	if !l.terminates {
		return "", ""
	}
	if l.tls == nil || len(l.tls.CertificateRefs) == 0 {
		return gwapiv1.ListenerReasonInvalidCertificateRef, "A terminating listener needs tls.certificateRefs"
	}
	var reason gwapiv1.ListenerConditionReason
	var msgs []string
	fail := func(rs gwapiv1.ListenerConditionReason, msg string) {
		if reason == "" || rs == gwapiv1.ListenerReasonRefNotPermitted {
			reason = rs
		}
		msgs = append(msgs, msg)
	}
	for _, ref := range l.tls.CertificateRefs {
		ns := refNamespace(l.parentNS, ref.Namespace)
		id := ns + "/" + string(ref.Name)
		switch {
		case ref.Group != nil && *ref.Group != "" || ref.Kind != nil && *ref.Kind != kindSecret:
			fail(gwapiv1.ListenerReasonInvalidCertificateRef, fmt.Sprintf("certificateRef %s is not a core Secret", id))
		case ns != l.parentNS && !r.granted(gwapiv1.GroupName, l.parentKind, l.parentNS, "", kindSecret, ns, string(ref.Name)):
			fail(gwapiv1.ListenerReasonRefNotPermitted, fmt.Sprintf("Secret %s: no ReferenceGrant allows the reference", id))
		default:
			s, ok := r.secrets[id]
			switch {
			case !ok:
				fail(gwapiv1.ListenerReasonInvalidCertificateRef, fmt.Sprintf("Secret %s does not exist", id))
			case !s.ValidTLS:
				fail(gwapiv1.ListenerReasonInvalidCertificateRef, fmt.Sprintf("Secret %s has no valid tls.crt/tls.key pair", id))
			default:
				l.certs = append(l.certs, id)
			}
		}
	}
	return reason, strings.Join(msgs, "; ")
}
