package gatewayapi

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/model"
)

// Client certificate validation (the Gateway's spec.tls.frontend, GEP-91).
//
// The configuration is the Gateway's, per port: perPort for its port, else default. It targets
// every listener serving HTTPS on the port, the Gateway's and its ListenerSets' alike (and the
// SNI chains an Ingress adds to them), never HTTP, TLS or TCP listeners. Every HTTPS chain of a
// port therefore verifies clients with the same trust bundle in the same mode: listeners of one
// port cannot disagree, and a connection set up through one chain of a port was validated as
// any other chain of the port would have validated it. A port whose configuration has no valid
// CA certificate serves no HTTPS at all (its HTTPS listeners are Accepted=False
// NoValidCACertificate), never HTTPS without client validation.

// frontendValidation is one spec.tls.frontend configuration (default, or one perPort entry) as
// resolved, once per Resolve.
type frontendValidation struct {
	// field names the configuration in messages: "spec.tls.frontend.default" or
	// "spec.tls.frontend.perPort[port=8443]".
	field string
	// bundle holds the certificates of the valid refs; nil when none is valid.
	bundle   *model.TrustBundle
	fallback bool // mode AllowInsecureFallback
	// reason and msg are the ResolvedRefs problem of the refs ("" when every ref is valid).
	reason gwapiv1.ListenerConditionReason
	msg    string
}

// frontendFor is the client certificate validation of HTTPS listeners on port: nil when the
// Gateway asks for none there (no spec.tls.frontend, or the applicable entry has no validation).
func (r *resolver) frontendFor(port int32) *frontendValidation {
	tls := r.gw.Spec.TLS
	if tls == nil || tls.Frontend == nil {
		return nil
	}
	cfg, key, field := &tls.Frontend.Default, "default", "spec.tls.frontend.default"
	for i := range tls.Frontend.PerPort {
		if pp := &tls.Frontend.PerPort[i]; int32(pp.Port) == port {
			cfg, key, field = &pp.TLS, fmt.Sprintf("port/%d", port), fmt.Sprintf("spec.tls.frontend.perPort[port=%d]", port)
			break
		}
	}
	if cfg.Validation == nil {
		return nil
	}
	if fv, ok := r.frontends[key]; ok {
		return fv
	}
	fv := r.resolveFrontend(cfg.Validation, key, field)
	if r.frontends == nil {
		r.frontends = map[string]*frontendValidation{}
	}
	r.frontends[key] = fv
	return fv
}

// resolveFrontend checks the caCertificateRefs of one configuration. Refs default to the
// Gateway's namespace; another namespace needs a ReferenceGrant from the Gateway. The valid
// refs' certificates make the bundle: trusting fewer CAs than asked never widens trust.
func (r *resolver) resolveFrontend(v *gwapiv1.FrontendTLSValidation, key, field string) *frontendValidation {
	fv := &frontendValidation{field: field, fallback: v.Mode == gwapiv1.AllowInsecureFallback}
	var pems, msgs []string
	fail := func(reason gwapiv1.ListenerConditionReason, msg string) {
		if fv.reason == "" || reason == gwapiv1.ListenerReasonRefNotPermitted {
			fv.reason = reason
		}
		msgs = append(msgs, msg)
	}
	for _, ref := range v.CACertificateRefs {
		ns := refNamespace(r.gw.Namespace, ref.Namespace)
		switch {
		case ref.Group != "" || ref.Kind != kindConfigMap && ref.Kind != kindSecret:
			fail(gwapiv1.ListenerReasonInvalidCACertificateKind, fmt.Sprintf("%s caCertificateRef %s/%s: kind %s/%s is not supported (only core ConfigMap and Secret are)",
				field, ns, ref.Name, cmp.Or(string(ref.Group), "core"), ref.Kind))
		case ns != r.gw.Namespace && !r.granted(gwapiv1.GroupName, kindGateway, r.gw.Namespace, "", ref.Kind, ns, string(ref.Name)):
			fail(gwapiv1.ListenerReasonRefNotPermitted, fmt.Sprintf("%s caCertificateRef: no ReferenceGrant allows the reference to %s %s/%s",
				field, ref.Kind, ns, ref.Name))
		default:
			pem, problem := r.caCertificate(string(ref.Kind), ns, string(ref.Name))
			if problem != "" {
				fail(gwapiv1.ListenerReasonInvalidCACertificateRef, field+" caCertificateRef "+problem)
				continue
			}
			pems = append(pems, pem)
		}
	}
	fv.msg = strings.Join(msgs, "; ")
	if len(pems) > 0 {
		fv.bundle = &model.TrustBundle{Name: fmt.Sprintf("%s/%s/%s/frontend/%s", kindGateway, r.gw.Namespace, r.gw.Name, key), PEM: strings.Join(pems, "")}
	}
	return fv
}

