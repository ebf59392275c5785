package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	infv1 "sigs.k8s.io/gateway-api-inference-extension/api/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/flotilla-dev/flotilla/internal/gatewayapi"
	"github.com/flotilla-dev/flotilla/internal/provisioner"
)

// GatewayReconciler provisions each Gateway of a Flotilla class its own Envoy fleet, within what the
// class's FleetClass allows, and reports the fleet on the Gateway's status.
type GatewayReconciler struct {
	FleetInputs
	Status       *StatusWriter
	Recorder     recorder.EventRecorder
	Applier      *Applier
	Certificates *Certificates
	// DataPlane gives the Gateway's ConditionDataPlaneAccepted; nil leaves the condition out.
	DataPlane interface {
		DataPlaneCondition(ctx context.Context, fleet string, generation int64) (metav1.Condition, error)
	}
	// Reports, when set, re-enqueues the Gateways whose Envoys on another replica changed.
	Reports *DataPlaneReports
	// Events are the xDS side's notices that a fleet's resolution or data-plane condition changed.
	Events *FleetEvents
	// Resolutions are the xDS controller's resolutions, which status and provisioning follow.
	Resolutions *Resolutions

	ingressEvents ingressEventLog
	// confirmed are, by Gateway, the route statuses last written or found as wanted.
	confirmed confirmedStatuses
}

// RBAC is what this code uses and no more: fleet objects are applied (create, patch) and removed
// by garbage collection, so only the optional HPA, PDB and Certificate are ever deleted by Flotilla.
// gateways/finalizers lets owner references block deletion where OwnerReferencesPermissionEnforcement
// is on (OpenShift).
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gateways/status,verbs=get;update
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gateways/finalizers,verbs=update
// +kubebuilder:rbac:groups=gateway.flotilla.dev,resources=fleetconfigs,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services;serviceaccounts;configmaps;secrets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes;grpcroutes;tlsroutes;tcproutes;udproutes;listenersets;referencegrants,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes/status;grpcroutes/status;tlsroutes/status;tcproutes/status;udproutes/status;listenersets/status,verbs=get;update
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch

