package controller

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
	"github.com/flotilla-dev/flotilla/internal/scheme"
)

// rotationWorld is a CA Secret and two fleets (a ConfigMap with the xDS trust bundle and a Secret
// with a client certificate each) on a fake API server, with a clock the test moves.
type rotationWorld struct {
	t      *testing.T
	ctx    context.Context
	now    time.Time
	c      client.Client
	certs  *Certificates
	rot    *CARotation
	events *events.FakeRecorder
	fleets []client.ObjectKey
}

const testPropagation = time.Minute

func newRotationWorld(t *testing.T) *rotationWorld {
	w := &rotationWorld{t: t, ctx: context.Background(), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		c: fake.NewClientBuilder().WithScheme(scheme.New()).Build(), events: events.NewFakeRecorder(100),
		fleets: []client.ObjectKey{{Namespace: "team-a", Name: "flotilla-web"}, {Namespace: "team-b", Name: "flotilla-api"}}}
	w.certs = &Certificates{Client: w.c, Reader: w.c, Namespace: "flotilla-system", SecretName: "flotilla-ca",
		Now: func() time.Time { return w.now }, Lifetime: 90 * 24 * time.Hour}
	w.rot = &CARotation{Certs: w.certs, Client: w.c, Recorder: w.events, Propagation: testPropagation}
	labels := map[string]string{provisioner.LabelManagedBy: provisioner.ManagedByValue}
	for _, k := range w.fleets {
		owner := []metav1.OwnerReference{{APIVersion: gwapiv1.GroupVersion.String(), Kind: "Gateway", Name: strings.TrimPrefix(k.Name, "flotilla-"),
			UID: "uid", Controller: ptr.To(true)}}
		meta := metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name, Labels: labels, OwnerReferences: owner}
		w.create(&corev1.ConfigMap{ObjectMeta: meta})
		w.create(&corev1.Secret{ObjectMeta: meta})
		w.provision(k) // what the Gateway controller does with the CA state of the moment
	}
	// An object a team made with Flotilla's label but no Gateway controlling it: never waited for.
	w.create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "flotilla-fake", Labels: labels},
		Data: map[string]string{provisioner.KeyXDSTrust: "stale"}})
	return w
}

func (w *rotationWorld) create(o client.Object) {
	if err := w.c.Create(w.ctx, o); err != nil {
		w.t.Fatal(err)
	}
}

