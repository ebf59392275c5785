package controller

import (
	"crypto/x509"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/flotilla-dev/flotilla/internal/pki"
)

// Certificate kinds: the values of the kind label of the certificate metrics.
const (
	// CertKindCA is Flotilla's built-in CA (not rotated automatically; fleet is "").
	CertKindCA = "ca"
	// CertKindFleet is a fleet's xDS client certificate, from the built-in CA or cert-manager.
	CertKindFleet = "fleet"
)

var (
	fleetProgrammed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "flotilla_fleet_programmed",
		Help: "1 when the Gateway's Programmed condition is True, 0 otherwise, by fleet (namespace/name) and the condition's reason. Set by the leader when it writes the Gateway's status.",
	}, []string{"fleet", "reason"})
	translationFailed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "flotilla_xds_translation_failed",
		Help: "1 while the fleet's latest translation to Envoy configuration failed (the last good configuration keeps serving), by fleet. Every replica translates.",
	}, []string{"fleet"})
	translationFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "flotilla_xds_translation_failures_total",
		Help: "Translations of a fleet's configuration that failed (a Flotilla bug, not bad input).",
	})
	certExpiration = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "flotilla_certificate_expiration_timestamp_seconds",
		Help: "When a certificate Flotilla relies on expires (Unix seconds), by kind (ca, fleet) and fleet (empty for the CA).",
	}, []string{"kind", "fleet"})
	certRenewal = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "flotilla_certificate_renewal_timestamp_seconds",
		Help: "When a certificate is due for renewal (two thirds through its life; Unix seconds), by kind and fleet. Past this time the certificate should have been replaced.",
	}, []string{"kind", "fleet"})
)

func init() {
	metrics.Registry.MustRegister(fleetProgrammed, translationFailed, translationFailures, certExpiration, certRenewal)
}

// observeProgrammed records the Gateway's Programmed condition; nil (no condition yet) counts as
// not programmed.
func observeProgrammed(fleet string, c *metav1.Condition) {
	fleetProgrammed.DeletePartialMatch(prometheus.Labels{"fleet": fleet})
	v, reason := 0.0, "Unknown"
	if c != nil {
		reason = c.Reason
		if c.Status == metav1.ConditionTrue {
			v = 1
		}
	}
	fleetProgrammed.WithLabelValues(fleet, reason).Set(v)
}

// observeTranslation records whether the fleet's latest translation failed (translationFailures
// is counted where translation fails).
func observeTranslation(fleet string, failed bool) {
	if !failed {
		translationFailed.DeleteLabelValues(fleet)
		return
	}
	translationFailed.WithLabelValues(fleet).Set(1)
}

// observeCertificate records a certificate's expiry and renewal time.
func observeCertificate(kind, fleet string, cert *x509.Certificate) {
	certExpiration.WithLabelValues(kind, fleet).Set(float64(cert.NotAfter.Unix()))
	certRenewal.WithLabelValues(kind, fleet).Set(float64(pki.RenewAt(cert).Unix()))
}

// forgetFleetMetrics drops the leader's per-fleet series of a Gateway that is gone or not Flotilla's.
func forgetFleetMetrics(fleet string) {
	fleetProgrammed.DeletePartialMatch(prometheus.Labels{"fleet": fleet})
	certExpiration.DeleteLabelValues(CertKindFleet, fleet)
	certRenewal.DeleteLabelValues(CertKindFleet, fleet)
}
