package v1alpha1

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validate makes the checks the API server's schema and CEL rules cannot: label selectors, label and
// annotation keys, resource requests against limits, and (again, for API servers without CEL's IP
// library) static address CIDRs. An empty list means the FleetClass is valid.
func (c *FleetClass) Validate() field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	errs = append(errs, validateResources(c.Spec.Resources, spec.Child("resources"))...)
	if p := c.Spec.Pod; p != nil {
		errs = append(errs, validatePodMetadata(p, spec.Child("pod"))...)
	}
	if s := c.Spec.Scheduling; s != nil {
		errs = append(errs, metav1validation.ValidateLabels(s.NodeSelector, spec.Child("scheduling", "nodeSelector"))...)
	}
	errs = append(errs, validateAnnotations(c.Spec.Service.Annotations, spec.Child("service", "annotations"))...)
	if sa := c.Spec.Service.StaticAddresses; sa != nil {
		sp := spec.Child("service", "staticAddresses")
		for i, cidr := range sa.CIDRs {
			if pfx, err := netip.ParsePrefix(string(cidr)); err != nil || pfx != pfx.Masked() {
				errs = append(errs, field.Invalid(sp.Child("cidrs").Index(i), cidr, "must be an IP prefix with no bits set past its length"))
			}
		}
		if sa.AnnotationKey != "" {
			for _, msg := range validation.IsQualifiedName(strings.ToLower(sa.AnnotationKey)) {
				errs = append(errs, field.Invalid(sp.Child("annotationKey"), sa.AnnotationKey, msg))
			}
		}
	}
	if cm := c.Spec.Certificates.CertManager; cm != nil {
		if _, err := ParseCABundle(cm.CABundle); err != nil {
			errs = append(errs, field.Invalid(spec.Child("certificates", "certManager", "caBundle"), "<PEM>", err.Error()))
		}
	}
	if tr := c.Spec.Telemetry.Tracing; tr != nil {
		tp := spec.Child("telemetry", "tracing")
		if p := tr.SamplingPercent; p != nil {
			if _, err := p.Value(); err != nil {
				errs = append(errs, field.Invalid(tp.Child("samplingPercent"), string(*p), err.Error()))
			}
		}
		for k := range tr.ResourceAttributes {
			if k == "" {
				errs = append(errs, field.Invalid(tp.Child("resourceAttributes"), k, "must not be empty"))
			}
		}
	}
	if t := c.Spec.Tenancy; t != nil {
		tp := spec.Child("tenancy")
		if o := t.Overrides; o != nil && o.TracingSampling != nil {
			sp := tp.Child("overrides", "tracingSampling")
			lo, errLo := o.TracingSampling.MinPercent.Value()
			hi, errHi := o.TracingSampling.MaxPercent.Value()
			switch {
			case errLo != nil:
				errs = append(errs, field.Invalid(sp.Child("minPercent"), string(o.TracingSampling.MinPercent), errLo.Error()))
			case errHi != nil:
				errs = append(errs, field.Invalid(sp.Child("maxPercent"), string(o.TracingSampling.MaxPercent), errHi.Error()))
			case lo > hi:
				errs = append(errs, field.Invalid(sp, fmt.Sprintf("[%s, %s]", o.TracingSampling.MinPercent, o.TracingSampling.MaxPercent), "minPercent must not exceed maxPercent"))
			}
		}
		if t.NamespaceSelector != nil {
			errs = append(errs, metav1validation.ValidateLabelSelector(t.NamespaceSelector,
				metav1validation.LabelSelectorValidationOptions{}, tp.Child("namespaceSelector"))...)
		}
		if o := t.Overrides; o != nil && o.Resources != nil {
			for name, q := range o.Resources.Max {
				if q.Sign() <= 0 {
					errs = append(errs, field.Invalid(tp.Child("overrides", "resources", "max").Key(string(name)), q.String(), "must be greater than zero"))
				}
			}
		}
	}
	return errs
}

// Validate makes the checks the API server's schema and CEL rules cannot. Whether the FleetConfig is
// within a class's bounds is a separate question, answered per Gateway.
func (c *FleetConfig) Validate() field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	errs = append(errs, validateResources(c.Spec.Resources, spec.Child("resources"))...)
	if p := c.Spec.Pod; p != nil {
		errs = append(errs, validatePodMetadata(p, spec.Child("pod"))...)
	}
	if s := c.Spec.Service; s != nil {
		errs = append(errs, validateAnnotations(s.Annotations, spec.Child("service", "annotations"))...)
	}
	return errs
}

func validatePodMetadata(p *PodMetadata, path *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabels(p.Labels, path.Child("labels"))
	return append(errs, validateAnnotations(p.Annotations, path.Child("annotations"))...)
}

// validateAnnotations checks that every key is a qualified name, as the API server does for an
// object's own annotations (so a bad key is reported here, not when a fleet object is applied).
func validateAnnotations(annotations map[string]string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for k := range annotations {
		for _, msg := range validation.IsQualifiedName(strings.ToLower(k)) {
			errs = append(errs, field.Invalid(path, k, msg))
		}
	}
	return errs
}

// validateResources checks that no request exceeds its limit: the API server would refuse the
// Deployment otherwise, long after the admin or team made the mistake.
func validateResources(r *corev1.ResourceRequirements, path *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	for name, req := range r.Requests {
		if lim, ok := r.Limits[name]; ok && req.Cmp(lim) > 0 {
			errs = append(errs, field.Invalid(path.Child("requests").Key(string(name)), req.String(),
				fmt.Sprintf("must be less than or equal to the %s limit %s", name, lim.String())))
		}
	}
	return errs
}

// AcceptedCondition is the Accepted condition for an object of the given generation whose Validate
// returned errs.
func AcceptedCondition(errs field.ErrorList, generation int64) metav1.Condition {
	if len(errs) == 0 {
		return metav1.Condition{Type: ConditionAccepted, Status: metav1.ConditionTrue, Reason: ReasonAccepted,
			Message: "Valid", ObservedGeneration: generation}
	}
	return metav1.Condition{Type: ConditionAccepted, Status: metav1.ConditionFalse, Reason: ReasonInvalid,
		Message: errs.ToAggregate().Error(), ObservedGeneration: generation}
}

// StatusConditions gives the status writer access to the FleetClass conditions.
func (c *FleetClass) StatusConditions() *[]metav1.Condition { return &c.Status.Conditions }

// StatusConditions gives the status writer access to the FleetConfig conditions.
func (c *FleetConfig) StatusConditions() *[]metav1.Condition { return &c.Status.Conditions }

// ParseCABundle parses a PEM bundle of CA certificates: at least one, every block a CERTIFICATE
// of a CA (basicConstraints CA:TRUE).
func ParseCABundle(bundle string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(bundle)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %s, not a CERTIFICATE", len(out)+1, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		if !cert.IsCA {
			return nil, fmt.Errorf("certificate %d (%s) is not a CA certificate", len(out)+1, cert.Subject)
		}
		out = append(out, cert)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE found")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("data after the last PEM CERTIFICATE")
	}
	return out, nil
}
