package provisioner

import (
	"maps"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The Envoy container runs as this user and group (distroless "nonroot").
const envoyUID int64 = 65532

const (
	containerName      = "envoy"
	volumeBootstrap    = "bootstrap"
	volumeCertificates = "certificates"
	volumeTmp          = "tmp"
)

// Deployment runs the fleet's Envoys: image, arguments, resources and scheduling from p, the
// restricted Pod security profile, a readiness probe on the health listener, and a drain of
// p.DrainTimeout (preStop sleep, grace period 10s longer). bootstrapChecksum (from ConfigMap)
// goes on the Pod template so that a changed bootstrap rolls the Pods. Replicas are left unset
// when an HPA scales the Deployment.
func Deployment(gw *gwapiv1.Gateway, p Params, bootstrapChecksum string) *appsv1.Deployment {
	drain := int64(p.DrainTimeout.Seconds())
	podLabels := objectLabels(gw, p)
	maps.Copy(podLabels, p.PodLabels)
	maps.Copy(podLabels, FleetLabels(gw)) // Merge refuses these keys; keep them authoritative anyway
	podAnnotations := map[string]string{AnnotationBootstrapChecksum: bootstrapChecksum}
	if p.Prometheus {
		podAnnotations["prometheus.io/scrape"] = "true"
		podAnnotations["prometheus.io/port"] = strconv.Itoa(int(StatsPort))
		podAnnotations["prometheus.io/path"] = StatsPath
	}

	container := corev1.Container{
		Name:    containerName,
		Image:   p.Image,
		Command: []string{"envoy"},
		Args:    envoyArgs(p, drain),
		Env: []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}},
		},
		Ports:     containerPorts(gw, p),
		Resources: *p.Resources.DeepCopy(),
		ReadinessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: ReadyPath, Port: intstr.FromInt32(HealthPort), Scheme: corev1.URISchemeHTTP,
			}},
			PeriodSeconds:    5,
			TimeoutSeconds:   1,
			SuccessThreshold: 1,
			FailureThreshold: 3,
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: volumeBootstrap, MountPath: BootstrapDir, ReadOnly: true},
			{Name: volumeCertificates, MountPath: SDSDir, ReadOnly: true},
			{Name: volumeTmp, MountPath: "/tmp"},
		},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To(envoyUID),
			RunAsGroup:               ptr.To(envoyUID),
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if drain > 0 {
		container.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: drain}}}
	}

	s := p.Scheduling
	spec := corev1.PodSpec{
		ServiceAccountName:            FleetName(gw),
		AutomountServiceAccountToken:  ptr.To(false),
		EnableServiceLinks:            ptr.To(false),
		TerminationGracePeriodSeconds: ptr.To(drain + 10),
		Containers:                    []corev1.Container{container},
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			RunAsUser:      ptr.To(envoyUID),
			RunAsGroup:     ptr.To(envoyUID),
			FSGroup:        ptr.To(envoyUID),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			// Lets Envoy bind listener ports below 1024 without NET_BIND_SERVICE (a "safe",
			// namespaced sysctl that Pod Security "restricted" allows).
			Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}},
		},
		Volumes: []corev1.Volume{
			{Name: volumeBootstrap, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: FleetName(gw)},
				Items:                []corev1.KeyToPath{{Key: BootstrapKey, Path: BootstrapKey}},
			}}},
			{Name: volumeCertificates, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				DefaultMode: ptr.To[int32](0o440),
				Sources: []corev1.VolumeProjection{
					{Secret: &corev1.SecretProjection{
						LocalObjectReference: corev1.LocalObjectReference{Name: SecretName(gw)},
						Items:                keyToPath(SecretKeyCertificate, SecretKeyPrivateKey),
					}},
					{ConfigMap: &corev1.ConfigMapProjection{
						LocalObjectReference: corev1.LocalObjectReference{Name: FleetName(gw)},
						Items:                keyToPath(KeySDSCertificate, KeySDSValidationContext, KeyXDSTrust),
					}},
				},
			}}},
			{Name: volumeTmp, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
		NodeSelector:              cloneMap(s.NodeSelector),
		Tolerations:               s.DeepCopy().Tolerations,
		Affinity:                  s.Affinity.DeepCopy(),
		TopologySpreadConstraints: spreadConstraints(gw, s.TopologySpreadConstraints),
		PriorityClassName:         s.PriorityClassName,
	}

	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(gw, p),
		Spec: appsv1.DeploymentSpec{
			Replicas: copyPtr(p.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(gw)},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromString("25%")),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      podLabels,
					Annotations: objectAnnotations(p, p.PodAnnotations, podAnnotations),
				},
				Spec: spec,
			},
		},
	}
	if p.Autoscaling != nil {
		d.Spec.Replicas = nil
	}
	return d
}

func keyToPath(keys ...string) []corev1.KeyToPath {
	out := make([]corev1.KeyToPath, 0, len(keys))
	for _, k := range keys {
		out = append(out, corev1.KeyToPath{Key: k, Path: k})
	}
	return out
}

func envoyArgs(p Params, drain int64) []string {
	args := []string{
		"--service-node", "$(POD_NAME)",
		"-c", BootstrapPath,
		"--log-level", string(p.LogLevel),
		"--drain-time-s", strconv.FormatInt(drain, 10),
		"--drain-strategy", "immediate",
	}
	if p.Concurrency != nil {
		args = append(args, "--concurrency", strconv.Itoa(int(*p.Concurrency)))
	}
	return args
}

// containerPorts are the fleet's listener ports (as ContainerPort binds them) plus the health
// port and, with Prometheus, the stats port.
func containerPorts(gw *gwapiv1.Gateway, p Params) []corev1.ContainerPort {
	var out []corev1.ContainerPort
	for _, fp := range fleetPorts(gw) {
		out = append(out, corev1.ContainerPort{Name: fp.name(), ContainerPort: ContainerPort(fp.port), Protocol: fp.protocol})
	}
	out = append(out, corev1.ContainerPort{Name: "health", ContainerPort: HealthPort, Protocol: corev1.ProtocolTCP})
	if p.Prometheus {
		out = append(out, corev1.ContainerPort{Name: "metrics", ContainerPort: StatsPort, Protocol: corev1.ProtocolTCP})
	}
	return out
}

// spreadConstraints copies the class's constraints, giving those without a label selector the
// fleet's selector labels, so that each fleet spreads its own Pods.
func spreadConstraints(gw *gwapiv1.Gateway, in []corev1.TopologySpreadConstraint) []corev1.TopologySpreadConstraint {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.TopologySpreadConstraint, len(in))
	for i := range in {
		out[i] = *in[i].DeepCopy()
		if sel := out[i].LabelSelector; sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
			out[i].LabelSelector = &metav1.LabelSelector{MatchLabels: SelectorLabels(gw)}
		}
	}
	return out
}
