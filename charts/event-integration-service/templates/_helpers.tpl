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

{{/*
An object's labels as one map (JSON), so that a key set in more than one place is written once: the chart's own
(helm.sh/chart, the selector labels, version, managed-by, part-of, and app.kubernetes.io/component when a component
is given), then `commonLabels`, then the object's own labels (`extra`: a role's podLabels, the ServiceMonitor's
labels...), each replacing the one before for an informational label. Their values are written as eis.labelValue
gives them (integers as digits, invalid values refused); a null value leaves the label out (Helm's null: unset). A
selector label (app.kubernetes.io/{name,instance,component}) in commonLabels or `extra` is refused, naming the values
key: it would change a workload's immutable selector, or take pods out of their selector. Call with (dict "root" $ ["component" "worker"]
["extra" <map> "key" "<the values key extra comes from>"]).
*/}}
{{- define "eis.labelMap" -}}
{{- $root := .root -}}
{{- $labels := dict "helm.sh/chart" (include "eis.chart" $root) "app.kubernetes.io/version" $root.Chart.AppVersion "app.kubernetes.io/managed-by" $root.Release.Service "app.kubernetes.io/part-of" "event-integration-service" -}}
{{- $selector := dict "app.kubernetes.io/name" (include "eis.name" $root) "app.kubernetes.io/instance" $root.Release.Name -}}
{{- if .component -}}
{{- $_ := set $selector "app.kubernetes.io/component" .component -}}
{{- end -}}
{{- $labels = merge $labels $selector -}}
{{- $refused := list "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/component" -}}
{{- range $source := list (dict "key" "commonLabels" "labels" $root.Values.commonLabels) (dict "key" .key "labels" .extra) -}}
{{- range $name, $value := $source.labels -}}
{{- if has $name $refused -}}
{{- fail (printf "%s: %q is a selector label the chart sets (it would change the workloads' selectors, or take pods out of them); remove it" $source.key $name) -}}
{{- end -}}
{{- if not (kindIs "invalid" $value) -}}
{{- $_ := set $labels $name (include "eis.labelValue" (dict "key" $source.key "name" $name "value" $value)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $labels -}}
{{- end -}}

{{/* Writes a label map (from eis.labelMap) as YAML lines, sorted, each value quoted: a label value must be a string. */}}
{{- define "eis.writeLabels" -}}
{{- $lines := list -}}
{{- range $name, $value := . -}}
{{- $lines = append $lines (printf "%s: %s" $name ($value | toString | quote)) -}}
{{- end -}}
{{- join "\n" $lines -}}
{{- end -}}

{{/* Labels of a release-wide object (no component): the chart's and commonLabels. Call with $. */}}
{{- define "eis.labels" -}}
{{- include "eis.writeLabels" (include "eis.labelMap" (dict "root" .) | fromJson) -}}
{{- end -}}

{{/* Labels of a release-wide object with labels of its own (a values key) laid over the chart's and commonLabels.
Call with (dict "root" $ "extra" $sm.labels "key" "metrics.serviceMonitor.labels"). */}}
{{- define "eis.labelsWith" -}}
{{- include "eis.writeLabels" (include "eis.labelMap" (dict "root" .root "extra" .extra "key" .key) | fromJson) -}}
{{- end -}}

{{/* Selector labels of one component. Not affected by commonLabels: selectors are immutable and must keep matching.
Call with (dict "root" $ "component" "worker"). */}}
{{- define "eis.componentSelectorLabels" -}}
{{ include "eis.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* All labels of one component. Call with (dict "root" $ "component" "worker"). */}}
{{- define "eis.componentLabels" -}}
{{- include "eis.writeLabels" (include "eis.labelMap" (dict "root" .root "component" .component) | fromJson) -}}
{{- end -}}

{{/*
A component's pod template labels: the chart's (componentLabels) with the component's podLabels as one map, so a key
in both is written once. podLabels wins for an informational label (part-of, a commonLabels key); a selector label
is refused, since the pods would no longer match their Deployment's (or Job's) selector.
Call with (dict "root" $ "component" "worker" "podLabels" $values.podLabels "key" "worker.podLabels").
*/}}
{{- define "eis.podLabels" -}}
{{- include "eis.writeLabels" (include "eis.labelMap" (dict "root" .root "component" .component "extra" .podLabels "key" .key) | fromJson) -}}
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
random alphanumerics (URL-safe). Call with (dict "root" $ "name" secretName "key" key "value" given "length" n).
The same wherever one render asks for it: a template may be rendered twice (secret.yaml for the Deployments'
checksum/secrets) or a value read by two (the bundled PostgreSQL's Secret and the migration Job's hook Secret), and
two randAlphaNum would give two values, one of which never reaches the cluster. So the first result per Secret and
key is kept in .Values, which every template of a render shares. */}}
{{- define "eis.secretValue" -}}
{{- if .value -}}
{{- .value -}}
{{- else -}}
{{- if not (hasKey .root.Values "__eisGenerated") -}}
{{- $_ := set .root.Values "__eisGenerated" dict -}}
{{- end -}}
{{- $memo := index .root.Values "__eisGenerated" -}}
{{- $memoKey := printf "%s/%s" .name .key -}}
{{- if not (hasKey $memo $memoKey) -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- $data := dict -}}
{{- if $existing -}}{{- $data = $existing.data | default dict -}}{{- end -}}
{{- if hasKey $data .key -}}
{{- $_ := set $memo $memoKey (index $data .key | b64dec) -}}
{{- else -}}
{{- $_ := set $memo $memoKey (randAlphaNum (.length | default 32 | int)) -}}
{{- end -}}
{{- end -}}
{{- index $memo $memoKey -}}
{{- end -}}
{{- end -}}

{{/* The bundled PostgreSQL's password (eis.secretValue of its chart-made Secret), the same wherever one render asks
for it: the Secret the database is initialised from and the migration Job's hook Secret. */}}
{{- define "eis.postgresql.password" -}}
{{- include "eis.secretValue" (dict "root" . "name" (include "eis.database.secretName" .) "key" (include "eis.database.secretKey" .) "value" .Values.postgresql.auth.password "length" 32) -}}
{{- end -}}

{{/* The bundled Redis's password in its chart-made Secret (eis.secretValue: the same in the Secret, in the Redis pod's
checksum and in the app pods' checksum/datastore-secrets); empty without auth or with redis.auth.existingSecret. */}}
{{- define "eis.redis.password" -}}
{{- if and .Values.redis.enabled .Values.redis.auth.enabled (not .Values.redis.auth.existingSecret) -}}
{{- include "eis.secretValue" (dict "root" . "name" (include "eis.redis.secretName" .) "key" (include "eis.redis.secretKey" .) "value" .Values.redis.auth.password "length" 32) -}}
{{- end -}}
{{- end -}}

{{/* The admin token of the chart-made Secret: secrets.adminApiToken, else (secrets.generateAdminApiToken) the one
already in the cluster, else a generated one (eis.secretValue keeps it for the whole render: the Deployments'
checksum/secrets hashes the token the Secret carries); empty when neither is set. */}}
{{- define "eis.adminApiToken" -}}
{{- if or .Values.secrets.adminApiToken .Values.secrets.generateAdminApiToken -}}
{{- include "eis.secretValue" (dict "root" . "name" (include "eis.fullname" .) "key" "ADMIN_API_TOKEN" "value" .Values.secrets.adminApiToken "length" 40) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding PRESTOP_TOKEN, the credential of the ingress pods' preStop hook. A Secret of its own, made by the
chart whatever secrets.existingSecret says: the hook's header is a literal in the pod spec, so the chart needs the
value when it renders, and it cannot read it from a Secret it does not make (`lookup` is not there in `helm
template`). */}}
{{- define "eis.preStopSecretName" -}}
{{- printf "%s-prestop" (include "eis.fullname" .) -}}
{{- end -}}

{{/* "true" when the ingress pods' preStop hook is the httpGet on /health/prestop, the one that needs PRESTOP_TOKEN. */}}
{{- define "eis.preStopHttpGet" -}}
{{- if and (gt (include "eis.preStopSeconds" (dict "root" . "role" "ingress") | int) 0) (eq (.Values.ingress.preStopHandler | default "httpGet") "httpGet") -}}true{{- end -}}
{{- end -}}

{{/* PRESTOP_TOKEN: secrets.preStopToken, else the one already in its Secret, else a generated one (eis.secretValue:
one value for the whole render, so the Secret and the hook's header carry the same). */}}
{{- define "eis.preStopToken" -}}
{{- include "eis.secretValue" (dict "root" . "name" (include "eis.preStopSecretName" .) "key" "PRESTOP_TOKEN" "value" .Values.secrets.preStopToken "length" 40) -}}
{{- end -}}

{{/* ----------------------------------------------------------------------------------------------------------
The migration Job. As a pre-upgrade hook it runs before the new release's objects are applied, against whatever
the old release left: so everything it needs from the chart (its database password, its ServiceAccount, its
NetworkPolicy) is rendered as hook objects of the same hook, created just before it (lower weight), whatever the
old release had. What it needs from outside the chart (an existingSecret, extraEnvFrom) exists independently.
---------------------------------------------------------------------------------------------------------- */}}

{{/* Name of the migration Job and of its hook objects. */}}
{{- define "eis.migrations.name" -}}
{{- printf "%s-migrate" (include "eis.fullname" .) -}}
{{- end -}}

{{/*
helm.sh/hook of the Job and its hook objects. post-install: on a first install the bundled PostgreSQL exists only
once the release's objects are applied. pre-upgrade: the schema is migrated before new pods roll out. Except for
an upgrade that brings the bundled PostgreSQL in (an external -> bundled switch, or PostgreSQL switched back on):
its Service does not exist before the upgrade applies it, so a pre-upgrade Job could never reach it; that upgrade
migrates post-upgrade, as an install does (new pods stay unready until then). Decided by `lookup`; `helm template`
renders as an install does.
*/}}
{{- define "eis.migrations.hook" -}}
{{- if and .Release.IsUpgrade .Values.postgresql.enabled (not (lookup "v1" "Service" .Release.Namespace (include "eis.postgresql.fullname" .))) -}}
post-upgrade
{{- else -}}
post-install,pre-upgrade
{{- end -}}
{{- end -}}

{{/* The Secret (JSON: name, key) the migration Job reads the database password from: an existingSecret as it is
(yours, there before and after the upgrade), else the Job's own hook Secret. Empty object: no password. */}}
{{- define "eis.migrations.databaseSecret" -}}
{{- $name := include "eis.database.secretName" . -}}
{{- $existing := ternary .Values.postgresql.auth.existingSecret .Values.externalDatabase.existingSecret .Values.postgresql.enabled -}}
{{- if not $name -}}
{{- dict | toJson -}}
{{- else if $existing -}}
{{- dict "name" $name "key" (include "eis.database.secretKey" .) | toJson -}}
{{- else -}}
{{- dict "name" (include "eis.migrations.name" .) "key" "password" "hook" true | toJson -}}
{{- end -}}
{{- end -}}

{{/* The migration Job's ServiceAccount: its own hook ServiceAccount when the chart creates the ingress one (which a
pre-upgrade Job could not count on: a new name, or create switched on, exists only after the upgrade), else the
one ingress.serviceAccount.name names (yours, or "default"). */}}
{{- define "eis.migrations.serviceAccountName" -}}
{{- if .Values.ingress.serviceAccount.create -}}
{{- include "eis.migrations.name" . -}}
{{- else -}}
{{- include "eis.ingress.serviceAccountName" . -}}
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
{{- list "SERVICE_ROLE" "PORT" "DATABASE_URL" "REDIS_URL" "REDIS_HOST" "REDIS_PORT" "PROVIDERS_FILE" "ROUTES_FILE" "POD_NAME" "POD_NAMESPACE" "STRIPE_WEBHOOK_SECRET" "GITHUB_WEBHOOK_SECRET" "PAYPAL_WEBHOOK_ID" "ADMIN_API_TOKEN" "PRESTOP_TOKEN" "POD_DELETION_COST_ENABLED" "OTEL_SDK_DISABLED" | toJson -}}
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
{{- include "eis.configInt" (dict "config" $config "name" "SHUTDOWN_TIMEOUT_MS" "fallback" 25000) -}}
{{- end -}}

{{/* Seconds the preStop hook of a role holds off SIGTERM: preStopSleepSeconds for the ingress role (the pod that
receives Service traffic), 0 for the worker (no Service traffic to wait out: a sleep would only delay its drain). */}}
{{- define "eis.preStopSeconds" -}}
{{- if eq .role "ingress" -}}{{- .root.Values.preStopSleepSeconds | default 0 | int -}}{{- else -}}0{{- end -}}
{{- end -}}

{{/* terminationGracePeriodSeconds of a role: longer than the drain plus the role's preStop hold. */}}
{{- define "eis.terminationGracePeriodSeconds" -}}
{{- $shutdownMs := include "eis.shutdownTimeoutMs" . | int -}}
{{- $preStop := include "eis.preStopSeconds" . | int -}}
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

{{/*
The preStop hook of a role; nothing for the worker. The ingress role's default is an httpGet on
/health/prestop?sleepSeconds=N: the service fails readiness and answers every further response with
`Connection: close` from then on, and holds the answer N seconds, while endpoints and load balancers drop the pod;
the kubelet waits for the answer (within the grace period) and then sends SIGTERM. `ingress.preStopHandler: sleep`
only sleeps (the native sleep handler on Kubernetes >= 1.30, else node, as the image has no shell): for images
without /health/prestop. The httpGet sends PRESTOP_TOKEN in X-Prestop-Token, as a literal: the kubelet cannot read a
Secret for a hook (only env and volumes come from Secrets). Whoever can read the pod spec can delete the pod
anyway, so the literal gives nobody a power over the pod they did not have; the pod reads the same token from its
Secret (eis.env). Call with (dict "root" $ "role" "ingress"|"worker").
*/}}
{{- define "eis.lifecycle" -}}
{{- $root := .root -}}
{{- $seconds := include "eis.preStopSeconds" . | int -}}
{{- if gt $seconds 0 }}
lifecycle:
  preStop:
{{- if eq ($root.Values.ingress.preStopHandler | default "httpGet") "httpGet" }}
    httpGet:
      path: {{ printf "/health/prestop?sleepSeconds=%d" $seconds }}
      port: http
      httpHeaders:
        - name: X-Prestop-Token
          value: {{ include "eis.preStopToken" $root | quote }}
{{- else if semverCompare ">=1.30-0" $root.Capabilities.KubeVersion.Version }}
    sleep:
      seconds: {{ $seconds }}
{{- else }}
    exec:
      command: ["node", "-e", "setTimeout(() => {}, {{ mul $seconds 1000 }})"]
{{- end }}
{{- end }}
{{- end -}}

{{/* STARTUP_WAIT_MS of a role (the service's default when unset). Call with (dict "root" $ "role" "ingress"|"worker"). */}}
{{- define "eis.startupWaitMs" -}}
{{- $config := include "eis.roleConfig" . | fromJson -}}
{{- include "eis.configInt" (dict "config" $config "name" "STARTUP_WAIT_MS" "fallback" 120000) -}}
{{- end -}}

{{/*
failureThreshold of a role's startupProbe. The service opens its port only once PostgreSQL answers, which it waits
for up to STARTUP_WAIT_MS, so the probe fails all that time: its budget (periodSeconds × failureThreshold) must
outlast the wait, or the kubelet kills a container that is doing what it was configured to do. Empty
probes.startup.failureThreshold: derived as ceil((STARTUP_WAIT_MS / 1000 + 60) / periodSeconds), the 60 s margin
for what follows the wait (Redis, the files, listening); 36 with the defaults. An explicit value must give a budget
above STARTUP_WAIT_MS / 1000; the chart refuses to render otherwise. Call with (dict "root" $ "role" "ingress"|"worker").
*/}}
{{- define "eis.startupFailureThreshold" -}}
{{- $startup := .root.Values.probes.startup -}}
{{- $period := $startup.periodSeconds | int -}}
{{- $waitMs := include "eis.startupWaitMs" . | int -}}
{{- if lt $period 1 -}}
{{- fail (printf "probes.startup.periodSeconds (%v) must be at least 1" $startup.periodSeconds) -}}
{{- end -}}
{{- with $startup.failureThreshold -}}
{{- if le (mul (int .) $period 1000) $waitMs -}}
{{- fail (printf "probes.startup.failureThreshold (%v) × periodSeconds (%d) must exceed STARTUP_WAIT_MS/1000 of the %s role (%d ms): the port stays closed while the service waits for PostgreSQL; leave failureThreshold empty to derive it" . $period $.role $waitMs) -}}
{{- end -}}
{{- int . -}}
{{- else -}}
{{- $budgetSeconds := add (div (add $waitMs 999) 1000) 60 -}}
{{- div (add $budgetSeconds (sub $period 1)) $period -}}
{{- end -}}
{{- end -}}

{{/* The probes of a role's container. Call with (dict "root" $ "role" "ingress"|"worker"). */}}
{{- define "eis.probes" -}}
{{- $probes := .root.Values.probes -}}
startupProbe:
  httpGet:
    path: /health/live
    port: http
  periodSeconds: {{ $probes.startup.periodSeconds }}
  timeoutSeconds: {{ $probes.startup.timeoutSeconds }}
  failureThreshold: {{ include "eis.startupFailureThreshold" . }}
livenessProbe:
  httpGet:
    path: /health/live
    port: http
  periodSeconds: {{ $probes.liveness.periodSeconds }}
  timeoutSeconds: {{ $probes.liveness.timeoutSeconds }}
  failureThreshold: {{ $probes.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /health/ready
    port: http
  periodSeconds: {{ $probes.readiness.periodSeconds }}
  timeoutSeconds: {{ $probes.readiness.timeoutSeconds }}
  failureThreshold: {{ $probes.readiness.failureThreshold }}
  successThreshold: {{ $probes.readiness.successThreshold }}
{{- end -}}

{{/* DATABASE_PASSWORD (helper, only for $(VAR) expansion) and DATABASE_URL. The password must be URL-safe.
Call with (dict "root" $ "role" "ingress"|"worker"|"migrations"): the migration Job reads the password from the
Secret eis.migrations.databaseSecret names. */}}
{{- define "eis.databaseEnv" -}}
{{- $role := .role -}}
{{- with .root -}}
{{- $secret := include "eis.database.secretName" . -}}
{{- $secretKey := include "eis.database.secretKey" . -}}
{{- if and $secret (eq $role "migrations") -}}
{{- $migration := include "eis.migrations.databaseSecret" . | fromJson -}}
{{- $secret = $migration.name -}}
{{- $secretKey = $migration.key -}}
{{- end -}}
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
      key: {{ $secretKey }}
- name: DATABASE_URL
  value: {{ printf "postgresql://%s:$(DATABASE_PASSWORD)@%s" $user $location | quote }}
{{- else }}
- name: DATABASE_URL
  value: {{ printf "postgresql://%s@%s" $user $location | quote }}
{{- end }}
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
{{- include "eis.databaseEnv" (dict "root" $root "role" $role) }}
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
{{- /* The workers too, though they have no hook: without it their /health/prestop takes loopback callers, which in a
service mesh is every caller (the sidecar forwards from 127.0.0.1). */}}
{{- if include "eis.preStopHttpGet" $root }}
- name: PRESTOP_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "eis.preStopSecretName" $root }}
      key: PRESTOP_TOKEN
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

{{/* Checksums of the Secrets the chart renders, so that pods roll when they change (both roles read every one of them;
test/chart/checksum-secret-readers.test.ts checks that each workload hashes what it reads). A pod reads a secretKeyRef
only when it starts: without its checksum, a changed datastore password would reach only pods started later, which
would then hold a different password from the pods still running (and, for the bundled Redis, from the server). */}}
{{- define "eis.checksumAnnotations" -}}
checksum/secrets: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
checksum/config-files: {{ include (print .Template.BasePath "/secret-config-files.yaml") . | sha256sum }}
checksum/datastore-secrets: {{ include "eis.datastorePasswords" . | sha256sum }}
{{- /* PRESTOP_TOKEN: both roles read it from its Secret (eis.env). The ingress pods would roll anyway (the hook's header
is a literal in their spec); the workers only through this. */}}
checksum/prestop-token: {{ include (print .Template.BasePath "/secret-prestop.yaml") . | sha256sum }}
{{- end -}}

{{/* The PostgreSQL and Redis passwords the chart puts in Secrets of its own (the bundled ones' generated or given
passwords, externalDatabase.password, externalRedis.password), as JSON, for checksum/datastore-secrets. An
existingSecret is yours: the chart cannot see its contents under `helm template`, so rolling the pods after you
change it is yours too. */}}
{{- define "eis.datastorePasswords" -}}
{{- $passwords := dict -}}
{{- if .Values.postgresql.enabled -}}
{{- if not .Values.postgresql.auth.existingSecret -}}
{{- $_ := set $passwords "postgresql" (include "eis.postgresql.password" .) -}}
{{- end -}}
{{- else if and (not .Values.externalDatabase.existingSecret) .Values.externalDatabase.password -}}
{{- $_ := set $passwords "externalDatabase" (toString .Values.externalDatabase.password) -}}
{{- end -}}
{{- if .Values.redis.enabled -}}
{{- with include "eis.redis.password" . -}}
{{- $_ := set $passwords "redis" . -}}
{{- end -}}
{{- else if and (not .Values.externalRedis.existingSecret) .Values.externalRedis.password -}}
{{- $_ := set $passwords "externalRedis" (toString .Values.externalRedis.password) -}}
{{- end -}}
{{- toJson $passwords -}}
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

{{/* A text variable of a merged config as the service reads it: `fallback` (its default) when unset or blank as
trim() sees it (" " or U+00A0 included), else the value as the pod gets it (a number printed as eis.envValue prints
it). Call with (dict "config" $config "name" "QUEUE_NAME" "fallback" "webhook-events"). */}}
{{- define "eis.configString" -}}
{{- $value := "" -}}
{{- if hasKey .config .name -}}{{- $value = include "eis.envValue" (get .config .name) -}}{{- end -}}
{{- if regexMatch (printf "^%s*$" (include "eis.jsBlank" dict)) $value -}}{{- .fallback -}}{{- else -}}{{- $value -}}{{- end -}}
{{- end -}}

{{/* The BullMQ list of waiting jobs, which the KEDA redis trigger measures. */}}
{{- define "eis.queueWaitList" -}}
{{- $config := include "eis.roleConfig" (dict "root" . "role" "worker") | fromJson -}}
{{- printf "%s:%s:wait" (include "eis.configString" (dict "config" $config "name" "QUEUE_PREFIX" "fallback" "bull")) (include "eis.queueName" .) -}}
{{- end -}}

{{/* The worker's queue, as the `queue` label of its metrics carries it. */}}
{{- define "eis.queueName" -}}
{{- $config := include "eis.roleConfig" (dict "root" . "role" "worker") | fromJson -}}
{{- include "eis.configString" (dict "config" $config "name" "QUEUE_NAME" "fallback" "webhook-events") -}}
{{- end -}}

{{/*
A password in a Secret the values name (existingSecret) reaches the pods raw inside DATABASE_URL / REDIS_URL
($(DATABASE_PASSWORD), $(REDIS_PASSWORD)), which the service percent-decodes: `/`, `#` and `?` end the URL's user
part (the pods exit 78, Invalid configuration), and `%XX` is read as the character it encodes. An external server's
password may be stored percent-encoded; a bundled server takes the Secret's value raw, so its may hold no `%` at all.
Checked when the chart can read the Secret (install and upgrade: lookup); `helm template` cannot. The chart's own
passwords are checked by the schema. Call with (dict "root" $ "key" "<values key>" "secret" name "secretKey" key
"bundled" bool).
*/}}
{{- define "eis.checkUrlPassword" -}}
{{- if .secret -}}
{{- $live := lookup "v1" "Secret" .root.Release.Namespace .secret | default dict -}}
{{- $data := $live.data | default dict -}}
{{- if hasKey $data .secretKey -}}
{{- $password := index $data .secretKey | b64dec -}}
{{- $problem := "" -}}
{{- if regexMatch "[/#?]" $password -}}
{{- $problem = "holds / # or ?, which end the URL's user part (every pod would exit 78: Invalid configuration)" -}}
{{- else if and .bundled (contains "%" $password) -}}
{{- $problem = "holds %, which the service percent-decodes while the bundled server takes the password as it is (they would not agree)" -}}
{{- else if regexMatch "%([^0-9A-Fa-f]|[0-9A-Fa-f][^0-9A-Fa-f]|[0-9A-Fa-f]?$)" $password -}}
{{- $problem = "holds a % that starts no %XX sequence (the URL cannot be decoded)" -}}
{{- end -}}
{{- with $problem -}}
{{- fail (printf "%s: the password in Secret %s (key %s) %s. It goes into %s as it is, percent-decoded by the service: %s" $.key $.secret $.secretKey . (ternary "REDIS_URL" "DATABASE_URL" (hasPrefix "redis" $.key)) (ternary "use a password of letters, digits and - . _ ~" "store it percent-encoded (/ as %2F, # as %23, ? as %3F, % as %25), or use one without these characters" $.bundled)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Checks of value combinations that a schema cannot express. */}}
{{- define "eis.validate" -}}
{{- include "eis.checkConfig" . -}}
{{- /* The ingress enqueues into its <QUEUE_PREFIX>:<QUEUE_NAME>, the workers take from theirs: a role's own config
(ingress.config / worker.config) must not part them, or no worker takes what the ingress queues (the reconciler
finds each event stranded, late, and the ingress's jobs pile up in Redis). Compared as the service reads them. */}}
{{- $ingressConfig := include "eis.roleConfig" (dict "root" . "role" "ingress") | fromJson -}}
{{- $workerConfig := include "eis.roleConfig" (dict "root" . "role" "worker") | fromJson -}}
{{- range $name, $fallback := dict "QUEUE_NAME" "webhook-events" "QUEUE_PREFIX" "bull" -}}
{{- $ingressValue := include "eis.configString" (dict "config" $ingressConfig "name" $name "fallback" $fallback) -}}
{{- $workerValue := include "eis.configString" (dict "config" $workerConfig "name" $name "fallback" $fallback) -}}
{{- if ne $ingressValue $workerValue -}}
{{- fail (printf "%s differs between the roles: the ingress would queue events under %q and the workers take jobs under %q, so no worker would take them (each delivered only once the reconciler finds it stranded, the ingress's jobs left in Redis). Set it in `config` for both, not in ingress.config or worker.config alone" $name $ingressValue $workerValue) -}}
{{- end -}}
{{- end -}}
{{- if .Values.postgresql.enabled -}}
{{- include "eis.checkUrlPassword" (dict "root" . "key" "postgresql.auth.existingSecret" "secret" .Values.postgresql.auth.existingSecret "secretKey" (include "eis.database.secretKey" .) "bundled" true) -}}
{{- else -}}
{{- include "eis.checkUrlPassword" (dict "root" . "key" "externalDatabase.existingSecret" "secret" .Values.externalDatabase.existingSecret "secretKey" (include "eis.database.secretKey" .) "bundled" false) -}}
{{- end -}}
{{- if .Values.redis.enabled -}}
{{- if .Values.redis.auth.enabled -}}
{{- include "eis.checkUrlPassword" (dict "root" . "key" "redis.auth.existingSecret" "secret" .Values.redis.auth.existingSecret "secretKey" (include "eis.redis.secretKey" .) "bundled" true) -}}
{{- end -}}
{{- else -}}
{{- include "eis.checkUrlPassword" (dict "root" . "key" "externalRedis.existingSecret" "secret" .Values.externalRedis.existingSecret "secretKey" (include "eis.redis.secretKey" .) "bundled" false) -}}
{{- end -}}
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
TRUST_PROXY of the ingress role: `ingress.trustProxy` when set; else, when the chart's Ingress is on
(`ingress.publicIngress`, or the deprecated `ingress.ingressResource`), the private
ranges its controller's pods (and a cloud load balancer in front of them) connect from, so the client address (for
the failed-verification budget and logs) is the one the controller appends to X-Forwarded-For; else unset.
*/}}
{{- define "eis.trustProxy" -}}
{{- if .Values.ingress.trustProxy -}}
{{- .Values.ingress.trustProxy -}}
{{- else if (include "eis.publicIngress" . | fromJson).enabled -}}
loopback, linklocal, uniquelocal
{{- end -}}
{{- end -}}