// Reconcile provisions one Gateway's fleet and writes its status.
func (r *GatewayReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	gw := &gwapiv1.Gateway{}
	if err := r.Client.Get(ctx, req.NamespacedName, gw); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, r.release(ctx, req.NamespacedName)
		}
		return reconcile.Result{}, err
	}
	class := &gwapiv1.GatewayClass{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: string(gw.Spec.GatewayClassName)}, class); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if class.Spec.ControllerName != ControllerName {
		// Another controller's Gateway (now): none of our entries may speak for it.
		return reconcile.Result{}, r.release(ctx, req.NamespacedName)
	}
	if !gw.DeletionTimestamp.IsZero() {
		forgetFleetMetrics(req.Namespace + "/" + req.Name)
		return reconcile.Result{}, nil
	}
	if c := meta.FindStatusCondition(class.Status.Conditions, string(gwapiv1.GatewayClassConditionStatusAccepted)); c == nil ||
		c.Status == metav1.ConditionUnknown || c.ObservedGeneration != class.Generation {
		// The class has not been decided on yet; its status change brings the Gateway back here.
		return reconcile.Result{}, nil
	}

	// The xDS controller's resolution of this Gateway instance at this generation: the admission
	// decision and every status result come from it, as what is published does. Until it is
	// there, its arrival (FleetEvents) brings the Gateway back.
	stored := r.Resolutions.get(req.Namespace+"/"+req.Name, gw.UID, gw.Generation)
	if stored == nil {
		return reconcile.Result{}, nil
	}
	fs, requeue, err := r.provision(ctx, gw, stored.adm)
	var taken *NotOwnedError
	if errors.As(err, &taken) {
		// Created between CheckOwned and the apply: the same refusal.
		fs.conflict, err = taken.Error()+": Flotilla does not adopt objects it did not create; delete or rename it", nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	res := stored.res
	fs.listeners, fs.invalidListeners = res.result.Listeners, res.result.InvalidListeners
	fs.attachedListenerSets = res.result.AttachedListenerSets
	if c := res.result.GatewayResolvedRefs; c.Type != "" {
		fs.resolvedRefs = &c
	}
	fs.insecureFrontend = res.result.GatewayInsecureFrontend
	fs.tracing = res.result.GatewayTracing
	if r.DataPlane != nil && fs.refused == "" && fs.unsupportedAddress == "" {
		c, err := r.DataPlane.DataPlaneCondition(ctx, req.Namespace+"/"+req.Name, gw.Generation)
		if err != nil {
			return reconcile.Result{}, err
		}
		fs.dataPlane = &c
	}
	// Events for the conditions a team acts on: the Gateway's acceptance and its data plane's.
	watched := []string{string(gwapiv1.GatewayConditionAccepted), string(gwapiv1.GatewayConditionResolvedRefs), ConditionDataPlaneAccepted,
		string(gwapiv1.GatewayConditionProgrammed), gatewayapi.ConditionTracing}
	before := map[string]*metav1.Condition{}
	hadInsecureFrontend := false
	if _, err := r.Status.Update(ctx, req.NamespacedName, gw, func() {
		hadInsecureFrontend = meta.FindStatusCondition(gw.Status.Conditions, string(gwapiv1.GatewayConditionInsecureFrontendValidationMode)) != nil
		for _, typ := range watched {
			if c := meta.FindStatusCondition(gw.Status.Conditions, typ); c != nil {
				before[typ] = c.DeepCopy()
			}
		}
		gatewayStatus(gw, fs, &gw.Status)
	}); err != nil {
		return reconcile.Result{}, err
	}
	observeProgrammed(req.Namespace+"/"+req.Name, meta.FindStatusCondition(gw.Status.Conditions, string(gwapiv1.GatewayConditionProgrammed)))
	for _, typ := range watched {
		c := meta.FindStatusCondition(gw.Status.Conditions, typ)
		if c == nil {
			continue
		}
		// Programmed says Pending on the way to every fleet: only a name conflict and an unusable
		// address, which a team must act on, and the end of one are worth an Event.
		if typ == string(gwapiv1.GatewayConditionProgrammed) {
			actionable := func(c *metav1.Condition) bool {
				return c != nil && (c.Reason == string(ReasonFleetObjectConflict) || c.Reason == string(gwapiv1.GatewayReasonAddressNotUsable))
			}
			switch prev := before[typ]; {
			case actionable(c):
				recordTransition(r.Recorder, gw, prev, *c)
			case actionable(prev) && prev.Reason == string(ReasonFleetObjectConflict) && r.Recorder != nil:
				r.Recorder.Eventf(gw, nil, corev1.EventTypeNormal, c.Reason, "Provision",
					"The object in the way of the fleet is gone; provisioning the fleet: %s", c.Message)
			case actionable(prev) && r.Recorder != nil:
				r.Recorder.Eventf(gw, nil, corev1.EventTypeNormal, c.Reason, "Provision",
					"Every requested address is usable now: %s", c.Message)
			}
			continue
		}
		recordTransition(r.Recorder, gw, before[typ], *c)
	}
	if c := fs.insecureFrontend; c != nil && !hadInsecureFrontend && r.Recorder != nil {
		// Clients are no longer required to prove who they are: worth a Warning, once.
		r.Recorder.Eventf(gw, nil, corev1.EventTypeWarning, c.Reason, "Validate", "%s", c.Message)
	}
	if err := r.writeListenerSetStatuses(ctx, res); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.writeRouteStatuses(ctx, gw, res); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.writePolicyStatuses(ctx, gw, res); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.writePoolStatuses(ctx, gw, res); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.writeIngressStatuses(ctx, gw, res); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

// provision decides whether the Gateway may have a fleet and, if so, applies it. The returned
// duration is when the fleet certificate is due for renewal.
func (r *GatewayReconciler) provision(ctx context.Context, gw *gwapiv1.Gateway, adm admission) (fleetState, time.Duration, error) {
	var fs fleetState
	dep := &appsv1.Deployment{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: gw.Namespace, Name: provisioner.FleetName(gw)}, dep); err == nil {
		fs.deployment, fs.fleetExists = dep, true
	} else if !apierrors.IsNotFound(err) {
		return fs, 0, err
	}
	svc := &corev1.Service{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: gw.Namespace, Name: provisioner.FleetName(gw)}, svc); err == nil {
		fs.service = svc
	} else if !apierrors.IsNotFound(err) {
		return fs, 0, err
	}

	if !adm.admitted() {
		fs.refused, fs.unsupportedAddress = adm.refused, adm.unsupportedAddress
		return fs, 0, nil
	}
	params := adm.params
	fleet, err := provisioner.Build(gw, params)
	if err != nil {
		return fs, 0, fmt.Errorf("building fleet of Gateway %s: %w", klog.KObj(gw), err)
	}
	fs.addresses = fleet.Addresses
	for _, p := range fleet.Addresses.Problems {
		if p.Reason == gwapiv1.GatewayReasonAddressNotUsable {
			fs.addressProblems = append(fs.addressProblems, p)
		}
	}
	var desiredService *corev1.Service
	for _, obj := range fleet.Objects {
		if s, ok := obj.(*corev1.Service); ok {
			desiredService = s
		}
	}
	if fs.service != nil && metav1.IsControlledBy(fs.service, gw) {
		if p := clusterIPProblem(fs.service, desiredService, fleet.Addresses); p != nil {
			fs.addressProblems = append(fs.addressProblems, *p)
		}
	}

	// Flotilla owns only what it created: if any fleet object's name is taken by an object it did
	// not create for this Gateway, nothing is applied.
	desired := make([]client.Object, 0, len(fleet.Objects)+2)
	if params.CertManager != nil {
		desired = append(desired, FleetCertificate(gw, params))
		if wantsManagedBackendClientCertificate(gw, params) {
			desired = append(desired, BackendClientCertificate(gw, params))
		}
	} else {
		desired = append(desired, provisioner.Secret(gw, params))
	}
	for _, obj := range fleet.Objects {
		desired = append(desired, obj.(client.Object))
	}
	if err := r.Applier.CheckOwned(ctx, gw, desired...); err != nil {
		var taken *NotOwnedError
		if !errors.As(err, &taken) {
			return fs, 0, err
		}
		if taken.PreviousInstance(gw) {
			fs.pending = "Waiting for garbage collection to remove the objects of the previous Gateway of this name (" + taken.Error() + ")"
		} else {
			fs.conflict = taken.Error() + ": Flotilla does not adopt objects it did not create, so nothing is provisioned; delete or rename it"
		}
		return fs, 0, nil
	}

	var renew time.Duration
	if params.CertManager != nil {
		if _, err := r.Applier.Apply(ctx, gw, FleetCertificate(gw, params)); err != nil {
			return fs, 0, err
		}
		if wantsManagedBackendClientCertificate(gw, params) {
			if _, err := r.Applier.Apply(ctx, gw, BackendClientCertificate(gw, params)); err != nil {
				return fs, 0, err
			}
		} else if err := r.removeBackendClientCertificate(ctx, gw); err != nil {
			return fs, 0, err
		}
		ok, why, err := certManagerSecretReady(ctx, r.Client, gw, params)
		if err != nil {
			return fs, 0, err
		}
		if !ok {
			fs.pending = why
			return fs, 0, nil
		}
	} else {
		secret, renewAt, err := r.Certificates.FleetSecret(ctx, gw, params)
		if err != nil {
			return fs, 0, err
		}
		if _, err := r.Applier.Apply(ctx, gw, secret); err != nil {
			return fs, 0, err
		}
		renew = max(time.Until(renewAt), time.Second)
		if err := r.removeUnlessDesired(ctx, gw, &cmapi.Certificate{}, false); err != nil {
			return fs, 0, err
		}
		if err := r.removeBackendClientCertificate(ctx, gw); err != nil {
			return fs, 0, err
		}
	}

	var hasHPA, hasPDB bool
	for _, obj := range fleet.Objects {
		switch obj.(type) {
		case *autoscalingv2.HorizontalPodAutoscaler:
			hasHPA = true
		case *policyv1.PodDisruptionBudget:
			hasPDB = true
		}
		_, err := r.Applier.Apply(ctx, gw, obj.(client.Object))
		if svc, ok := obj.(*corev1.Service); ok && err != nil && len(fleet.Addresses.Static) > 0 &&
			(apierrors.IsInvalid(err) || apierrors.IsForbidden(err)) {
			fs.addressProblems = append(fs.addressProblems, refusedServiceProblem(svc, fleet.Addresses, err))
			continue
		}
		if err != nil {
			return fs, 0, err
		}
	}
	if err := r.removeUnlessDesired(ctx, gw, &autoscalingv2.HorizontalPodAutoscaler{}, hasHPA); err != nil {
		return fs, 0, err
	}
	if err := r.removeUnlessDesired(ctx, gw, &policyv1.PodDisruptionBudget{}, hasPDB); err != nil {
		return fs, 0, err
	}
	ctrl.LoggerFrom(ctx).V(1).Info("Fleet applied", "gateway", klog.KObj(gw), "objects", len(fleet.Objects))
	return fs, renew, nil
}

