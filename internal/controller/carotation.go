package controller

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/pki"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

// Annotations of the CA Secret that drive and show a rotation of the built-in CA.
const (
	// AnnotationRotateCA is the admin's trigger: setting it to a value not yet acted on (any
	// value: a date, a ticket number) starts a rotation now.
	AnnotationRotateCA = "gateway.flotilla.dev/rotate-ca"
	// AnnotationRotateCAHandled is the trigger value the last rotation started for.
	AnnotationRotateCAHandled = "gateway.flotilla.dev/rotate-ca-handled"
	// AnnotationCARotation is the phase of the rotation under way (CARotationPhase), absent
	// when none is.
	AnnotationCARotation = "gateway.flotilla.dev/ca-rotation"
	// AnnotationCARotationSince is when that phase began (RFC 3339).
	AnnotationCARotationSince = "gateway.flotilla.dev/ca-rotation-since"
	// AnnotationCARotationProgress says what the phase waits for, e.g. "2/3 fleets trust the
	// next CA; waiting for team-a/web".
	AnnotationCARotationProgress = "gateway.flotilla.dev/ca-rotation-progress"
	// AnnotationCARotatedAt is when the last rotation completed (RFC 3339).
	AnnotationCARotatedAt = "gateway.flotilla.dev/ca-rotated-at"
)

// CARotationPhase is a phase of a CA rotation.
type CARotationPhase string

const (
	// CARotationTrustDistributing: the next CA exists (KeyNextCert) and is in the trust bundle
	// with the current one; the old CA still signs. It ends when every fleet ConfigMap carries the
	// bundle and Propagation has passed (kubelet projects ConfigMaps into Pods with a delay, and
	// every replica must have re-read the bundle), so no Envoy can meet a server certificate from
	// the next CA before it trusts it.
	CARotationTrustDistributing CARotationPhase = "TrustDistributing"
	// CARotationReissuing: the next CA signs (tls.crt); the previous one stays trusted while
	// fleet certificates and the xDS server's are re-issued. It ends when no fleet Secret holds a
	// certificate from the previous CA and Propagation has passed (or the previous CA expired).
	// Then the previous CA leaves the bundle, and the streams still on its certificates are
	// closed (Envoy reconnects with the new certificate it already has).
	CARotationReissuing CARotationPhase = "Reissuing"
)

// Defaults of CARotation and CARefresh.
const (
	// DefaultCAPropagation is how long each phase lasts at least: kubelet refreshes projected
	// ConfigMaps and Secrets within about two minutes, and replicas re-read the CA every
	// DefaultCARefreshInterval.
	DefaultCAPropagation = 5 * time.Minute
	// DefaultCARefreshInterval is how often every replica re-reads the CA Secret, and the
	// leader looks at the rotation.
	DefaultCARefreshInterval = 30 * time.Second
)

// CARotation rotates Flotilla's built-in CA before it expires (at pki.RenewAt, two thirds of its
// life) or when an admin sets AnnotationRotateCA, without a restart and without refusing a fleet
// at any point: trust first (both CAs in every fleet's bundle and the server's), then the new CA
// signs and everything is re-issued, then the old CA is dropped once nothing uses it. The phase
// and its progress are annotations of the CA Secret, and each step is an Event on it. It runs on
// the leader; every replica follows the Secret through CARefresh.
type CARotation struct {
	Certs *Certificates
	// Client lists the fleet ConfigMaps and Secrets (cached) and writes the CA Secret.
	Client   client.Client
	Recorder recorder.EventRecorder
	// Propagation is each phase's minimum length; zero is DefaultCAPropagation.
	Propagation time.Duration
	// Interval is how often the rotation is looked at; zero is DefaultCARefreshInterval.
	Interval time.Duration
	// Changed is called after the leader changed the CA Secret (CARefresh.OnChange).
	Changed func(ctx context.Context)
}

// NeedLeaderElection: only the leader rotates.
func (r *CARotation) NeedLeaderElection() bool { return true }