{{/*
The public Ingress's settings, as JSON: `ingress.publicIngress`, or the deprecated `ingress.ingressResource` (chart
0.2) laid over publicIngress's defaults. Both at once would be ambiguous, so the chart refuses that.
*/}}
{{- define "eis.publicIngress" -}}
{{- $public := deepCopy (.Values.ingress.publicIngress | default dict) -}}
{{- $legacy := .Values.ingress.ingressResource | default dict -}}
{{- if $legacy -}}
{{- if $public.enabled -}}
{{- fail "ingress.ingressResource is the deprecated name of ingress.publicIngress: set only ingress.publicIngress" -}}
{{- end -}}
{{- $public = mergeOverwrite $public (deepCopy $legacy) -}}
{{- end -}}
{{- toJson $public -}}
{{- end -}}

{{/*
`replicas` of a role's Deployment. Without an autoscaler: <role>.replicaCount. With one (the ingress HPA, KEDA for
the worker), the autoscaler owns the count, yet leaving `replicas` out of a Deployment that had it makes the
upgrade remove the field, and Kubernetes defaults it to 1: switching an autoscaler on would scale a running
release down to one pod until the autoscaler acts. So, while the Deployment exists, the chart renders the count
it has now (never below the autoscaler's minimum): the upgrade leaves the pods alone, and the autoscaler goes on
from there. On a first install, or where the chart cannot look (`helm template`, GitOps renderers), `replicas` is
left out. Call with (dict "root" $ "role" "ingress"|"worker"); empty when `replicas` is to be left out.
*/}}
{{- define "eis.replicas" -}}
{{- $root := .root -}}
{{- $autoscaled := false -}}
{{- $minimum := 0 -}}
{{- if eq .role "worker" -}}
{{- $autoscaled = $root.Values.autoscaling.keda.enabled -}}
{{- $minimum = $root.Values.autoscaling.keda.minReplicas | default 0 | int -}}
{{- else -}}
{{- $autoscaled = $root.Values.ingress.autoscaling.enabled -}}
{{- $minimum = $root.Values.ingress.autoscaling.minReplicas | default 1 | int -}}
{{- end -}}
{{- if not $autoscaled -}}
{{- (index $root.Values .role).replicaCount | int -}}
{{- else -}}
{{- $live := lookup "apps/v1" "Deployment" $root.Release.Namespace (printf "%s-%s" (include "eis.fullname" $root) .role) -}}
{{- if and $live (hasKey ($live.spec | default dict) "replicas") -}}
{{- max ($live.spec.replicas | int) $minimum -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The fewest pods of a role a healthy release runs: <role>.replicaCount without an autoscaler, else the autoscaler's
minimum (the ingress HPA's minReplicas; KEDA's autoscaling.keda.minReplicas for the worker, which may be 0: KEDA then
stops every worker while no work is left; a replicaCount of 0 stops the role). The target alerts of the
PrometheusRule are rendered only for a role whose minimum is above 0, and NOTES.txt says when a replicaCount of 0
leaves a role without pods (and so without its alert). Call with (dict "root" $ "role" "ingress"|"worker").
*/}}
{{- define "eis.minimumReplicas" -}}
{{- $root := .root -}}
{{- if eq .role "worker" -}}
{{- if $root.Values.autoscaling.keda.enabled -}}
{{- $root.Values.autoscaling.keda.minReplicas | default 0 | int -}}
{{- else -}}
{{- $root.Values.worker.replicaCount | int -}}
{{- end -}}
{{- else if $root.Values.ingress.autoscaling.enabled -}}
{{- $root.Values.ingress.autoscaling.minReplicas | default 1 | int -}}
{{- else -}}
{{- $root.Values.ingress.replicaCount | int -}}
{{- end -}}
{{- end -}}

