package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/operator"
	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"github.com/flotilla-dev/flotilla/internal/xds/xdstest"
)

// fleetFiles is what a fleet's Envoy reads from its projected volume at a moment: its client
// certificate (the fleet Secret) and the CAs it verifies the xDS server with (the ConfigMap).
type fleetFiles struct {
	crt, key []byte
	trust    []*x509.Certificate
}

func readFleetFiles(t *testing.T, gw *gwapiv1.Gateway) fleetFiles {
	t.Helper()
	s, cm := &corev1.Secret{}, &corev1.ConfigMap{}
	get(t, fleetName(gw), s)
	get(t, fleetName(gw), cm)
	trust, err := pki.ParseCertificates([]byte(cm.Data[provisioner.KeyXDSTrust]))
	if err != nil {
		t.Fatal(err)
	}
	return fleetFiles{crt: s.Data[pki.KeyCert], key: s.Data[pki.KeyKey], trust: trust}
}

func (f fleetFiles) tls(t *testing.T) *tls.Config {
	t.Helper()
	conf, err := xdstest.EnvoyTLS(f.crt, f.key, pki.EncodeCertificates(f.trust), "flotilla-xds."+operator.DefaultNamespace+".svc")
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

func (f fleetFiles) issuer(t *testing.T) *x509.Certificate {
	t.Helper()
	cert, err := pki.ParseCert(f.crt)
	if err != nil {
		t.Fatal(err)
	}
	for _, ca := range f.trust {
		if cert.CheckSignatureFrom(ca) == nil {
			return ca
		}
	}
	t.Fatal("the fleet certificate is signed by no CA its ConfigMap trusts")
	return nil
}

func caSecret(t *testing.T) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	get(t, client.ObjectKey{Namespace: operator.DefaultNamespace, Name: operator.CASecretName}, s)
	return s
}

