{{/*
Labels on every object the chart creates (config/'s labels, less kustomize's managed-by, plus Helm's).
*/}}
{{- define "flotilla.labels" -}}
app.kubernetes.io/name: flotilla
app.kubernetes.io/part-of: flotilla
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/*
The manager Pods' labels, which the Deployment and both Services select (as config/manager).
*/}}
{{- define "flotilla.selectorLabels" -}}
app.kubernetes.io/name: flotilla
control-plane: controller-manager
{{- end }}