// removeBackendClientCertificate deletes the managed backend client Certificate, if any: the class
// no longer asks for one, or the Gateway names its own.
func (r *GatewayReconciler) removeBackendClientCertificate(ctx context.Context, gw *gwapiv1.Gateway) error {
	c := &cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: gw.Namespace, Name: provisioner.BackendClientSecretName(gw)}}
	if _, err := deleteIfOwned(ctx, r.Client, gw, c); err != nil && !meta.IsNoMatchError(err) {
		return fmt.Errorf("removing the backend client Certificate of Gateway %s: %w", klog.KObj(gw), err)
	}
	return nil
}

// removeUnlessDesired deletes the fleet's object of obj's kind when it is no longer wanted.
func (r *GatewayReconciler) removeUnlessDesired(ctx context.Context, gw *gwapiv1.Gateway, obj client.Object, desired bool) error {
	if desired {
		return nil
	}
	obj.SetNamespace(gw.Namespace)
	obj.SetName(provisioner.FleetName(gw))
	if _, err := deleteIfOwned(ctx, r.Client, gw, obj); err != nil && !meta.IsNoMatchError(err) {
		return fmt.Errorf("removing %T of Gateway %s: %w", obj, klog.KObj(gw), err)
	}
	return nil
}

// release removes the Gateway's entries from the status of the routes, BackendTLSPolicies and
// InferencePools that still carry them, once the Gateway is gone or no longer Flotilla's: each
// writer, given nothing decided for an object, drops our entry for the Gateway and keeps the rest.
func (r *GatewayReconciler) release(ctx context.Context, key types.NamespacedName) error {
	gw := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	gwKey := key.Namespace + "/" + key.Name
	forgetFleetMetrics(gwKey)
	defer r.confirmed.forget(gwKey) // after the status writes below, which record what they confirm
	res := &resolved{routes: map[string][]client.Object{}}
	for _, rk := range routeKinds {
		if !r.served(rk.kind) {
			continue
		}
		list := rk.newList()
		if err := r.Client.List(ctx, list, client.MatchingFields{IndexRouteParent: "Gateway/" + gwKey}); err != nil {
			return err
		}
		res.routes[rk.kind] = rk.items(list)
	}
	if r.served("BackendTLSPolicy") {
		list := &gwapiv1.BackendTLSPolicyList{}
		if err := r.Client.List(ctx, list, client.MatchingFields{IndexPolicyAncestor: gwKey}); err != nil {
			return err
		}
		for i := range list.Items {
			res.policies = append(res.policies, &list.Items[i])
		}
	}
	if r.served("InferencePool") && r.served("HTTPRoute") {
		list := &infv1.InferencePoolList{}
		if err := r.Client.List(ctx, list, client.MatchingFields{IndexPoolParent: gwKey}); err != nil {
			return err
		}
		for i := range list.Items {
			res.pools = append(res.pools, &list.Items[i])
		}
	}
	return errors.Join(r.writeRouteStatuses(ctx, gw, res), r.writePolicyStatuses(ctx, gw, res), r.writePoolStatuses(ctx, gw, res),
		r.releaseIngressesOf(ctx, key.Namespace, key.Name))
}