{{/* The value eis.minimumReplicas reads for a role, by name, for error messages. Call with (dict "root" $ "role" r). */}}
{{- define "eis.replicaSource" -}}
{{- if eq .role "worker" -}}
{{- ternary "autoscaling.keda.minReplicas" "worker.replicaCount" .root.Values.autoscaling.keda.enabled -}}
{{- else -}}
{{- ternary "ingress.autoscaling.minReplicas" "ingress.replicaCount" .root.Values.ingress.autoscaling.enabled -}}
{{- end -}}
{{- end -}}

{{/* ----------------------------------------------------------------------------------------------------------
Guards for the bundled StatefulSets: refuse, before anything is applied, what Kubernetes or the data would refuse
after half an upgrade. They read the cluster (`lookup`), so `helm template` and --dry-run=client skip them.
---------------------------------------------------------------------------------------------------------- */}}

{{/* A Kubernetes quantity ("8Gi", "0.5Ti", "500M") in bytes, so sizes compare however they are spelt. Call with
(dict "quantity" q "key" "<the value it comes from>"): the key names the value in the error. */}}
{{- define "eis.quantityBytes" -}}
{{- $quantity := toString .quantity | trim -}}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $quantity -}}
{{- $suffix := trimPrefix $number $quantity -}}
{{- $multipliers := dict "" 1.0 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 -}}
{{- if or (not $number) (not (hasKey $multipliers $suffix)) -}}
{{- fail (printf "%s %q is not a size the chart understands (use e.g. 8Gi or 512Mi)" .key $quantity) -}}
{{- end -}}
{{- mulf (float64 $number) (get $multipliers $suffix) -}}
{{- end -}}

