{{/* Chart name, or nameOverride. */}}
{{- define "autorefresh.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: fullnameOverride, else the release name with the chart name unless it has it. */}}
{{- define "autorefresh.fullname" -}}
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

{{- define "autorefresh.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "autorefresh.labels" -}}
helm.sh/chart: {{ include "autorefresh.chart" . }}
{{ include "autorefresh.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Values.mode }}
{{- end }}

{{/* Selector labels: fixed for the life of a release (a selector is immutable). */}}
{{- define "autorefresh.selectorLabels" -}}
app.kubernetes.io/name: {{ include "autorefresh.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "autorefresh.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "autorefresh.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image, pinned: a digest, else the tag, else the chart's appVersion. */}}
{{- define "autorefresh.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if eq $tag "latest" }}{{ fail "image.tag: pin a version, not latest" }}{{ end }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The Secret and key of the tokens file, empty when the API is open. */}}
{{- define "autorefresh.tokensSecret" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecret }}
{{- else if .Values.auth.tokens }}
{{- printf "%s-tokens" (include "autorefresh.fullname" .) }}
{{- end }}
{{- end }}

{{- define "autorefresh.tokensKey" -}}
{{- if .Values.auth.existingSecret }}{{ .Values.auth.secretKey }}{{ else }}tokens{{ end }}
{{- end }}

{{/* Checks that values alone cannot express in the schema. */}}
{{- define "autorefresh.validate" -}}
{{- $s := .Values.shutdown }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (add $s.delaySeconds $s.timeoutSeconds | int) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be at least shutdown.delaySeconds + shutdown.timeoutSeconds (%v)" .Values.terminationGracePeriodSeconds (add $s.delaySeconds $s.timeoutSeconds)) }}
{{- end }}
{{- if eq .Values.mode "postgres" }}
{{- if not .Values.postgres.existingSecret }}
{{- fail "postgres mode: set postgres.existingSecret to a Secret holding the PostgreSQL URL" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not (dig "requests" "cpu" "" .Values.resources)) }}
{{- fail "autoscaling on CPU needs resources.requests.cpu" }}
{{- end }}
{{- end }}
{{- end }}