// Start looks at the rotation every Interval until ctx ends.
func (r *CARotation) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("ca-rotation")
	t := time.NewTicker(orDefault(r.Interval, DefaultCARefreshInterval))
	defer t.Stop()
	for {
		changed, err := r.Step(ctx)
		if err != nil {
			log.Error(err, "Rotating the built-in CA; the current CAs stay trusted")
		}
		if changed && r.Changed != nil {
			r.Changed(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Step moves the rotation on by at most one phase and reports whether it wrote the CA Secret.
func (r *CARotation) Step(ctx context.Context) (bool, error) {
	if _, err := r.Certs.CA(ctx); err != nil { // makes the CA on first use
		return false, err
	}
	s := &corev1.Secret{}
	if err := r.Certs.Reader.Get(ctx, client.ObjectKey{Namespace: r.Certs.Namespace, Name: r.Certs.SecretName}, s); err != nil {
		return false, err
	}
	st, err := caStateOf(s)
	if err != nil {
		return false, err
	}
	base := s.DeepCopy()
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	now := r.Certs.Now()
	since, _ := time.Parse(time.RFC3339, s.Annotations[AnnotationCARotationSince])
	settled := !since.IsZero() && now.Sub(since) >= orDefault(r.Propagation, DefaultCAPropagation)
	switch CARotationPhase(s.Annotations[AnnotationCARotation]) {
	case "":
		trigger := s.Annotations[AnnotationRotateCA]
		manual := trigger != "" && trigger != s.Annotations[AnnotationRotateCAHandled]
		if !manual && now.Before(pki.RenewAt(st.signer.Cert)) {
			return false, nil
		}
		return true, r.begin(ctx, base, s, st, manual, trigger)
	case CARotationTrustDistributing:
		waiting, total, err := r.fleetsNotTrusting(ctx, st.trustPEM)
		if err != nil {
			return false, err
		}
		progress := fmt.Sprintf("%d/%d fleets trust the next CA%s", total-len(waiting), total, waitingFor(waiting))
		// A fleet that cannot be updated holds the phase until half of the current CA's
		// remaining life is spent, no longer: the new CA must sign well before the old expires.
		late := !since.IsZero() && !now.Before(since.Add(st.signer.Cert.NotAfter.Sub(since)/2))
		if (len(waiting) > 0 || !settled) && !late {
			return r.setProgress(ctx, base, s, progress, since)
		}
		return true, r.promote(ctx, base, s)
	case CARotationReissuing:
		retiring := slices.DeleteFunc(slices.Clone(st.trust), st.signer.Cert.Equal)
		waiting, total, err := r.fleetsSignedBy(ctx, retiring)
		if err != nil {
			return false, err
		}
		expired := true
		for _, c := range retiring {
			expired = expired && !now.Before(c.NotAfter)
		}
		progress := fmt.Sprintf("%d/%d fleets have certificates from the new CA%s", total-len(waiting), total, waitingFor(waiting))
		if (len(waiting) > 0 || !settled) && !expired {
			return r.setProgress(ctx, base, s, progress, since)
		}
		return true, r.complete(ctx, base, s, st)
	default:
		return false, fmt.Errorf("CA Secret %s/%s: unknown rotation phase %q", s.Namespace, s.Name, s.Annotations[AnnotationCARotation])
	}
}

func waitingFor(fleets []string) string {
	if len(fleets) == 0 {
		return ""
	}
	slices.Sort(fleets)
	more := ""
	if len(fleets) > 3 {
		fleets, more = fleets[:3], fmt.Sprintf(" and %d more", len(fleets)-3)
	}
	return "; waiting for " + strings.Join(fleets, ", ") + more
}

// begin makes the next CA and puts it in the trust bundle beside the current one.
func (r *CARotation) begin(ctx context.Context, base, s *corev1.Secret, st *caState, manual bool, trigger string) error {
	now := r.Certs.Now()
	next, nextKey, err := pki.NewCA(now, r.Certs.lifetime())
	if err != nil {
		return err
	}
	s.Data[KeyNextCert], s.Data[KeyNextKey] = next.CertPEM, nextKey
	s.Data[KeyTrustBundle] = pki.EncodeCertificates(append(slices.Clone(st.trust), next.Cert))
	setAnnotation(s, AnnotationCARotation, string(CARotationTrustDistributing))
	setAnnotation(s, AnnotationCARotationSince, now.UTC().Format(time.RFC3339))
	setAnnotation(s, AnnotationCARotationProgress, "distributing the trust bundle with both CAs to the fleets")
	why := fmt.Sprintf("the CA (serial %s) is due for renewal at %s", st.signer.Cert.SerialNumber, pki.RenewAt(st.signer.Cert).UTC().Format(time.RFC3339))
	if manual {
		setAnnotation(s, AnnotationRotateCAHandled, trigger)
		why = fmt.Sprintf("%s=%q asks for it", AnnotationRotateCA, trigger)
	}
	if err := r.write(ctx, base, s); err != nil {
		return err
	}
	r.event(s, "CARotationStarted", "Rotating the built-in CA (%s): the next CA (serial %s, valid until %s) is trusted beside the current one; the current one signs until every fleet trusts both",
		why, next.Cert.SerialNumber, next.Cert.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// promote makes the next CA the one that signs; the previous one stays in the bundle.
func (r *CARotation) promote(ctx context.Context, base, s *corev1.Secret) error {
	next, err := pki.LoadCA(s.Data[KeyNextCert], s.Data[KeyNextKey])
	if err != nil {
		return fmt.Errorf("the next CA in %s: %w", KeyNextCert, err)
	}
	s.Data[pki.KeyCert], s.Data[pki.KeyKey] = s.Data[KeyNextCert], s.Data[KeyNextKey]
	delete(s.Data, KeyNextCert)
	delete(s.Data, KeyNextKey)
	setAnnotation(s, AnnotationCARotation, string(CARotationReissuing))
	setAnnotation(s, AnnotationCARotationSince, r.Certs.Now().UTC().Format(time.RFC3339))
	setAnnotation(s, AnnotationCARotationProgress, "re-issuing fleet and xDS server certificates from the new CA")
	if err := r.write(ctx, base, s); err != nil {
		return err
	}
	r.event(s, "CARotationReissuing", "Every fleet trusts the next CA: it signs now (serial %s); fleet and xDS server certificates are being re-issued, and the previous CA stays trusted until none of its certificates is in use",
		next.Cert.SerialNumber)
	return nil
}

// complete drops the previous CA from the bundle.
func (r *CARotation) complete(ctx context.Context, base, s *corev1.Secret, st *caState) error {
	now := r.Certs.Now()
	s.Data[KeyTrustBundle] = st.signer.CertPEM
	delete(s.Annotations, AnnotationCARotation)
	delete(s.Annotations, AnnotationCARotationSince)
	delete(s.Annotations, AnnotationCARotationProgress)
	setAnnotation(s, AnnotationCARotatedAt, now.UTC().Format(time.RFC3339))
	if err := r.write(ctx, base, s); err != nil {
		return err
	}
	r.event(s, "CARotationCompleted", "The built-in CA is rotated: only the new CA (serial %s, valid until %s) is trusted; streams still on the previous CA's certificates are closed and reconnect with the new ones",
		st.signer.Cert.SerialNumber, st.signer.Cert.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// setProgress records what the phase waits for; once the phase has lasted ten propagation times,
// each new progress is also a Warning Event (a fleet whose objects cannot be applied holds it).
func (r *CARotation) setProgress(ctx context.Context, base, s *corev1.Secret, progress string, since time.Time) (bool, error) {
	if s.Annotations[AnnotationCARotationProgress] == progress {
		return false, nil
	}
	setAnnotation(s, AnnotationCARotationProgress, progress)
	// Only annotations change: replicas see the same CAs, nothing to refresh.
	if err := r.write(ctx, base, s); err != nil {
		return false, err
	}
	if wait := r.Certs.Now().Sub(since); r.Recorder != nil && wait > 10*orDefault(r.Propagation, DefaultCAPropagation) {
		r.Recorder.Eventf(s, nil, corev1.EventTypeWarning, "CARotationWaiting", "RotateCA", "The CA rotation's phase %s has lasted %s: %s",
			s.Annotations[AnnotationCARotation], wait.Round(time.Second), progress)
	}
	return false, nil
}

// fleetObject says whether o is a fleet object: controlled by a Gateway (an object a team made
// under a fleet name is not, and cannot hold a rotation back).
func fleetObject(o metav1.Object) bool {
	ref := metav1.GetControllerOf(o)
	return ref != nil && ref.Kind == "Gateway" && strings.HasPrefix(ref.APIVersion, gwapiv1.GroupName+"/")
}

// write patches the CA Secret from base to s, failing if it changed since it was read (another
// leader, an admin).
func (r *CARotation) write(ctx context.Context, base, s *corev1.Secret) error {
	return r.Client.Patch(ctx, s, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

func (r *CARotation) event(s *corev1.Secret, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, reason, "RotateCA", format, args...)
	}
}

func setAnnotation(o client.Object, k, v string) {
	a := o.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[k] = v
	o.SetAnnotations(a)
}

// fleetsNotTrusting lists the fleets whose ConfigMap does not carry the trust bundle yet.
func (r *CARotation) fleetsNotTrusting(ctx context.Context, bundle []byte) (waiting []string, total int, err error) {
	var cms corev1.ConfigMapList
	if err := r.Client.List(ctx, &cms, client.MatchingLabels{provisioner.LabelManagedBy: provisioner.ManagedByValue}); err != nil {
		return nil, 0, err
	}
	for _, cm := range cms.Items {
		trust, ok := cm.Data[provisioner.KeyXDSTrust]
		if !ok || !fleetObject(&cm) {
			continue
		}
		total++
		if trust != string(bundle) {
			waiting = append(waiting, cm.Namespace+"/"+cm.Name)
		}
	}
	return waiting, total, nil
}

// fleetsSignedBy lists the fleet Secrets whose certificate one of cas signed.
func (r *CARotation) fleetsSignedBy(ctx context.Context, cas []*x509.Certificate) (waiting []string, total int, err error) {
	var secrets corev1.SecretList
	if err := r.Client.List(ctx, &secrets, client.MatchingLabels{provisioner.LabelManagedBy: provisioner.ManagedByValue}); err != nil {
		return nil, 0, err
	}
	for _, s := range secrets.Items {
		if !fleetObject(&s) {
			continue
		}
		cert, err := pki.ParseCert(s.Data[pki.KeyCert])
		if err != nil {
			continue // not a certificate Secret
		}
		total++
		for _, ca := range cas {
			if cert.CheckSignatureFrom(ca) == nil {
				waiting = append(waiting, s.Namespace+"/"+s.Name)
				break
			}
		}
	}
	return waiting, total, nil
}

// CARefresh re-reads the CA Secret on every replica every Interval, so that the leader's
// rotation reaches this replica's xDS server (its certificate and the CAs it trusts) and, through
// OnChange, the fleets (their trust bundle, their certificates).
type CARefresh struct {
	Certs    *Certificates
	Interval time.Duration
	// OnChange is called when the signing CA or the trust bundle changed.
	OnChange func(ctx context.Context)
}

// NeedLeaderElection: every replica serves xDS.
func (r *CARefresh) NeedLeaderElection() bool { return false }

// Start refreshes every Interval until ctx ends.
func (r *CARefresh) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("ca-refresh")
	t := time.NewTicker(orDefault(r.Interval, DefaultCARefreshInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		changed, err := r.Certs.Refresh(ctx)
		if err != nil {
			log.Error(err, "Reading the CA Secret; the CAs read before stay in use")
			continue
		}
		if changed {
			log.Info("The built-in CA changed: re-issuing the xDS server certificate and updating the fleets")
			if r.OnChange != nil {
				r.OnChange(ctx)
			}
		}
	}
}
