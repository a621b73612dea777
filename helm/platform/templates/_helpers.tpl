{{/*
Chart name, truncated to 63 characters (DNS label limit).
*/}}
{{- define "platform.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: <release>-<chart>, or the release name when it already contains the
chart name. Truncated to 63 characters.
*/}}
{{- define "platform.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of a per-component resource: <fullname>-<component>.
Usage: include "platform.componentName" (dict "root" $ "component" "api")
*/}}
{{- define "platform.componentName" -}}
{{- printf "%s-%s" (include "platform.fullname" .root | trunc 50 | trimSuffix "-") .component }}
{{- end }}

{{- define "platform.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "platform.labels" -}}
helm.sh/chart: {{ include "platform.chart" . }}
{{ include "platform.selectorLabels" . }}
app.kubernetes.io/version: {{ (default .Chart.AppVersion .Values.image.tag) | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "platform.name" . }}
{{- end }}

{{- define "platform.selectorLabels" -}}
app.kubernetes.io/name: {{ include "platform.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one component. Usage: include "platform.componentLabels" (dict "root" $ "component" "api")
*/}}
{{- define "platform.componentLabels" -}}
{{ include "platform.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "platform.componentSelectorLabels" -}}
{{ include "platform.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
ServiceAccount used by the Deployments.
*/}}
{{- define "platform.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "platform.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
ServiceAccount used by the migration hook. Hooks run before the release's regular resources
exist (pre-install), so when the chart creates the ServiceAccount the hook gets its own.
*/}}
{{- define "platform.migrationServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- include "platform.componentName" (dict "root" . "component" "migrate") }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "platform.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{- define "platform.secretName" -}}
{{- required "existingSecret is required: the name of a Secret holding DATABASE_URL, REDIS_URL, SECRET_KEY and the other secret settings" .Values.existingSecret }}
{{- end }}

{{- define "platform.baseDomain" -}}
{{- required "config.BASE_DOMAIN is required (apex domain; tenants are served on <tenant>.BASE_DOMAIN)" .Values.config.BASE_DOMAIN }}
{{- end }}

{{- define "platform.configMapName" -}}
{{- include "platform.componentName" (dict "root" . "component" "config") }}
{{- end }}

{{/*
Non-secret configuration as a map of environment variables (empty values dropped). Rendering
fails when a secret setting was put into config instead of the existing Secret.
*/}}
{{- define "platform.configData" -}}
{{- $_ := include "platform.baseDomain" . }}
{{- /* Keep in step with values.schema.json (config.propertyNames) and values.yaml. */}}
{{- $secretKeys := list "DATABASE_URL" "REDIS_URL" "SECRET_KEY" "JWT_KEYS" "SENTRY_DSN" "SMTP_PASSWORD" "CELERY_BROKER_URL" "CELERY_RESULT_BACKEND" }}
{{- $data := dict }}
{{- range $key, $value := .Values.config }}
{{- if or (has $key $secretKeys) (hasPrefix "STRIPE_" $key) (hasPrefix "AWS_" $key) }}
{{- fail (printf "config.%s is a secret setting: put it into the existing Secret (existingSecret), not into values" $key) }}
{{- end }}
{{- if not (kindIs "invalid" $value) }}
{{- if ne (toString $value) "" }}
{{- $_ := set $data $key (toString $value) }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $data }}
{{- end }}

{{/*
Environment of every application container: the ConfigMap and the existing Secret.
Usage: include "platform.envFrom" $
*/}}
{{- define "platform.envFrom" -}}
- configMapRef:
    name: {{ include "platform.configMapName" . }}
- secretRef:
    name: {{ include "platform.secretName" . }}
{{- with .Values.extraEnvFrom }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
checksum/config annotation value: pods roll when the rendered configuration changes.
*/}}
{{- define "platform.configChecksum" -}}
{{- include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- end }}

{{/*
Pod-level fields shared by every pod. Usage: include "platform.podCommon" (dict "root" $ "sa" NAME)
*/}}
{{- define "platform.podCommon" -}}
serviceAccountName: {{ .sa }}
automountServiceAccountToken: {{ .root.Values.serviceAccount.automountServiceAccountToken }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/*
The writable /tmp volume (the root filesystem is read-only).
*/}}
{{- define "platform.tmpVolume" -}}
- name: tmp
  emptyDir:
    {{- with .Values.tmpVolume.medium }}
    medium: {{ . }}
    {{- end }}
    {{- with .Values.tmpVolume.sizeLimit }}
    sizeLimit: {{ . }}
    {{- end }}
{{- end }}

{{- define "platform.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/*
Pod-level scheduling fields. Usage: include "platform.scheduling" COMPONENT_VALUES
*/}}
{{- define "platform.scheduling" -}}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Optional probes of a container. Usage: include "platform.probes" COMPONENT_VALUES
*/}}
{{- define "platform.probes" -}}
{{- with .startupProbe }}
startupProbe:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .livenessProbe }}
livenessProbe:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .readinessProbe }}
readinessProbe:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
PodDisruptionBudget limits: minAvailable when set, maxUnavailable otherwise.
Usage: include "platform.pdbSpec" COMPONENT_VALUES.pdb
*/}}
{{- define "platform.pdbSpec" -}}
{{- if and (not (kindIs "invalid" .minAvailable)) (ne (toString .minAvailable) "") }}
minAvailable: {{ .minAvailable }}
{{- else }}
maxUnavailable: {{ .maxUnavailable | default 1 }}
{{- end }}
{{- end }}
