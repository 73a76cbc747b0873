{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "distill.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the prefix of every resource. */}}
{{- define "distill.fullname" -}}
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

{{- define "distill.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels; call with (dict "ctx" $ "component" "service"|"worker"). */}}
{{- define "distill.selectorLabels" -}}
app.kubernetes.io/name: {{ include "distill.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "distill.labels" -}}
helm.sh/chart: {{ include "distill.chart" .ctx }}
{{ include "distill.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: distill
{{- end }}

{{/* Name of the API's Service: workers reach it as DISTILL_URL. */}}
{{- define "distill.serviceName" -}}
{{- include "distill.fullname" . }}
{{- end }}

{{- define "distill.serviceUrl" -}}
{{- printf "http://%s:%d" (include "distill.serviceName" .) (int .Values.service.port) }}
{{- end }}

{{- define "distill.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "distill.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* image reference; call with (dict "image" .Values.x.image "ctx" $ "value" "x.image"). */}}
{{- define "distill.image" -}}
{{- $repo := required (printf "%s.repository is required" .value) .image.repository }}
{{- printf "%s:%s" $repo (default .ctx.Chart.AppVersion .image.tag) }}
{{- end }}

{{/* Secret and key of the database connection. */}}
{{- define "distill.dbSecretName" -}}
{{- if .Values.service.database.existingSecret }}
{{- .Values.service.database.existingSecret }}
{{- else }}
{{- printf "%s-db" (include "distill.fullname" .) }}
{{- end }}
{{- end }}

{{- define "distill.artifactsClaim" -}}
{{- if .Values.worker.artifacts.existingClaim }}
{{- .Values.worker.artifacts.existingClaim }}
{{- else }}
{{- printf "%s-artifacts" (include "distill.fullname" .) }}
{{- end }}
{{- end }}

{{/*
Threads of one worker = its CPU request in whole cores (values.schema.json allows only whole cores:
4, "4" or "4000m"). PyTorch's intra-op pool (OMP_NUM_THREADS, ai.djl.pytorch.num_threads) larger than the
CPU share only adds throttling.
*/}}
{{- define "distill.workerThreads" -}}
{{- $cpu := toString .Values.worker.resources.requests.cpu }}
{{- $n := 0 }}
{{- if hasSuffix "m" $cpu }}
{{- $n = div (atoi (trimSuffix "m" $cpu)) 1000 }}
{{- else }}
{{- $n = atoi $cpu }}
{{- end }}
{{- if lt (int $n) 1 }}
{{- fail (printf "worker.resources.requests.cpu must be whole cores (1, \"2\", \"4000m\"), was %q" $cpu) }}
{{- end }}
{{- $n }}
{{- end }}

{{/* Checks across values that the schema cannot express. */}}
{{- define "distill.validate" -}}
{{- if and (not .Values.service.database.url) (not .Values.service.database.existingSecret) }}
{{- fail "service.database.url or service.database.existingSecret is required: the service needs PostgreSQL 14+ (jdbc:postgresql://host:5432/db)" }}
{{- end }}
{{- if lt (int .Values.worker.terminationGracePeriodSeconds) (int .Values.worker.checkpointSeconds) }}
{{- fail (printf "worker.terminationGracePeriodSeconds (%d) must be at least worker.checkpointSeconds (%d): SIGTERM checkpoints the running job and releases its lease before the pod is killed" (int .Values.worker.terminationGracePeriodSeconds) (int .Values.worker.checkpointSeconds)) }}
{{- end }}
{{- if and .Values.worker.autoscaling.enabled .Values.worker.keda.enabled }}
{{- fail "worker.autoscaling.enabled and worker.keda.enabled are both true: pick one autoscaler for the workers (KEDA makes its own HorizontalPodAutoscaler, and two would fight over the replica count)" }}
{{- end }}
{{- if and .Values.worker.keda.enabled (gt (int .Values.worker.keda.minReplicas) (int .Values.worker.keda.maxReplicas)) }}
{{- fail (printf "worker.keda.minReplicas (%d) must not exceed worker.keda.maxReplicas (%d)" (int .Values.worker.keda.minReplicas) (int .Values.worker.keda.maxReplicas)) }}
{{- end }}
{{- if and .Values.worker.autoscaling.enabled (gt (int .Values.worker.autoscaling.minReplicas) (int .Values.worker.autoscaling.maxReplicas)) }}
{{- fail (printf "worker.autoscaling.minReplicas (%d) must not exceed worker.autoscaling.maxReplicas (%d)" (int .Values.worker.autoscaling.minReplicas) (int .Values.worker.autoscaling.maxReplicas)) }}
{{- end }}
{{- end }}

{{/*
Memory the worker offers to jobs' requirements (--memory-mb), in MiB: worker.memoryMb if set, else the
container's memory limit (whole units: 12Gi, 12288Mi, 16G, or bytes), else nothing (the JVM's own limit).
*/}}
{{- define "distill.workerMemoryMb" -}}
{{- $w := .Values.worker }}
{{- if gt (int $w.memoryMb) 0 }}
{{- int $w.memoryMb }}
{{- else if and $w.resources.limits (index $w.resources.limits "memory") }}
{{- $m := toString (index $w.resources.limits "memory") }}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 }}
{{- $digits := $m }}
{{- $mult := 1 }}
{{- range $suffix, $factor := $units }}
{{- if hasSuffix $suffix $m }}
{{- $digits = trimSuffix $suffix $m }}
{{- $mult = $factor }}
{{- end }}
{{- end }}
{{- if not (regexMatch "^[0-9]+$" $digits) }}
{{- fail (printf "worker.resources.limits.memory %q: give whole units (12Gi, 12288Mi) or set worker.memoryMb" $m) }}
{{- end }}
{{- div (mul (atoi $digits) $mult) 1048576 }}
{{- end }}
{{- end }}

{{/* DISTILL_ENDPOINTS: name=base URL entries of endpoints.allowList, by name, comma-separated. */}}
{{- define "distill.endpointAllowList" -}}
{{- $entries := list -}}
{{- range $name, $url := .Values.endpoints.allowList -}}
{{- $entries = append $entries (printf "%s=%s" $name $url) -}}
{{- end -}}
{{- join "," $entries -}}
{{- end -}}
