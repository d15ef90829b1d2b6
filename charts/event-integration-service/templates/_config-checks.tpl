{{/* ----------------------------------------------------------------------------------------------------------
What the service refuses at start that values.schema.json cannot see: relations between variables, and a role's
variables as the pods get them (`config` with `<role>.config` over it). Checked here so such values fail the install
with a message instead of crash-looping the pods with exit 78. The single values (ranges, digits, enums) are in the
schema's `definitions.config`.
---------------------------------------------------------------------------------------------------------- */}}

{{/* The longest delay Node's timers honour (MAX_TIMER_MS in services/shared/config/config-schema.ts). */}}
{{- define "eis.maxTimerMs" -}}2147483647{{- end -}}

{{/* A whole-number variable of a merged config, as an int; `fallback` (the service's default) when unset or blank.
The schema has already refused anything but decimal digits. Call with (dict "config" $config "name" "X" "fallback" 8). */}}
{{- define "eis.configInt" -}}
{{- $value := "" -}}
{{- if hasKey .config .name -}}{{- $value = include "eis.envValue" (get .config .name) | trim -}}{{- end -}}
{{- if regexMatch "^[0-9]+$" $value -}}{{- atoi $value -}}{{- else -}}{{- .fallback -}}{{- end -}}
{{- end -}}

{{/*
JOB_ATTEMPTS with JOB_BACKOFF_MS: the backoff doubles with each attempt, so the last retry comes JOB_BACKOFF_MS ×
2^(JOB_ATTEMPTS − 2) after the one before, which the service holds to 2147483647 ms (retryScheduleProblem in
services/shared/config/config.ts): each role, and the migration Job, which runs on `config` alone, refuses to start
beyond it. Call with (dict "config" $config "where" "the worker role (config, worker.config)").
*/}}
{{- define "eis.checkRetrySchedule" -}}
{{- $max := include "eis.maxTimerMs" . | int64 -}}
{{- $attempts := include "eis.configInt" (dict "config" .config "name" "JOB_ATTEMPTS" "fallback" 8) | int64 -}}
{{- $backoff := include "eis.configInt" (dict "config" .config "name" "JOB_BACKOFF_MS" "fallback" 1000) | int64 -}}
{{- if and (ge $attempts 2) (ge $backoff 1) -}}
{{- $gap := $backoff -}}
{{- $most := 1 -}}
{{- /* Doubling at most 32 times: 2^31 ms is already past the bound, so no int64 overflows. */ -}}
{{- range $doubling := until 32 -}}
{{- if le $gap $max -}}{{- $most = add $doubling 2 -}}{{- end -}}
{{- $gap = mul $gap 2 -}}
{{- end -}}
{{- if gt $attempts (int64 $most) -}}
{{- fail (printf "%s: JOB_ATTEMPTS=%d with JOB_BACKOFF_MS=%d puts the last retry JOB_BACKOFF_MS × 2^(JOB_ATTEMPTS − 2) ms after the one before (the backoff doubles with each attempt), over %d ms (about 24.8 days): the service refuses to start, as a failing event would stay FAILED instead of reaching DEAD_LETTER. At most %d attempts with this backoff" .where $attempts $backoff $max $most) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
DATABASE_POOL_SIZE of the worker role: at least 3 (MIN_WORKER_POOL_SIZE in services/shared/config/config.ts), as the
reconciler's and the retention's passes each hold a connection for their whole pass. The ingress, and the migration
Job, take any size.
*/}}
{{- define "eis.checkWorkerPoolSize" -}}
{{- $size := include "eis.configInt" (dict "config" .config "name" "DATABASE_POOL_SIZE" "fallback" 20) | int -}}
{{- if lt $size 3 -}}
{{- fail (printf "%s: DATABASE_POOL_SIZE=%d, the worker needs at least 3: the reconciler's and the retention's passes each hold a connection for their whole pass, and claims, claim heartbeats and finishes need one meanwhile (the service refuses to start)" .where $size) -}}
{{- end -}}
{{- end -}}

{{/* Every check above, for each process the chart runs. Included by eis.validate. */}}
{{- define "eis.checkConfig" -}}
{{- range $role := list "ingress" "worker" -}}
{{- $config := include "eis.roleConfig" (dict "root" $ "role" $role) | fromJson -}}
{{- $where := printf "the %s role (config, with %s.config over it)" $role $role -}}
{{- include "eis.checkRetrySchedule" (dict "config" $config "where" $where) -}}
{{- if eq $role "worker" -}}{{- include "eis.checkWorkerPoolSize" (dict "config" $config "where" $where) -}}{{- end -}}
{{- end -}}
{{- if .Values.migrations.enabled -}}
{{- include "eis.checkRetrySchedule" (dict "config" (.Values.config | default dict) "where" "the migration Job (config)") -}}
{{- end -}}
{{- end -}}
