{{/* vim: set filetype=mustache: */}}

{{/*
Chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "remedy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, truncated to 63 characters.
If the release name already contains the chart name, it is used as is.
*/}}
{{- define "remedy.fullname" -}}
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
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "remedy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels shared by every resource of the release (no component).
*/}}
{{- define "remedy.labels" -}}
helm.sh/chart: {{ include "remedy.chart" . }}
app.kubernetes.io/name: {{ include "remedy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "remedy.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: remedy
{{- end }}

{{/*
Selector labels of the server pods. The component label keeps the migration Job's pod out of
the Service, the PodDisruptionBudget and the Deployment.
*/}}
{{- define "remedy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "remedy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{/*
Labels of the server resources (common labels plus the server component).
*/}}
{{- define "remedy.serverLabels" -}}
{{ include "remedy.labels" . }}
app.kubernetes.io/component: server
{{- end }}

{{/*
Labels of the migration Job and its pod.
*/}}
{{- define "remedy.migrationLabels" -}}
{{ include "remedy.labels" . }}
app.kubernetes.io/component: migration
{{- end }}

{{/*
Name of the ServiceAccount the server pods use.
*/}}
{{- define "remedy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "remedy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Name of the ServiceAccount the migration pod uses; empty means the namespace default.
The chart's own ServiceAccount is a regular resource and does not exist yet when the
pre-install hook runs, so it is never used here.
*/}}
{{- define "remedy.migrationServiceAccountName" -}}
{{- if .Values.migration.serviceAccountName }}
{{- .Values.migration.serviceAccountName }}
{{- else if and (not .Values.serviceAccount.create) .Values.serviceAccount.name }}
{{- .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image tag: image.tag, or the chart's appVersion.
*/}}
{{- define "remedy.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion | toString }}
{{- end }}

{{/*
Full image reference.
*/}}
{{- define "remedy.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "remedy.imageTag" .) }}
{{- end }}

{{/*
Name of the Secret holding REMEDY_DATABASE_URL and REMEDY_JWT_SECRET.
*/}}
{{- define "remedy.secretName" -}}
{{- default (include "remedy.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/*
Whether the chart creates the Secret itself.
*/}}
{{- define "remedy.createSecret" -}}
{{- if and .Values.secret.create (not .Values.secret.existingSecret) }}true{{- end }}
{{- end }}

{{/*
Name of the short-lived hook Secret the migration Job reads when the chart creates the
Secret (the regular one does not exist yet at pre-install time).
*/}}
{{- define "remedy.migrationSecretName" -}}
{{- printf "%s-migration" (include "remedy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Non-secret settings as a flat map of environment variable name to string value.
Rendered into the ConfigMap (server) and inline into the migration Job, whose pre-install
hook runs before the ConfigMap exists. Empty values are left out.
*/}}
{{- define "remedy.configEnv" -}}
{{- $c := .Values.config -}}
{{- $env := dict "REMEDY_LISTEN" (printf "0.0.0.0:%v" .Values.containerPort) -}}
{{- $pairs := list
  (list "REMEDY_JWT_ISSUER" $c.jwtIssuer)
  (list "REMEDY_JWT_AUDIENCE" $c.jwtAudience)
  (list "REMEDY_LOG" $c.log)
  (list "REMEDY_LOG_FORMAT" $c.logFormat)
  (list "REMEDY_MAX_DEPTH" $c.maxDepth)
  (list "REMEDY_MAX_COMPLEXITY" $c.maxComplexity)
  (list "REMEDY_MAX_BODY_BYTES" $c.maxBodyBytes)
  (list "REMEDY_INTROSPECTION" $c.introspection)
  (list "REMEDY_DB_MAX_CONNECTIONS" $c.dbMaxConnections)
  (list "REMEDY_DB_ACQUIRE_TIMEOUT" $c.dbAcquireTimeout)
  (list "REMEDY_DB_STATEMENT_TIMEOUT_SECONDS" $c.dbStatementTimeoutSeconds)
  (list "REMEDY_WORKERS" $c.workers)
  (list "REMEDY_SHUTDOWN_GRACE_SECONDS" $c.shutdownGraceSeconds)
  (list "REMEDY_REQUEST_TIMEOUT_SECONDS" $c.requestTimeoutSeconds)
  (list "REMEDY_DASHBOARD_CONCURRENCY" $c.dashboardConcurrency)
  (list "REMEDY_DASHBOARD_QUEUE" $c.dashboardQueue)
  (list "REMEDY_DASHBOARD_WAIT_SECONDS" $c.dashboardWaitSeconds)
  (list "REMEDY_TOKEN_MAX_TTL" $c.tokenMaxTtl)
  (list "REMEDY_MAX_TOKENS" $c.maxTokens)
  (list "REMEDY_MAX_EXPANDED_FIELDS" $c.maxExpandedFields)
  (list "REMEDY_DOCUMENT_CACHE_BYTES" $c.documentCacheBytes)
  (list "REMEDY_MAX_CONCURRENT_UPLOADS" $c.maxConcurrentUploads)
  (list "REMEDY_WS_INIT_TIMEOUT_SECONDS" $c.wsInitTimeoutSeconds)
  (list "REMEDY_WS_MAX_OPERATIONS" $c.wsMaxOperations)
  (list "REMEDY_WS_MAX_SOCKETS_PER_SUBJECT" $c.wsMaxSocketsPerSubject)
  (list "REMEDY_WS_RECHECK_SECONDS" $c.wsRecheckSeconds)
  (list "REMEDY_SEPARATION_OF_DUTIES" $c.separationOfDuties)
  (list "REMEDY_APPROVALS" $c.approvals)
  (list "REMEDY_APPROVAL_SWEEP_SECONDS" $c.approvalSweepSeconds)
  (list "REMEDY_BACKDATE_WINDOW_DAYS" $c.backdateWindowDays)
  (list "REMEDY_NOTIFY_INTERVAL_SECONDS" $c.notifyIntervalSeconds)
  (list "REMEDY_REMIND_DAYS" $c.remindDays)
  (list "REMEDY_REMIND_LOOKBACK_DAYS" $c.remindLookbackDays)
  (list "REMEDY_PUBLIC_URL" $c.publicUrl)
  (list "REMEDY_WEBHOOK_ALLOW" $c.webhookAllow)
  (list "REMEDY_WEBHOOK_TIMEOUT_SECONDS" $c.webhookTimeoutSeconds)
  (list "REMEDY_WEBHOOK_MAX_ATTEMPTS" $c.webhookMaxAttempts)
  (list "REMEDY_WEBHOOK_BACKOFF_SECONDS" $c.webhookBackoffSeconds)
  (list "REMEDY_WEBHOOK_SECRET_OVERLAP_HOURS" $c.webhookSecretOverlapHours)
  (list "REMEDY_SMTP_HOST" $c.smtpHost)
  (list "REMEDY_SMTP_PORT" $c.smtpPort)
  (list "REMEDY_SMTP_TLS" $c.smtpTls)
  (list "REMEDY_SMTP_USERNAME" $c.smtpUsername)
  (list "REMEDY_SMTP_FROM" $c.smtpFrom)
  (list "REMEDY_SMTP_CA_FILE" $c.smtpCaFile)
  (list "REMEDY_DIGEST_DAILY" $c.digestDaily)
  (list "REMEDY_DIGEST_WEEKLY_TO" $c.digestWeeklyTo)
  (list "OTEL_EXPORTER_OTLP_ENDPOINT" $c.otelExporterOtlpEndpoint)
-}}
{{- range $pairs }}
{{- $value := index . 1 }}
{{- if not (kindIs "invalid" $value) }}
{{- /* Values files parse numbers as float64, which would print 1048576 as 1.048576e+06. */}}
{{- if kindIs "float64" $value }}
{{- $value = int64 $value }}
{{- end }}
{{- $s := toString $value }}
{{- if ne $s "" }}
{{- $_ := set $env (index . 0) $s }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $env }}
{{- end }}

{{/*
Secret-backed environment variables. Argument: dict "secretName" NAME "root" $.
*/}}
{{- define "remedy.secretEnv" -}}
{{- $root := .root -}}
- name: REMEDY_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $root.Values.secret.keys.databaseUrl }}
- name: REMEDY_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $root.Values.secret.keys.jwtSecret }}
{{- if $root.Values.config.smtpHost }}
- name: REMEDY_SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $root.Values.secret.keys.smtpPassword }}
      optional: true
{{- end }}
{{- end }}

{{/*
Soft spread of the server pods over nodes, used when topologySpreadConstraints is empty.
*/}}
{{- define "remedy.defaultTopologySpread" -}}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "remedy.selectorLabels" . | nindent 6 }}
{{- end }}