// provision writes the fleet's ConfigMap trust bundle and re-issues its certificate from the
// signing CA, as the Gateway controller does when the CA changes.
func (w *rotationWorld) provision(k client.ObjectKey) {
	w.t.Helper()
	w.refresh()
	trust, err := w.certs.TrustPEM(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	cm := &corev1.ConfigMap{}
	if err := w.c.Get(w.ctx, k, cm); err != nil {
		w.t.Fatal(err)
	}
	cm.Data = map[string]string{provisioner.KeyXDSTrust: string(trust)}
	if err := w.c.Update(w.ctx, cm); err != nil {
		w.t.Fatal(err)
	}
	ca, err := w.certs.CA(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	crt, key, err := ca.IssueFleet(k.Namespace, strings.TrimPrefix(k.Name, "flotilla-"), "uid", w.now, 24*time.Hour)
	if err != nil {
		w.t.Fatal(err)
	}
	s := &corev1.Secret{}
	if err := w.c.Get(w.ctx, k, s); err != nil {
		w.t.Fatal(err)
	}
	s.Data = map[string][]byte{pki.KeyCert: crt, pki.KeyKey: key}
	if err := w.c.Update(w.ctx, s); err != nil {
		w.t.Fatal(err)
	}
}

func (w *rotationWorld) refresh() {
	w.t.Helper()
	if _, err := w.certs.Refresh(w.ctx); err != nil {
		w.t.Fatal(err)
	}
}

func (w *rotationWorld) step() bool {
	w.t.Helper()
	changed, err := w.rot.Step(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return changed
}

func (w *rotationWorld) secret() *corev1.Secret {
	w.t.Helper()
	s := &corev1.Secret{}
	if err := w.c.Get(w.ctx, client.ObjectKey{Namespace: "flotilla-system", Name: "flotilla-ca"}, s); err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *rotationWorld) trusted() []*x509.Certificate {
	w.t.Helper()
	w.refresh()
	cas, _, err := w.certs.Trusted(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return cas
}

func (w *rotationWorld) signer() *x509.Certificate {
	w.t.Helper()
	w.refresh()
	ca, err := w.certs.CA(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return ca.Cert
}

// wantEvent takes the next Event and checks its reason.
func (w *rotationWorld) wantEvent(reason string) {
	w.t.Helper()
	select {
	case e := <-w.events.Events:
		if !strings.Contains(e, " "+reason+" ") {
			w.t.Fatalf("event %q, want reason %s", e, reason)
		}
	default:
		w.t.Fatalf("no event, want %s", reason)
	}
}

func (w *rotationWorld) wantNoEvent() {
	w.t.Helper()
	select {
	case e := <-w.events.Events:
		w.t.Fatalf("unexpected event %q", e)
	default:
	}
}

// A rotation an admin triggers goes trust first, then signing, then retiring the old CA, each
// phase waiting for every fleet and for the propagation time, and says where it stands in the CA
// Secret's annotations and Events.
func TestCARotationPhases(t *testing.T) {
	w := newRotationWorld(t)
	old := w.signer()
	if w.step() {
		t.Fatal("a CA far from its renewal time was rotated")
	}
	w.wantNoEvent()

	s := w.secret()
	setAnnotation(s, AnnotationRotateCA, "CHG-1234")
	if err := w.c.Update(w.ctx, s); err != nil {
		t.Fatal(err)
	}
	if !w.step() {
		t.Fatal("the trigger annotation did not start a rotation")
	}
	w.wantEvent("CARotationStarted")
	s = w.secret()
	if got := s.Annotations[AnnotationCARotation]; got != string(CARotationTrustDistributing) {
		t.Fatalf("phase %q, want %s", got, CARotationTrustDistributing)
	}
	trust := w.trusted()
	if len(trust) != 2 || !trust[0].Equal(old) || !w.signer().Equal(old) {
		t.Fatalf("while the trust is distributed: %d CAs trusted, old CA signs: %v; want both trusted, the old one signing", len(trust), w.signer().Equal(old))
	}
	next := trust[1]

	// No fleet has the bundle yet: the phase holds and names them.
	w.now = w.now.Add(2 * testPropagation)
	if w.step() {
		t.Fatal("the next CA signs before any fleet trusts it")
	}
	if got := w.secret().Annotations[AnnotationCARotationProgress]; got != "0/2 fleets trust the next CA; waiting for team-a/flotilla-web, team-b/flotilla-api" {
		t.Fatalf("progress %q", got)
	}
	w.provision(w.fleets[0])
	w.step()
	if got := w.secret().Annotations[AnnotationCARotationProgress]; got != "1/2 fleets trust the next CA; waiting for team-b/flotilla-api" {
		t.Fatalf("progress %q", got)
	}
	w.provision(w.fleets[1])
	if !w.step() {
		t.Fatal("every fleet trusts both CAs, past the propagation time, and the next CA does not sign")
	}
	w.wantEvent("CARotationReissuing")
	if !w.signer().Equal(next) || len(w.trusted()) != 2 {
		t.Fatal("after the promotion the next CA must sign and both stay trusted")
	}
	if _, ok := w.secret().Data[KeyNextCert]; ok {
		t.Fatal("the next CA is still kept apart after its promotion")
	}

	// The old CA stays trusted until no fleet holds its certificate, and the propagation time passed.
	w.step()
	if got := w.secret().Annotations[AnnotationCARotationProgress]; !strings.HasPrefix(got, "0/2 fleets have certificates from the new CA") {
		t.Fatalf("progress %q", got)
	}
	w.provision(w.fleets[0])
	w.provision(w.fleets[1])
	if w.step() {
		t.Fatal("the old CA was dropped before the propagation time passed")
	}
	w.now = w.now.Add(testPropagation)
	if !w.step() {
		t.Fatal("the old CA is still trusted when nothing it signed is in use")
	}
	w.wantEvent("CARotationCompleted")
	if trust := w.trusted(); len(trust) != 1 || !trust[0].Equal(next) {
		t.Fatal("after the rotation only the new CA must be trusted")
	}
	s = w.secret()
	if _, ok := s.Annotations[AnnotationCARotation]; ok || s.Annotations[AnnotationCARotatedAt] == "" {
		t.Fatalf("annotations after the rotation: %v", s.Annotations)
	}
	// The same trigger value does not rotate again.
	if w.step() {
		t.Fatal("a handled trigger started a second rotation")
	}
}

// At two thirds of its life the CA rotates without being asked, and a previous CA that expired
// does not hold the rotation back.
func TestCARotationDueAndExpired(t *testing.T) {
	w := newRotationWorld(t)
	old := w.signer()
	w.now = pki.RenewAt(old)
	if !w.step() {
		t.Fatal("the CA was not rotated at its renewal time")
	}
	w.wantEvent("CARotationStarted")
	w.now = w.now.Add(testPropagation)
	w.provision(w.fleets[0])
	w.provision(w.fleets[1])
	if !w.step() {
		t.Fatal("not promoted")
	}
	w.wantEvent("CARotationReissuing")
	// The fleets' certificates are never re-issued (their Gateways are stuck), but the old CA expires.
	w.now = old.NotAfter
	if !w.step() {
		t.Fatal("an expired CA kept the rotation waiting")
	}
	w.wantEvent("CARotationCompleted")
}

// A fleet that never takes the bundle holds the trust phase only until half of the current CA's
// remaining life, and past ten propagation times each new progress is a Warning Event.
func TestCARotationStuckFleet(t *testing.T) {
	w := newRotationWorld(t)
	s := w.secret()
	setAnnotation(s, AnnotationRotateCA, "now")
	if err := w.c.Update(w.ctx, s); err != nil {
		t.Fatal(err)
	}
	w.step()
	w.wantEvent("CARotationStarted")
	w.provision(w.fleets[0]) // the other fleet is stuck
	w.now = w.now.Add(11 * testPropagation)
	if w.step() {
		t.Fatal("promoted while a fleet does not trust the next CA")
	}
	w.wantEvent("CARotationWaiting")
	w.now = w.now.Add(w.signer().NotAfter.Sub(w.now) / 2)
	if !w.step() {
		t.Fatal("a stuck fleet held the trust phase past half of the CA's remaining life")
	}
	w.wantEvent("CARotationReissuing")
}
