{{/* ----------------------------------------------------------------------------------------------------------
Names
---------------------------------------------------------------------------------------------------------- */}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "eis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Resource-name prefix: fullnameOverride, else <release>-<chart> (or <release> when it already contains the chart name).
Truncated to 40 characters so that suffixes such as "-worker-metrics" keep names within 63. */}}
{{- define "eis.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "eis.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* ----------------------------------------------------------------------------------------------------------
Labels. Every workload's selector carries app.kubernetes.io/component, so the ingress and worker Deployments
(and the bundled PostgreSQL / Redis) never select each other's pods.
---------------------------------------------------------------------------------------------------------- */}}

{{- define "eis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "eis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "eis.labels" -}}
helm.sh/chart: {{ include "eis.chart" . }}
{{ include "eis.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: event-integration-service
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component. Call with (dict "root" $ "component" "worker"). */}}
{{- define "eis.componentSelectorLabels" -}}
{{ include "eis.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* All labels of one component. Call with (dict "root" $ "component" "worker"). */}}
{{- define "eis.componentLabels" -}}
{{ include "eis.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* ----------------------------------------------------------------------------------------------------------
Image
---------------------------------------------------------------------------------------------------------- */}}

{{/* repository:tag, or repository@digest when image.digest is set. Skaffold passes tag as "<tag>@<digest>". */}}
{{- define "eis.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) -}}
{{- end -}}
{{- end -}}

{{/* ----------------------------------------------------------------------------------------------------------
Service accounts
---------------------------------------------------------------------------------------------------------- */}}

{{- define "eis.ingress.serviceAccountName" -}}
{{- if .Values.ingress.serviceAccount.create -}}
{{- default (printf "%s-ingress" (include "eis.fullname" .)) .Values.ingress.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.ingress.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "eis.worker.serviceAccountName" -}}
{{- if .Values.worker.serviceAccount.create -}}
{{- default (printf "%s-worker" (include "eis.fullname" .)) .Values.worker.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.worker.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* ----------------------------------------------------------------------------------------------------------
PostgreSQL: bundled or external
---------------------------------------------------------------------------------------------------------- */}}

{{- define "eis.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "eis.fullname" .) -}}
{{- end -}}

{{- define "eis.database.host" -}}
{{- if .Values.postgresql.enabled -}}
{{- include "eis.postgresql.fullname" . -}}
{{- else -}}
{{- required "externalDatabase.host is required when postgresql.enabled=false" .Values.externalDatabase.host -}}
{{- end -}}
{{- end -}}

{{- define "eis.database.port" -}}
{{- if .Values.postgresql.enabled -}}5432{{- else -}}{{- .Values.externalDatabase.port | default 5432 | int -}}{{- end -}}
{{- end -}}

{{- define "eis.database.name" -}}
{{- if .Values.postgresql.enabled -}}{{ .Values.postgresql.auth.database }}{{- else -}}{{ .Values.externalDatabase.database }}{{- end -}}
{{- end -}}

{{- define "eis.database.user" -}}
{{- if .Values.postgresql.enabled -}}{{ .Values.postgresql.auth.username }}{{- else -}}{{ .Values.externalDatabase.user }}{{- end -}}
{{- end -}}

{{/* Name of the Secret holding the database password; empty when there is none (external DB without a password). */}}
{{- define "eis.database.secretName" -}}
{{- if .Values.postgresql.enabled -}}
{{- default (include "eis.postgresql.fullname" .) .Values.postgresql.auth.existingSecret -}}
{{- else if .Values.externalDatabase.existingSecret -}}
{{- .Values.externalDatabase.existingSecret -}}
{{- else if .Values.externalDatabase.password -}}
{{- printf "%s-external-database" (include "eis.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "eis.database.secretKey" -}}
{{- if .Values.postgresql.enabled -}}
{{- .Values.postgresql.auth.secretKeys.userPasswordKey | default "password" -}}
{{- else if .Values.externalDatabase.existingSecret -}}
{{- .Values.externalDatabase.existingSecretPasswordKey | default "password" -}}
{{- else -}}password{{- end -}}
{{- end -}}

{{/* ----------------------------------------------------------------------------------------------------------
Redis: bundled or external
---------------------------------------------------------------------------------------------------------- */}}

{{- define "eis.redis.fullname" -}}
{{- printf "%s-redis" (include "eis.fullname" .) -}}
{{- end -}}

{{- define "eis.redis.host" -}}
{{- if .Values.redis.enabled -}}
{{- include "eis.redis.fullname" . -}}
{{- else -}}
{{- required "externalRedis.host is required when redis.enabled=false" .Values.externalRedis.host -}}
{{- end -}}
{{- end -}}

{{- define "eis.redis.port" -}}
{{- if .Values.redis.enabled -}}6379{{- else -}}{{- .Values.externalRedis.port | default 6379 | int -}}{{- end -}}
{{- end -}}

{{- define "eis.redis.database" -}}
{{- if .Values.redis.enabled -}}0{{- else -}}{{- .Values.externalRedis.database | default 0 | int -}}{{- end -}}
{{- end -}}

{{- define "eis.redis.scheme" -}}
{{- if and (not .Values.redis.enabled) .Values.externalRedis.tls -}}rediss{{- else -}}redis{{- end -}}
{{- end -}}

{{/* Name of the Secret holding the Redis password; empty when Redis has no password. */}}
{{- define "eis.redis.secretName" -}}
{{- if .Values.redis.enabled -}}
{{- if .Values.redis.auth.enabled -}}
{{- default (include "eis.redis.fullname" .) .Values.redis.auth.existingSecret -}}
{{- end -}}
{{- else if .Values.externalRedis.existingSecret -}}
{{- .Values.externalRedis.existingSecret -}}
{{- else if .Values.externalRedis.password -}}
{{- printf "%s-external-redis" (include "eis.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "eis.redis.secretKey" -}}
{{- if .Values.redis.enabled -}}
{{- .Values.redis.auth.existingSecretPasswordKey | default "redis-password" -}}
{{- else if .Values.externalRedis.existingSecret -}}
{{- .Values.externalRedis.existingSecretPasswordKey | default "redis-password" -}}
{{- else -}}redis-password{{- end -}}
{{- end -}}

{{/* ----------------------------------------------------------------------------------------------------------
Secrets and files
---------------------------------------------------------------------------------------------------------- */}}

{{/* The Secret with provider secrets and the admin token. */}}
{{- define "eis.secretName" -}}
{{- default (include "eis.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* A secret value: the given one, else the one already stored in the cluster (stable across upgrades), else
random alphanumerics (URL-safe). Call with (dict "root" $ "name" secretName "key" key "value" given "length" n). */}}
{{- define "eis.secretValue" -}}
{{- if .value -}}
{{- .value -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- $data := dict -}}
{{- if $existing -}}{{- $data = $existing.data | default dict -}}{{- end -}}
{{- if hasKey $data .key -}}
{{- index $data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum (.length | default 32 | int) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "eis.configFilesSecretName" -}}
{{- default (printf "%s-files" (include "eis.fullname" .)) .Values.configFiles.existingSecret -}}
{{- end -}}

{{/* The PROVIDERS_FILE document, or nothing. */}}
{{- define "eis.providersDocument" -}}
{{- $p := .Values.providers | default dict -}}
{{- if $p -}}
{{- if and (hasKey $p "providers") (kindIs "map" $p.providers) (not (hasKey $p.providers "type")) -}}
{{- toYaml $p -}}
{{- else -}}
{{- toYaml (dict "providers" $p) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The ROUTES_FILE document, or nothing. */}}
{{- define "eis.routesDocument" -}}
{{- with .Values.routes -}}
{{- toYaml . -}}
{{- end -}}
{{- end -}}

{{- define "eis.hasProvidersFile" -}}
{{- if .Values.configFiles.existingSecret -}}{{- if .Values.configFiles.providersKey -}}true{{- end -}}
{{- else if include "eis.providersDocument" . -}}true{{- end -}}
{{- end -}}

{{- define "eis.hasRoutesFile" -}}
{{- if .Values.configFiles.existingSecret -}}{{- if .Values.configFiles.routesKey -}}true{{- end -}}
{{- else if include "eis.routesDocument" . -}}true{{- end -}}
{{- end -}}

{{- define "eis.configFilesDir" -}}/etc/event-integration-service{{- end -}}

{{/* ----------------------------------------------------------------------------------------------------------
Pod pieces shared by the roles
---------------------------------------------------------------------------------------------------------- */}}

{{/* A config value as an env string. Numbers from values files arrive as float64; print integral ones without
an exponent (1048576, not 1.048576e+06). */}}
{{- define "eis.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (float64 (int64 .))) -}}
{{- int64 . | toString -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* Variables the chart itself sets; `config` / `<role>.config` may not set them. */}}
{{- define "eis.reservedEnv" -}}
{{- list "SERVICE_ROLE" "PORT" "DATABASE_URL" "REDIS_URL" "REDIS_HOST" "REDIS_PORT" "PROVIDERS_FILE" "ROUTES_FILE" "POD_NAME" "POD_NAMESPACE" "STRIPE_WEBHOOK_SECRET" "GITHUB_WEBHOOK_SECRET" "PAYPAL_WEBHOOK_ID" "ADMIN_API_TOKEN" "POD_DELETION_COST_ENABLED" "OTEL_SDK_DISABLED" | toJson -}}
{{- end -}}

{{/* The merged plain config of a role (role config over shared config). Call with (dict "root" $ "role" "worker"); returns JSON. */}}
{{- define "eis.roleConfig" -}}
{{- $roleValues := dict -}}
{{- if hasKey .root.Values .role -}}{{- $roleValues = index .root.Values .role -}}{{- end -}}
{{- $merged := merge (deepCopy ($roleValues.config | default dict)) (deepCopy (.root.Values.config | default dict)) -}}
{{- $reserved := include "eis.reservedEnv" . | fromJsonArray -}}
{{- range $name, $_ := $merged -}}
{{- if has $name $reserved -}}
{{- fail (printf "config.%s is set by the chart itself; use the corresponding chart value instead" $name) -}}
{{- end -}}
{{- end -}}
{{- toJson $merged -}}
{{- end -}}

{{/* SHUTDOWN_TIMEOUT_MS of a role, as an int. Call with (dict "root" $ "role" "worker"). */}}
{{- define "eis.shutdownTimeoutMs" -}}
{{- $config := include "eis.roleConfig" . | fromJson -}}
{{- (get $config "SHUTDOWN_TIMEOUT_MS") | default 25000 | int -}}
{{- end -}}

{{/* terminationGracePeriodSeconds of a role: longer than the drain plus the preStop sleep. */}}
{{- define "eis.terminationGracePeriodSeconds" -}}
{{- $shutdownMs := include "eis.shutdownTimeoutMs" . | int -}}
{{- $preStop := .root.Values.preStopSleepSeconds | default 0 | int -}}
{{- $minimum := add (div (add $shutdownMs 999) 1000) $preStop -}}
{{- with .root.Values.terminationGracePeriodSeconds -}}
{{- if le (mul (int .) 1000) (add $shutdownMs (mul $preStop 1000)) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed SHUTDOWN_TIMEOUT_MS/1000 + preStopSleepSeconds (%d ms + %d s)" . $shutdownMs $preStop) -}}
{{- end -}}
{{- int . -}}
{{- else -}}
{{- add $minimum 10 -}}
{{- end -}}
{{- end -}}

{{/* The preStop hook: the native sleep handler (Kubernetes >= 1.30), else node sleeping (the image has no shell). */}}
{{- define "eis.lifecycle" -}}
{{- $seconds := .Values.preStopSleepSeconds | default 0 | int -}}
{{- if gt $seconds 0 }}
lifecycle:
  preStop:
{{- if semverCompare ">=1.30-0" .Capabilities.KubeVersion.Version }}
    sleep:
      seconds: {{ $seconds }}
{{- else }}
    exec:
      command: ["node", "-e", "setTimeout(() => {}, {{ mul $seconds 1000 }})"]
{{- end }}
{{- end }}
{{- end -}}

{{- define "eis.probes" -}}
startupProbe:
  httpGet:
    path: /health/live
    port: http
  periodSeconds: {{ .Values.probes.startup.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.startup.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.startup.failureThreshold }}
livenessProbe:
  httpGet:
    path: /health/live
    port: http
  periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /health/ready
    port: http
  periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
  successThreshold: {{ .Values.probes.readiness.successThreshold }}
{{- end -}}

{{/* DATABASE_PASSWORD (helper, only for $(VAR) expansion) and DATABASE_URL. The password must be URL-safe. */}}
{{- define "eis.databaseEnv" -}}
{{- $secret := include "eis.database.secretName" . -}}
{{- $user := include "eis.database.user" . | urlquery -}}
{{- $query := "" -}}
{{- if and (not .Values.postgresql.enabled) .Values.externalDatabase.urlParams -}}
{{- $query = printf "?%s" (.Values.externalDatabase.urlParams | trimPrefix "?") -}}
{{- end -}}
{{- $location := printf "%s:%s/%s%s" (include "eis.database.host" .) (include "eis.database.port" .) (include "eis.database.name" .) $query -}}
{{- if $secret }}
- name: DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "eis.database.secretKey" . }}
- name: DATABASE_URL
  value: {{ printf "postgresql://%s:$(DATABASE_PASSWORD)@%s" $user $location | quote }}
{{- else }}
- name: DATABASE_URL
  value: {{ printf "postgresql://%s@%s" $user $location | quote }}
{{- end }}
{{- end -}}

{{/* REDIS_PASSWORD (helper, only for $(VAR) expansion) and REDIS_URL. The password must be URL-safe. */}}
{{- define "eis.redisEnv" -}}
{{- $secret := include "eis.redis.secretName" . -}}
{{- $location := printf "%s:%s/%s" (include "eis.redis.host" .) (include "eis.redis.port" .) (include "eis.redis.database" .) -}}
{{- if $secret }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "eis.redis.secretKey" . }}
- name: REDIS_URL
  value: {{ printf "%s://:$(REDIS_PASSWORD)@%s" (include "eis.redis.scheme" .) $location | quote }}
{{- else }}
- name: REDIS_URL
  value: {{ printf "%s://%s" (include "eis.redis.scheme" .) $location | quote }}
{{- end }}
{{- end -}}

{{/* The environment of a role's container. Call with (dict "root" $ "role" "ingress"|"worker"|"migrations"). */}}
{{- define "eis.env" -}}
{{- $root := .root -}}
{{- $role := .role -}}
{{- $config := include "eis.roleConfig" . | fromJson -}}
{{- if ne $role "migrations" }}
- name: SERVICE_ROLE
  value: {{ $role | quote }}
- name: PORT
  value: {{ $root.Values.containerPort | quote }}
{{- end }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- range $name, $value := $config }}
- name: {{ $name }}
  value: {{ include "eis.envValue" $value | quote }}
{{- end }}
{{- if and (eq $role "ingress") (not (hasKey $config "TRUST_PROXY")) }}
{{- with include "eis.trustProxy" $root }}
- name: TRUST_PROXY
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- include "eis.databaseEnv" $root }}
{{- if ne $role "migrations" }}
{{- include "eis.redisEnv" $root }}
{{- $secretName := include "eis.secretName" $root }}
{{- range $name := list "STRIPE_WEBHOOK_SECRET" "GITHUB_WEBHOOK_SECRET" "PAYPAL_WEBHOOK_ID" "ADMIN_API_TOKEN" }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secretName }}
      key: {{ $name }}
      optional: true
{{- end }}
{{- if include "eis.hasProvidersFile" $root }}
- name: PROVIDERS_FILE
  value: {{ printf "%s/%s" (include "eis.configFilesDir" $root) ($root.Values.configFiles.providersKey | default "providers.yaml") | quote }}
{{- end }}
{{- if include "eis.hasRoutesFile" $root }}
- name: ROUTES_FILE
  value: {{ printf "%s/%s" (include "eis.configFilesDir" $root) ($root.Values.configFiles.routesKey | default "routes.yaml") | quote }}
{{- end }}
{{- end }}
{{- if eq $role "worker" }}
- name: POD_DELETION_COST_ENABLED
  value: {{ $root.Values.worker.podDeletionCost.enabled | toString | quote }}
{{- end }}
{{- if and $root.Values.otel.enabled (ne $role "migrations") }}
- name: OTEL_SDK_DISABLED
  value: "false"
- name: OTEL_SERVICE_NAME
  value: {{ printf "%s-%s" (include "eis.fullname" $root) $role | quote }}
{{- with $root.Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- $attributes := list "k8s.pod.name=$(POD_NAME)" "k8s.namespace.name=$(POD_NAMESPACE)" (printf "service.namespace=%s" $root.Release.Namespace) (printf "deployment.environment.role=%s" $role) }}
{{- range $key, $value := $root.Values.otel.resourceAttributes }}
{{- $attributes = append $attributes (printf "%s=%s" $key (toString $value)) }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attributes | quote }}
{{- else }}
- name: OTEL_SDK_DISABLED
  value: "true"
{{- end }}
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- if hasKey $root.Values $role }}
{{- with (index $root.Values $role).extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "eis.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if or (include "eis.hasProvidersFile" .) (include "eis.hasRoutesFile" .) }}
- name: config-files
  mountPath: {{ include "eis.configFilesDir" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "eis.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if or (include "eis.hasProvidersFile" .) (include "eis.hasRoutesFile" .) }}
- name: config-files
  secret:
    secretName: {{ include "eis.configFilesSecretName" . }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{/* Checksums of the Secrets the chart renders, so that pods roll when they change. */}}
{{- define "eis.checksumAnnotations" -}}
checksum/secrets: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
checksum/config-files: {{ include (print .Template.BasePath "/secret-config-files.yaml") . | sha256sum }}
{{- end -}}

{{/* Soft spread over zones and nodes. Call with (dict "root" $ "component" "worker" "custom" list). */}}
{{- define "eis.topologySpreadConstraints" -}}
{{- if .custom }}
topologySpreadConstraints:
{{ toYaml .custom }}
{{- else if .root.Values.topologySpread.enabled }}
topologySpreadConstraints:
{{- range .root.Values.topologySpread.topologyKeys }}
  - maxSkew: {{ $.root.Values.topologySpread.maxSkew }}
    topologyKey: {{ . }}
    whenUnsatisfiable: {{ $.root.Values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "eis.componentSelectorLabels" (dict "root" $.root "component" $.component) | nindent 8 }}
    matchLabelKeys:
      - pod-template-hash
{{- end }}
{{- end }}
{{- end -}}

{{/* The BullMQ list of waiting jobs, which the KEDA redis trigger measures. */}}
{{- define "eis.queueWaitList" -}}
{{- $config := include "eis.roleConfig" (dict "root" . "role" "worker") | fromJson -}}
{{- printf "%s:%s:wait" (get $config "QUEUE_PREFIX" | default "bull") (get $config "QUEUE_NAME" | default "webhook-events") -}}
{{- end -}}

{{- define "eis.queueName" -}}
{{- $config := include "eis.roleConfig" (dict "root" . "role" "worker") | fromJson -}}
{{- get $config "QUEUE_NAME" | default "webhook-events" -}}
{{- end -}}

{{/* Checks of value combinations that a schema cannot express. */}}
{{- define "eis.validate" -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.externalDatabase.host) -}}
{{- fail "postgresql.enabled=false needs externalDatabase.host" -}}
{{- end -}}
{{- if and (not .Values.redis.enabled) (not .Values.externalRedis.host) -}}
{{- fail "redis.enabled=false needs externalRedis.host" -}}
{{- end -}}
{{- if and .Values.autoscaling.keda.enabled (lt (int .Values.autoscaling.keda.maxReplicas) (int .Values.autoscaling.keda.minReplicas)) -}}
{{- fail "autoscaling.keda.maxReplicas must be >= minReplicas" -}}
{{- end -}}
{{- if and .Values.ingress.autoscaling.enabled (lt (int .Values.ingress.autoscaling.maxReplicas) (int .Values.ingress.autoscaling.minReplicas)) -}}
{{- fail "ingress.autoscaling.maxReplicas must be >= minReplicas" -}}
{{- end -}}
{{- end -}}

{{/*
TRUST_PROXY of the ingress role: `ingress.trustProxy` when set; else, when the chart's Ingress is on, the private
ranges its controller's pods (and a cloud load balancer in front of them) connect from, so the client address (for
the failed-verification budget and logs) is the one the controller appends to X-Forwarded-For; else unset.
*/}}
{{- define "eis.trustProxy" -}}
{{- if .Values.ingress.trustProxy -}}
{{- .Values.ingress.trustProxy -}}
{{- else if .Values.ingress.ingressResource.enabled -}}
loopback, linklocal, uniquelocal
{{- end -}}
{{- end -}}