{{/*
A StatefulSet's volumeClaimTemplates cannot change: Kubernetes refuses the update and the upgrade fails half done
(after the pre-upgrade migration). Compared with the live StatefulSet: persistence on/off, size, storage class (unset,
"-" for an explicit empty class, or a name: three different templates), access modes and annotations. Call with (dict "root" $ "name" <StatefulSet name> "key" "postgresql"|"redis").
*/}}
{{- define "eis.volumeClaimGuard" -}}
{{- $root := .root -}}
{{- $namespace := $root.Release.Namespace -}}
{{- $persistence := (index $root.Values .key).persistence -}}
{{- $live := lookup "apps/v1" "StatefulSet" $namespace .name -}}
{{- if $live -}}
{{- $claims := $live.spec.volumeClaimTemplates | default list -}}
{{- $readme := printf "chart README, \"Resizing or changing the bundled volumes\"" -}}
{{- if ne (len $claims | toString) (ternary "1" "0" (eq ($persistence.enabled | toString) "true")) -}}
{{- fail (printf "%s.persistence.enabled cannot change on a running release: the volumeClaimTemplates of StatefulSet %s are immutable (Kubernetes would refuse the upgrade). Back up the data, delete the StatefulSet (kubectl -n %s delete statefulset %s), then upgrade; see the %s." .key .name $namespace .name $readme) -}}
{{- end -}}
{{- if $claims -}}
{{- $spec := (index $claims 0).spec | default dict -}}
{{- $pvc := printf "data-%s-0" .name -}}
{{- $liveSize := toString ((($spec.resources | default dict).requests | default dict).storage | default "0") -}}
{{- $liveBytes := include "eis.quantityBytes" (dict "quantity" $liveSize "key" (printf "the volume size of StatefulSet %s" .name)) | float64 -}}
{{- $wantedBytes := include "eis.quantityBytes" (dict "quantity" $persistence.size "key" (printf "%s.persistence.size" .key)) | float64 -}}
{{- if lt $wantedBytes $liveBytes -}}
{{- fail (printf "%s.persistence.size %s is smaller than the %s volume of StatefulSet %s: a PersistentVolumeClaim never shrinks. Keep %s (or move the data to a new, smaller volume yourself)." .key (toString $persistence.size) $liveSize .name $liveSize) -}}
{{- else if gt $wantedBytes $liveBytes -}}
{{- fail (printf "%s.persistence.size %s -> %s cannot be applied by an upgrade: the volumeClaimTemplates of StatefulSet %s are immutable (Kubernetes would refuse the update, leaving the release failed). Resize in three steps, with a StorageClass that allows volume expansion: (1) kubectl -n %s patch pvc %s -p '{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"%s\"}}}}'  (2) kubectl -n %s delete statefulset %s --cascade=orphan  (the pod and its volume keep running)  (3) run this upgrade again. See the %s." .key $liveSize (toString $persistence.size) .name $namespace $pvc (toString $persistence.size) $namespace .name $readme) -}}
{{- end -}}
{{- $wantedClass := $persistence.storageClass | default "(unset)" -}}
{{- if eq $wantedClass "-" -}}{{- $wantedClass = "" -}}{{- end -}}
{{- $liveClass := ternary $spec.storageClassName "(unset)" (hasKey $spec "storageClassName") -}}
{{- if ne $liveClass $wantedClass -}}
{{- fail (printf "%s.persistence.storageClass %q differs from the %q the volume of StatefulSet %s was made with, and volumeClaimTemplates are immutable. Keep %q, or move the data to a new volume (back up, delete the StatefulSet and its PVC %s, upgrade, restore); see the %s." .key $wantedClass $liveClass .name $liveClass $pvc $readme) -}}
{{- end -}}
{{- $liveAnnotations := ((index $claims 0).metadata | default dict).annotations | default dict -}}
{{- if ne (toJson $liveAnnotations) (toJson ($persistence.annotations | default dict)) -}}
{{- fail (printf "%s.persistence.annotations %s differ from the %s of StatefulSet %s's volume claim template, and volumeClaimTemplates are immutable. Keep %s (annotate the PersistentVolumeClaim %s itself instead); see the %s." .key (toJson ($persistence.annotations | default dict)) (toJson $liveAnnotations) .name (toJson $liveAnnotations) $pvc $readme) -}}
{{- end -}}
{{- if ne (toJson ($spec.accessModes | default list)) (toJson ($persistence.accessModes | default list)) -}}
{{- fail (printf "%s.persistence.accessModes %s differ from the %s of StatefulSet %s, and volumeClaimTemplates are immutable. Keep %s; see the %s." .key (toJson $persistence.accessModes) (toJson $spec.accessModes) .name (toJson $spec.accessModes) $readme) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The bundled PostgreSQL's data directory, on its volume, opens only with a server of the major version that wrote it:
an upgrade that moves postgresql.image.tag to another major version (16 -> 17) would roll the StatefulSet onto a
server that refuses the volume and crash-loops ("database files are incompatible with server"), every pod without its
database. Compared with the live StatefulSet's image (the leading number of each tag); a tag that names no version
(latest, a digest) and a release without persistence are not checked.
*/}}
{{- define "eis.postgresql.majorVersionGuard" -}}
{{- $pg := .Values.postgresql -}}
{{- if $pg.persistence.enabled -}}
{{- $name := include "eis.postgresql.fullname" . -}}
{{- $live := lookup "apps/v1" "StatefulSet" .Release.Namespace $name -}}
{{- if $live -}}
{{- $containers := ((($live.spec | default dict).template | default dict).spec | default dict).containers | default list -}}
{{- range $containers -}}
{{- if eq .name "postgresql" -}}
{{- $liveTag := regexReplaceAll "^.*:" (regexReplaceAll "@.*$" (toString .image) "") "" -}}
{{- $liveMajor := regexFind "^[0-9]+" $liveTag -}}
{{- $wantedMajor := regexFind "^[0-9]+" (toString $pg.image.tag) -}}
{{- if and $liveMajor $wantedMajor (ne $liveMajor $wantedMajor) -}}
{{- fail (printf "postgresql.image.tag %s is PostgreSQL %s, but the volume of StatefulSet %s holds a PostgreSQL %s data directory (image %s), which a server of another major version refuses to open: the database would crash-loop. Keep postgresql.image.tag at %s, or move the data yourself: pg_dump it, delete the StatefulSet and its PVC data-%s-0, upgrade, and restore it" (toString $pg.image.tag) $wantedMajor $name $liveMajor .image $liveMajor $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The bundled PostgreSQL's data is initialised with the password of its Secret, once. When the chart would generate
a new password (no auth.password, no auth.existingSecret, no Secret left to read it from) while the volume from an
earlier install is still there, the new password would not open the old data: the pods would fail to log in.
Refuse, and say how to go on.
*/}}
{{- define "eis.postgresql.passwordGuard" -}}
{{- $pg := .Values.postgresql -}}
{{- if and $pg.persistence.enabled (not $pg.auth.password) (not $pg.auth.existingSecret) -}}
{{- $name := include "eis.postgresql.fullname" . -}}
{{- $secret := lookup "v1" "Secret" .Release.Namespace $name | default dict -}}
{{- if not (hasKey ($secret.data | default dict) (include "eis.database.secretKey" .)) -}}
{{- $pvc := printf "data-%s-0" $name -}}
{{- if lookup "v1" "PersistentVolumeClaim" .Release.Namespace $pvc -}}
{{- fail (printf "postgresql: the volume %s holds a database initialised with a password whose Secret %s is gone (the release was uninstalled, or the bundled PostgreSQL was switched off and on again), and a newly generated password would not open it. Set postgresql.auth.password (or postgresql.auth.existingSecret) to the password the data was created with (a copy you saved, or the Secret in `helm get manifest %s --revision <n>` of a revision that had it), or start with an empty database by deleting the volume: kubectl -n %s delete pvc %s. See the chart README, \"Generated passwords, uninstall and volumes\"." $pvc $name .Release.Name .Release.Namespace $pvc) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
