package gatewayapi

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	flotillav1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/model"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

// ConditionTracing is the Gateway condition that says whether its fleet traces: True (Enabled)
// when spans go to the collector, False when the collector reference cannot be used (the fleet
// is served without tracing). Absent when the fleet's class configures no tracing.
const ConditionTracing = "gateway.flotilla.dev/Tracing"

// Reasons of ConditionTracing.
const (
	ReasonTracingEnabled        = "Enabled"
	ReasonCollectorNotFound     = "CollectorNotFound"
	ReasonCollectorPortNotFound = "CollectorPortNotFound"
	ReasonCollectorInvalid      = "CollectorInvalid"
	// ReasonCollectorRefNotPermitted is Gateway API's RefNotPermitted: a FleetConfig names a
	// Service in another namespace that no ReferenceGrant opens to it.
	ReasonCollectorRefNotPermitted = string(gwapiv1.GatewayReasonRefNotPermitted)
)

// Resource attribute keys Flotilla sets on every span and OTLP log record.
const (
	AttributeNamespace = "k8s.namespace.name"
	AttributeGateway   = "gateway.flotilla.dev/gateway"
)

// CollectorService is the namespace and name of the collector Service a fleet's tracing names
// (its namespace defaulting to the Gateway's); ok is false for an address or no tracing. The
// controller reads that Service into Input.Services.
func CollectorService(gatewayNamespace string, t *provisioner.Tracing) (ns, name string, ok bool) {
	if t == nil || t.Collector.Service == nil {
		return "", "", false
	}
	ns = t.Collector.Service.Namespace
	if ns == "" {
		ns = gatewayNamespace
	}
	return ns, t.Collector.Service.Name, true
}

// tracing decides the fleet's telemetry model and the Gateway's ConditionTracing. A collector
// that cannot be used gives no telemetry (the fleet is served, without tracing) and a False
// condition saying why.
func (r *resolver) tracing() (*model.Telemetry, *metav1.Condition) {
	t := r.in.Tracing
	if t == nil || r.gw == nil {
		return nil, nil
	}
	cond := func(status metav1.ConditionStatus, reason, msg string) *metav1.Condition {
		return &metav1.Condition{Type: ConditionTracing, Status: status, Reason: reason, Message: msg, ObservedGeneration: r.gw.Generation}
	}
	fail := func(reason, format string, args ...any) (*model.Telemetry, *metav1.Condition) {
		return nil, cond(metav1.ConditionFalse, reason, fmt.Sprintf(format, args...)+"; the fleet is served without tracing")
	}
	var host string
	var port int32
	switch c := t.Collector; {
	case c.Service != nil:
		ns, _, _ := CollectorService(r.gw.Namespace, t)
		key := ns + "/" + c.Service.Name
		if t.CollectorFromTeam && ns != r.gw.Namespace &&
			!r.granted(gwapiv1.Group(flotillav1alpha1.GroupVersion.Group), flotillav1alpha1.KindFleetConfig, r.gw.Namespace, "", "Service", ns, c.Service.Name) {
			return fail(ReasonCollectorRefNotPermitted, "%s: collector Service %s is in another namespace and no ReferenceGrant there allows FleetConfigs of namespace %q to refer to it",
				t.CollectorOwner, key, r.gw.Namespace)
		}
		svc := r.services[objKey{ns, c.Service.Name}]
		if svc == nil {
			return fail(ReasonCollectorNotFound, "%s: collector Service %s not found", t.CollectorOwner, key)
		}
		port = provisioner.DefaultCollectorPort
		if c.Service.Port != nil {
			port = *c.Service.Port
		}
		if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == port }) {
			return fail(ReasonCollectorPortNotFound, "%s: collector Service %s has no port %d", t.CollectorOwner, key, port)
		}
		host = c.Service.Name + "." + ns + ".svc"
	case c.Address != "":
		h, p, err := net.SplitHostPort(c.Address)
		n, perr := strconv.ParseUint(p, 10, 16)
		if err != nil || perr != nil || n == 0 || h == "" {
			return fail(ReasonCollectorInvalid, "%s: collector address %q is not host:port", t.CollectorOwner, c.Address)
		}
		host, port = h, int32(n)
	default:
		return fail(ReasonCollectorInvalid, "%s: the collector names neither a Service nor an address", t.CollectorOwner)
	}
	attrs := map[string]string{}
	maps.Copy(attrs, t.ResourceAttributes)
	attrs[AttributeNamespace], attrs[AttributeGateway] = r.gw.Namespace, r.gw.Name
	m := &model.Telemetry{Host: host, Port: port, SamplingPercent: t.SamplingPercent, ServiceName: t.ServiceName,
		AccessLog: r.in.AccessLogSink == flotillav1alpha1.AccessLogSinkOpenTelemetry}
	if m.ServiceName == "" {
		m.ServiceName = provisioner.FleetKey(r.gw)
	}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		m.ResourceAttributes = append(m.ResourceAttributes, model.Attribute{Key: k, Value: attrs[k]})
	}
	what := "spans"
	if m.AccessLog {
		what = "spans and access logs"
	}
	return m, cond(metav1.ConditionTrue, ReasonTracingEnabled, fmt.Sprintf("%s go to the collector %s:%d (%s), %s%% of requests sampled",
		what, host, port, t.CollectorOwner, strconv.FormatFloat(t.SamplingPercent, 'f', -1, 64)))
}