// The built-in CA rotates on an admin's request while a fleet's Envoy stays connected: at every
// phase an Envoy (re)connecting with the files its Pod has at that moment is served, the stream
// opened with the old CA's certificate stays up until the old CA is retired and is then closed,
// and the reconnect with the new certificate gets the same configuration versions. The manager
// runs with a 3 s propagation time (main_test.go); the default is 5 minutes.
func TestCARotation(t *testing.T) {
	tenantClass(t, "carot", nil)
	ns := "team-carot"
	namespace(t, ns, nil)
	gw := gateway(ns, "edge", "carot", nil)
	create(t, gw)
	gatewayCondition(t, gw, gwapiv1.GatewayConditionProgrammed, metav1.ConditionTrue, gwapiv1.GatewayReasonProgrammed)
	before := readFleetFiles(t, gw)
	oldCA := before.issuer(t)
	synced := func(c *xdstest.Client, what string) map[string]string {
		t.Helper()
		waitXDS(t, c, what, func() error {
			if got := c.Names(resource.ListenerType); !slices.Contains(got, "http-80") {
				return fmt.Errorf("listeners %v", got)
			}
			return nil
		})
		return versions(c)
	}
	first := dialFleet(t, before.tls(t), ns+"/edge")
	want := synced(first, "the fleet's configuration before the rotation")
	refusedBefore := map[string]float64{}
	for _, r := range []string{"untrusted_issuer", "certificate_invalid", "tls_handshake", "unknown_fleet", "instance_mismatch"} {
		refusedBefore[r] = refusedStreams(t, r)
	}
	withdrawnBefore := refusedStreams(t, "trust_withdrawn")

	s := caSecret(t)
	base := s.DeepCopy()
	trigger := strconv.FormatInt(time.Now().UnixNano(), 10)
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[controller.AnnotationRotateCA] = trigger
	if err := k8s.Patch(context.Background(), s, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	waitForEventIn(t, operator.DefaultNamespace, operator.CASecretName, corev1.EventTypeNormal, "CARotationStarted", "rotate-ca")

	// Phase 1: the fleet's ConfigMap trusts both CAs; the old CA still signs its certificate.
	var distributing fleetFiles
	eventually(t, 30*time.Second, func(context.Context) error {
		distributing = readFleetFiles(t, gw)
		if len(distributing.trust) != 2 {
			return fmt.Errorf("the fleet trusts %d CAs, want the old and the next", len(distributing.trust))
		}
		return nil
	})
	if !distributing.issuer(t).Equal(oldCA) && caSecret(t).Annotations[controller.AnnotationCARotation] == string(controller.CARotationTrustDistributing) {
		t.Fatal("the fleet certificate changed CA while the next CA is only being distributed")
	}
	synced(dialFleet(t, distributing.tls(t), ns+"/edge"), "an Envoy reconnecting while the trust bundle is distributed")

	// Phase 2: the new CA signs the fleet's certificate; the old CA is still trusted.
	var reissued fleetFiles
	eventually(t, 60*time.Second, func(context.Context) error {
		reissued = readFleetFiles(t, gw)
		if reissued.issuer(t).Equal(oldCA) {
			return fmt.Errorf("the fleet certificate is still the old CA's (phase %q, %s)",
				caSecret(t).Annotations[controller.AnnotationCARotation], caSecret(t).Annotations[controller.AnnotationCARotationProgress])
		}
		return nil
	})
	if ph := caSecret(t).Annotations[controller.AnnotationCARotation]; ph != string(controller.CARotationReissuing) {
		t.Logf("the rotation left the re-issuing phase (now %q) before the test looked: both-CAs reconnects not tried", ph)
	} else {
		synced(dialFleet(t, reissued.tls(t), ns+"/edge"), "an Envoy reconnecting with the new CA's certificate while both are trusted")
		// An Envoy whose Secret kubelet has not refreshed yet still has the old certificate.
		synced(dialFleet(t, fleetFiles{crt: before.crt, key: before.key, trust: reissued.trust}.tls(t), ns+"/edge"),
			"an Envoy still on the old CA's certificate while both are trusted")
	}
	select {
	case <-first.Done():
		t.Fatalf("the stream opened with the old CA's certificate ended before the old CA was retired: %v", first.Err())
	default:
	}

	// Phase 3: only the new CA is trusted; the old CA's stream is closed, and the Envoy reconnects.
	waitForEventIn(t, operator.DefaultNamespace, operator.CASecretName, corev1.EventTypeNormal, "CARotationCompleted", "rotated")
	var after fleetFiles
	eventually(t, 30*time.Second, func(context.Context) error {
		after = readFleetFiles(t, gw)
		if len(after.trust) != 1 || after.trust[0].Equal(oldCA) {
			return fmt.Errorf("the fleet trusts %d CAs (old one among them: %v), want the new one alone",
				len(after.trust), slices.ContainsFunc(after.trust, oldCA.Equal))
		}
		return nil
	})
	select {
	case <-first.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the stream opened with the retired CA's certificate is still open")
	}
	if got := refusedStreams(t, "trust_withdrawn"); got <= withdrawnBefore {
		t.Errorf("flotilla_xds_refused_streams_total{reason=trust_withdrawn} = %v, want more than %v", got, withdrawnBefore)
	}
	again := dialFleet(t, after.tls(t), ns+"/edge")
	if got := synced(again, "the Envoy reconnecting after the rotation"); !mapsEqual(got, want) {
		t.Errorf("versions after the rotation %v, want the same as before %v (nothing but certificates changed)", got, want)
	}
	for r, n := range refusedBefore {
		if got := refusedStreams(t, r); got != n {
			t.Errorf("flotilla_xds_refused_streams_total{reason=%s} moved from %v to %v during the rotation", r, n, got)
		}
	}
	// The old CA's certificate opens nothing now.
	dialRefused(t, before.tls(t), ns+"/edge", "the retired CA's certificate")
	if got := caSecret(t).Annotations[controller.AnnotationRotateCAHandled]; got != trigger {
		t.Errorf("handled trigger %q, want %q", got, trigger)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
