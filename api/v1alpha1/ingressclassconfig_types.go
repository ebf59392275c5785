package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IngressController is the IngressClass spec.controller value of the classes Flotilla serves.
const IngressController = "gateway.flotilla.dev/ingress"

// IngressClassConfigSpec says which Gateway serves the Ingresses of an IngressClass, and the
// class-wide defaults that ingress-nginx kept in its ConfigMap.
type IngressClassConfigSpec struct {
	// GatewayRef is the Gateway whose fleet serves the class's Ingresses: the same Envoys and the
	// same address as its HTTPRoutes. The Gateway's own listeners decide what is served: the
	// Ingress's hosts attach to its HTTP and HTTPS listeners whose hostname admits them and whose
	// allowedRoutes admit HTTPRoutes from the Ingress's namespace.
	GatewayRef GatewayReference `json:"gatewayRef"`

	// AnnotationPrefix is the prefix of the annotations Flotilla reads
	// ("<prefix>/rewrite-target"...).
	// +optional
	// +kubebuilder:default="nginx.ingress.kubernetes.io"
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	AnnotationPrefix string `json:"annotationPrefix,omitempty"`

	// IngressesWithoutClass makes the class serve Ingresses that name no class at all (neither
	// spec.ingressClassName nor the kubernetes.io/ingress.class annotation), as ingress-nginx's
	// --watch-ingress-without-class does. Only one class should set it.
	// +optional
	IngressesWithoutClass bool `json:"ingressesWithoutClass,omitempty"`

	// SSLRedirect is the default of the ssl-redirect annotation: a host with TLS redirects plain
	// HTTP requests to HTTPS.
	// +optional
	// +kubebuilder:default=true
	SSLRedirect *bool `json:"sslRedirect,omitempty"`

	// SSLRedirectCode is the status code of ssl-redirect and force-ssl-redirect redirects
	// (ingress-nginx's http-redirect-code).
	// +optional
	// +kubebuilder:default=308
	// +kubebuilder:validation:Enum=301;302;307;308
	SSLRedirectCode int32 `json:"sslRedirectCode,omitempty"`

	// SSLPassthrough lets the class's Ingresses use the ssl-passthrough annotation (ingress-nginx's
	// --enable-ssl-passthrough): TLS connections for the host go, unterminated, to the Service of
	// its "/" path, and the Gateway's HTTPS listeners on that port forward them by SNI. Off, such
	// Ingresses are refused.
	// +optional
	SSLPassthrough bool `json:"sslPassthrough,omitempty"`

	// AllowCrossNamespaceReferences lets annotations name Secrets of other namespaces as
	// "<namespace>/<name>" (proxy-ssl-secret). Off, such Ingresses are refused: a team could
	// otherwise present another team's client certificate.
	// +optional
	AllowCrossNamespaceReferences bool `json:"allowCrossNamespaceReferences,omitempty"`

	// HSTS adds Strict-Transport-Security "max-age=31536000; includeSubDomains" to HTTPS
	// responses of hosts with TLS (ingress-nginx's hsts, on by default).
	// +optional
	// +kubebuilder:default=true
	HSTS *bool `json:"hsts,omitempty"`

	// ProxyReadTimeoutSeconds and ProxySendTimeoutSeconds are the defaults of the
	// proxy-read-timeout and proxy-send-timeout annotations (60 each): a request whose stream
	// sees no activity for the larger of the two ends.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=86400
	ProxyReadTimeoutSeconds *int32 `json:"proxyReadTimeoutSeconds,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=86400
	ProxySendTimeoutSeconds *int32 `json:"proxySendTimeoutSeconds,omitempty"`

	// ProxyBodySize is the default of the proxy-body-size annotation: the largest request body
	// served (413 above it), an nginx size ("1m", "512k"; k, m, g are powers of 1024). "0" serves
	// any size. Defaults to ingress-nginx's 1m.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]{1,12}[kKmMgG]?$`
	ProxyBodySize *string `json:"proxyBodySize,omitempty"`

	// LimitStatusCode answers requests over an Ingress's limit-rps or limit-rpm (ingress-nginx's
	// limit-req-status-code). Defaults to 503.
	// +optional
	// +kubebuilder:validation:Minimum=400
	// +kubebuilder:validation:Maximum=599
	LimitStatusCode *int32 `json:"limitStatusCode,omitempty"`
}

// GatewayReference names a Gateway.
type GatewayReference struct {
	// Namespace of the Gateway.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// Name of the Gateway.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// IngressClassConfig is the parameters object of an IngressClass whose spec.controller is
// gateway.flotilla.dev/ingress (spec.parameters: apiGroup gateway.flotilla.dev, kind
// IngressClassConfig, scope Cluster). It is cluster-scoped: the platform admin decides which
// Gateway serves a class.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=icc,categories=flotilla
// +kubebuilder:printcolumn:name="Gateway",type=string,JSONPath=`.spec.gatewayRef.name`
// +kubebuilder:printcolumn:name="Namespace",type=string,JSONPath=`.spec.gatewayRef.namespace`
// +kubebuilder:printcolumn:name="Prefix",type=string,JSONPath=`.spec.annotationPrefix`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IngressClassConfig struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what the admin asks for.
	Spec IngressClassConfigSpec `json:"spec"`
}

// IngressClassConfigList contains a list of IngressClassConfig.
// +kubebuilder:object:root=true
type IngressClassConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IngressClassConfig `json:"items"`
}

func init() {
	SchemeBuilder.Register(&IngressClassConfig{}, &IngressClassConfigList{})
}
