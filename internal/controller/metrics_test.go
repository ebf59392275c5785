package controller

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"github.com/flotilla-dev/flotilla/internal/scheme"
)

// The certificate gauges follow what FleetSecret issues and reuses: the expiry and the renewal
// time of the certificate the fleet Secret holds, and the CA's.
func TestCertificateMetrics(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := fake.NewClientBuilder().WithScheme(scheme.New()).Build()
	certs := &Certificates{Client: c, Reader: c, Namespace: "flotilla-system", SecretName: "ca", Now: func() time.Time { return now }}
	gw := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "metrics-web", UID: "u1"}}
	p := provisioner.Params{CertificateLifetime: 24 * time.Hour}

	secret, renewAt, err := certs.FleetSecret(ctx, gw, p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := testutil.ToFloat64(certExpiration.WithLabelValues(CertKindFleet, "team-a/metrics-web")), float64(now.Add(24*time.Hour).Unix()); got != want {
		t.Errorf("fleet expiration = %v, want %v", got, want)
	}
	if got, want := testutil.ToFloat64(certRenewal.WithLabelValues(CertKindFleet, "team-a/metrics-web")), float64(renewAt.Unix()); got != want {
		t.Errorf("fleet renewal = %v, want %v (renewAt %s)", got, want, renewAt)
	}
	if got, want := testutil.ToFloat64(certExpiration.WithLabelValues(CertKindCA, "")), float64(now.Add(DefaultCALifetime).Unix()); got != want {
		t.Errorf("CA expiration = %v, want %v", got, want)
	}

	// A renewal replaces the certificate; the gauges move with it.
	if err := c.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	now = renewAt.Add(time.Minute)
	if _, _, err := certs.FleetSecret(ctx, gw, p); err != nil {
		t.Fatal(err)
	}
	if got, want := testutil.ToFloat64(certExpiration.WithLabelValues(CertKindFleet, "team-a/metrics-web")), float64(now.Add(24*time.Hour).Unix()); got != want {
		t.Errorf("renewed fleet expiration = %v, want %v", got, want)
	}

	forgetFleetMetrics("team-a/metrics-web")
	if n := testutil.CollectAndCount(certExpiration, "flotilla_certificate_expiration_timestamp_seconds"); n != 1 {
		t.Errorf("after forget: %d expiration series, want the CA's alone", n)
	}
}

// flotilla_fleet_programmed keeps one series per fleet, whose reason is the condition's latest.
func TestProgrammedMetric(t *testing.T) {
	const fleet = "team-a/programmed"
	observeProgrammed(fleet, nil)
	observeProgrammed(fleet, &metav1.Condition{Status: metav1.ConditionFalse, Reason: string(gwapiv1.GatewayReasonPending)})
	if got := testutil.ToFloat64(fleetProgrammed.WithLabelValues(fleet, "Pending")); got != 0 {
		t.Errorf("Pending = %v, want 0", got)
	}
	observeProgrammed(fleet, &metav1.Condition{Status: metav1.ConditionTrue, Reason: string(gwapiv1.GatewayReasonProgrammed)})
	if n := testutil.CollectAndCount(fleetProgrammed); n != 1 {
		t.Errorf("%d series, want 1 (the old reason's is deleted)", n)
	}
	if got := testutil.ToFloat64(fleetProgrammed.WithLabelValues(fleet, "Programmed")); got != 1 {
		t.Errorf("Programmed = %v, want 1", got)
	}
	forgetFleetMetrics(fleet)
	if n := testutil.CollectAndCount(fleetProgrammed); n != 0 {
		t.Errorf("after forget: %d series, want 0", n)
	}
}

// A failed translation sets the fleet's gauge; a good one clears it.
func TestTranslationFailureMetric(t *testing.T) {
	r := &XDSReconciler{}
	r.setFailure("team-a/broken", "boom")
	if got := testutil.ToFloat64(translationFailed.WithLabelValues("team-a/broken")); got != 1 {
		t.Errorf("failed = %v, want 1", got)
	}
	r.setFailure("team-a/broken", "")
	if n := testutil.CollectAndCount(translationFailed); n != 0 {
		t.Errorf("after success: %d series, want 0", n)
	}
}
