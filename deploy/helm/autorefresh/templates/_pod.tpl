{{/*
The pod template of both modes: the StatefulSet (embedded) and the
Deployment (postgres) differ only around it.
*/}}
{{- define "autorefresh.podTemplate" -}}
{{- $tokens := include "autorefresh.tokensSecret" . -}}
{{- $rollOnTokens := and $tokens (not .Values.auth.existingSecret) -}}
metadata:
  labels:
    {{- include "autorefresh.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if or $rollOnTokens .Values.podAnnotations }}
  annotations:
    {{- if $rollOnTokens }}
    # A new tokens file rolls the pods: the server reads it at start.
    checksum/tokens: {{ include (print $.Template.BasePath "/secret-tokens.yaml") . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
spec:
  serviceAccountName: {{ include "autorefresh.serviceAccountName" . }}
  # The server calls no Kubernetes API.
  automountServiceAccountToken: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  # On SIGTERM the server serves on for --shutdown-delay with /readyz at 503
  # while the endpoints drop it, then lets requests and webhook calls finish
  # for --shutdown-timeout: the grace period covers both.
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: autorefresh
      image: {{ include "autorefresh.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - --addr=:{{ .Values.containerPort }}
        - --shutdown-delay={{ .Values.shutdown.delaySeconds }}s
        - --shutdown-timeout={{ .Values.shutdown.timeoutSeconds }}s
        - --log-level={{ .Values.logLevel }}
        {{- if eq .Values.mode "embedded" }}
        - --data-dir=/var/lib/autorefresh
        {{- end }}
        {{- if $tokens }}
        - --auth-tokens-file=/etc/autorefresh/tokens/tokens
        {{- end }}
        {{- if .Values.auth.metricsAuth }}
        - --metrics-auth
        {{- end }}
        {{- with .Values.allowWebhookCidrs }}
        - --allow-webhook-cidrs={{ join "," . }}
        {{- end }}
        {{- with .Values.trustedProxies }}
        - --trusted-proxies={{ join "," . }}
        {{- end }}
        {{- with .Values.allowedHosts }}
        - --allowed-hosts={{ join "," . }}
        {{- end }}
        {{- if .Values.rateLimit }}
        - --rate-limit={{ .Values.rateLimit }}
        {{- end }}
        {{- range .Values.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      {{- if or (eq .Values.mode "postgres") .Values.extraEnv }}
      env:
        {{- if eq .Values.mode "postgres" }}
        # From the Secret, never on the command line (ps shows it there).
        - name: AUTOREFRESH_POSTGRES_URL
          valueFrom:
            secretKeyRef:
              name: {{ .Values.postgres.existingSecret }}
              key: {{ .Values.postgres.secretKey }}
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      ports:
        - name: http
          containerPort: {{ .Values.containerPort }}
          protocol: TCP
      # The server listens once its store is open; until then only the
      # startup probe runs.
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ .Values.probes.startup.periodSeconds }}
        timeoutSeconds: {{ .Values.probes.startup.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.startup.failureThreshold }}
      # /readyz follows the store (PostgreSQL in postgres mode) and answers
      # 503 from SIGTERM on; /healthz only says the process serves, so
      # losing the database does not restart every pod.
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
        timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
        timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      {{- if or (eq .Values.mode "embedded") $tokens }}
      volumeMounts:
        {{- if eq .Values.mode "embedded" }}
        - name: data
          mountPath: /var/lib/autorefresh
        {{- end }}
        {{- if $tokens }}
        - name: tokens
          mountPath: /etc/autorefresh/tokens
          readOnly: true
        {{- end }}
      {{- end }}
  {{- if $tokens }}
  volumes:
    # 0440 with the pod's fsGroup: readable by the server's group only (the
    # server warns that a group-readable file could be read by others; here
    # the group is the pod's own).
    - name: tokens
      secret:
        secretName: {{ $tokens }}
        defaultMode: 0440
        items:
          - key: {{ include "autorefresh.tokensKey" . }}
            path: tokens
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if and (eq .Values.mode "postgres") .Values.topologySpread.enabled }}
  topologySpreadConstraints:
    {{- range .Values.topologySpread.topologyKeys }}
    - maxSkew: {{ $.Values.topologySpread.maxSkew }}
      topologyKey: {{ . }}
      whenUnsatisfiable: {{ $.Values.topologySpread.whenUnsatisfiable }}
      labelSelector:
        matchLabels:
          {{- include "autorefresh.selectorLabels" $ | nindent 10 }}
      matchLabelKeys: [pod-template-hash]
    {{- end }}
  {{- end }}
{{- end }}