// refuseWithoutCA makes an HTTPS listener whose client validation has no valid CA certificate
// Accepted=False NoValidCACertificate and Programmed=False, and keeps it out of the model: it
// must not serve HTTPS without verifying clients. A listener already refused (conflicted,
// unsupported) keeps its reason.
func (l *listener) refuseWithoutCA() {
	if l.frontend == nil || l.frontend.bundle != nil {
		return
	}
	accepted := string(gwapiv1.ListenerConditionAccepted)
	if i := slices.IndexFunc(l.c.list, func(c metav1.Condition) bool { return c.Type == accepted }); i < 0 || l.c.list[i].Status != metav1.ConditionTrue {
		return
	}
	msg := fmt.Sprintf("No valid CA certificate in %s, so this listener serves nothing rather than HTTPS without client certificate validation: see ResolvedRefs", l.frontend.field)
	l.c.set(accepted, false, string(gwapiv1.ListenerReasonNoValidCACertificate), msg)
	l.c.set(string(gwapiv1.ListenerConditionProgrammed), false, string(gwapiv1.ListenerReasonInvalid), msg)
	l.ready, l.noValidCA = false, true
}

// clientValidation is the model's validation for the chains of a ready HTTPS listener (nil: none).
func (l *listener) clientValidation() *model.ClientValidation {
	if l.frontend == nil || l.frontend.bundle == nil {
		return nil
	}
	return &model.ClientValidation{TrustBundle: l.frontend.bundle.Name, InsecureFallback: l.frontend.fallback}
}

// frontendBundles are the trust bundles the model's chains verify clients with, by name.
func frontendBundles(f *model.Fleet, r *resolver) []model.TrustBundle {
	var out []model.TrustBundle
	seen := map[string]bool{}
	for _, l := range f.Listeners {
		for _, c := range l.FilterChains {
			if c.TLS == nil || c.TLS.ClientValidation == nil || seen[c.TLS.ClientValidation.TrustBundle] {
				continue
			}
			seen[c.TLS.ClientValidation.TrustBundle] = true
			for _, fv := range r.frontends {
				if fv.bundle != nil && fv.bundle.Name == c.TLS.ClientValidation.TrustBundle {
					out = append(out, *fv.bundle)
				}
			}
		}
	}
	return out
}

// insecureFrontend is the Gateway's InsecureFrontendValidationMode condition: True
// (ConfigurationChanged) while spec.tls.frontend's default or a perPort entry has mode
// AllowInsecureFallback, whether or not a listener uses it; nil otherwise (the condition is
// removed).
func (r *resolver) insecureFrontend() *metav1.Condition {
	tls := r.gw.Spec.TLS
	if tls == nil || tls.Frontend == nil {
		return nil
	}
	var where []string
	if v := tls.Frontend.Default.Validation; v != nil && v.Mode == gwapiv1.AllowInsecureFallback {
		where = append(where, "default")
	}
	for _, pp := range tls.Frontend.PerPort {
		if v := pp.TLS.Validation; v != nil && v.Mode == gwapiv1.AllowInsecureFallback {
			where = append(where, fmt.Sprintf("port %d", pp.Port))
		}
	}
	if len(where) == 0 {
		return nil
	}
	return &metav1.Condition{Type: string(gwapiv1.GatewayConditionInsecureFrontendValidationMode), Status: metav1.ConditionTrue,
		Reason: string(gwapiv1.GatewayReasonConfigurationChanged), ObservedGeneration: r.gw.Generation,
		Message: "spec.tls.frontend mode AllowInsecureFallback (" + strings.Join(where, ", ") +
			"): HTTPS clients without a certificate, or with one that fails verification, are accepted; authorizing them is left to the backends"}
}

// FrontendCAKeys are the objects the Gateway's spec.tls.frontend caCertificateRefs name, as
// "<Kind>/<ns>/<name>" (any kind, so that a ref of an unsupported kind is found too), for the
// controller's index and reads.
func FrontendCAKeys(gw *gwapiv1.Gateway) []string {
	if gw.Spec.TLS == nil || gw.Spec.TLS.Frontend == nil {
		return nil
	}
	var out []string
	add := func(v *gwapiv1.FrontendTLSValidation) {
		if v == nil {
			return
		}
		for _, ref := range v.CACertificateRefs {
			out = append(out, fmt.Sprintf("%s/%s/%s", ref.Kind, refNamespace(gw.Namespace, ref.Namespace), ref.Name))
		}
	}
	add(gw.Spec.TLS.Frontend.Default.Validation)
	for i := range gw.Spec.TLS.Frontend.PerPort {
		add(gw.Spec.TLS.Frontend.PerPort[i].TLS.Validation)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
