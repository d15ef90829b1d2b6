{{/*
The bundled PostgreSQL's max_connections, from the pods' pools.

Every ingress and worker pod holds a pg pool of its own, of its role's DATABASE_POOL_SIZE (20 by default), and an
ingress pod also the admin API's data source (4 connections, ADMIN_POOL_SIZE in
services/shared/database/data-source.ts). A role runs at most its autoscaler's maxReplicas (the ingress HPA's
ingress.autoscaling.maxReplicas, KEDA's autoscaling.keda.maxReplicas for the worker), else its replicaCount, and a
rollout adds up to its strategy's maxSurge above that (a percentage rounded up, as Kubernetes does; none with
Recreate; never more than the count). PostgreSQL refuses a connection past max_connections ("sorry, too many clients
already"), so a fixed value sized for the default replicas made pods fail under scale-out: new ones never got ready,
running ones failed queries as their pools grew.

So max_connections is the sum over both roles of pods × connections per pod, plus postgresql.connectionReserve (the
migration Job, which a pre-upgrade hook runs next to the old pods at full scale: a pool of 2 and its lock's session;
`kubectl exec … psql` sessions; the probes' pg_isready), and never below PostgreSQL's own default, 100. An explicit
postgresql.parameters.max_connections is taken as it is when it covers that, else refused. Pool sizes set through
extraEnv or extraEnvFrom are not seen here.
*/}}

{{/* Pods a role's rollout runs above `replicas`, from <role>.strategy (or the chart's default strategy). Call with
(dict "root" $ "role" "ingress"|"worker" "replicas" n). */}}
{{- define "eis.rolloutSurge" -}}
{{- $strategy := (index .root.Values .role).strategy | default dict -}}
{{- $replicas := .replicas | int -}}
{{- $maxSurge := "" -}}
{{- $key := printf "%s.strategy.rollingUpdate.maxSurge" .role -}}
{{- if not $strategy -}}
{{- $maxSurge = ternary "25%" "1" (eq .role "worker") -}}
{{- else if ne (toString ($strategy.type | default "RollingUpdate")) "Recreate" -}}
{{- $maxSurge = include "eis.envValue" (($strategy.rollingUpdate | default dict).maxSurge | default "25%") -}}
{{- end -}}
{{- $surge := 0 -}}
{{- if regexMatch "^[0-9]+%$" $maxSurge -}}
{{- $surge = div (add (mul $replicas (atoi (trimSuffix "%" $maxSurge))) 99) 100 -}}
{{- else if regexMatch "^[0-9]+$" $maxSurge -}}
{{- $surge = atoi $maxSurge -}}
{{- else if $maxSurge -}}
{{- fail (printf "%s=%s: expected a pod count (1) or a percentage (25%%)" $key (toJson $maxSurge)) -}}
{{- end -}}
{{- min $surge $replicas -}}
{{- end -}}

{{/* What the service's pods may hold at once, as JSON: {"total": n, "parts": "<one line per role, for messages>"}. */}}
{{- define "eis.postgresql.connectionNeed" -}}
{{- $root := . -}}
{{- $total := 0 -}}
{{- $parts := list -}}
{{- range $role := list "ingress" "worker" -}}
{{- $replicas := 0 -}}
{{- $replicaKey := printf "%s.replicaCount" $role -}}
{{- if and (eq $role "ingress") $root.Values.ingress.autoscaling.enabled -}}
{{- $replicas = $root.Values.ingress.autoscaling.maxReplicas | int -}}
{{- $replicaKey = "ingress.autoscaling.maxReplicas" -}}
{{- else if and (eq $role "worker") $root.Values.autoscaling.keda.enabled -}}
{{- $replicas = $root.Values.autoscaling.keda.maxReplicas | int -}}
{{- $replicaKey = "autoscaling.keda.maxReplicas" -}}
{{- else -}}
{{- $replicas = (index $root.Values $role).replicaCount | int -}}
{{- end -}}
{{- $surge := include "eis.rolloutSurge" (dict "root" $root "role" $role "replicas" $replicas) | int -}}
{{- $config := include "eis.roleConfig" (dict "root" $root "role" $role) | fromJson -}}
{{- $pool := include "eis.configInt" (dict "config" $config "name" "DATABASE_POOL_SIZE" "fallback" 20) | int -}}
{{- $perPod := $pool -}}
{{- $perPodText := printf "DATABASE_POOL_SIZE %d" $pool -}}
{{- if eq $role "ingress" -}}
{{- $perPod = add $pool 4 -}}
{{- $perPodText = printf "DATABASE_POOL_SIZE %d + 4 of the admin API" $pool -}}
{{- end -}}
{{- $pods := add $replicas $surge -}}
{{- $total = add $total (mul $pods $perPod) -}}
{{- $parts = append $parts (printf "%s %d pods (%s %d + %d of a rollout's maxSurge) × %d (%s)" $role $pods $replicaKey $replicas $surge $perPod $perPodText) -}}
{{- end -}}
{{- dict "total" $total "parts" (join "; " $parts) | toJson -}}
{{- end -}}

{{/* postgresql.parameters with max_connections resolved (derived, or the explicit value checked), as JSON. */}}
{{- define "eis.postgresql.parameters" -}}
{{- $pg := .Values.postgresql -}}
{{- $need := include "eis.postgresql.connectionNeed" . | fromJson -}}
{{- $reserve := $pg.connectionReserve | int -}}
{{- $wanted := add (int $need.total) $reserve -}}
{{- $parameters := dict -}}
{{- $explicit := "" -}}
{{- $explicitKey := "" -}}
{{- range $key, $value := $pg.parameters | default dict -}}
{{- /* PostgreSQL's setting names are case-insensitive. */ -}}
{{- if eq (lower $key) "max_connections" -}}
{{- $explicit = trim (include "eis.envValue" $value) -}}
{{- $explicitKey = $key -}}
{{- else -}}
{{- $_ := set $parameters $key $value -}}
{{- end -}}
{{- end -}}
{{- if $explicitKey -}}
{{- if not (regexMatch "^[0-9]+$" $explicit) -}}
{{- fail (printf "postgresql.parameters.%s=%s: must be a whole number (PostgreSQL's max_connections); leave it unset to derive it from the pods' pools" $explicitKey (toJson $explicit)) -}}
{{- end -}}
{{- if lt (atoi $explicit) $wanted -}}
{{- fail (printf "postgresql.parameters.%s=%s is below the %d connections the pods may need: %d for the service's pools at the most pods (%s) + postgresql.connectionReserve %d (migration Job, admin sessions); past max_connections PostgreSQL refuses new connections, and pods fail to connect under scale-out. Raise it to at least %d, leave it unset to derive it, or lower the pool sizes or maxReplicas" $explicitKey $explicit $wanted (int $need.total) $need.parts $reserve $wanted) -}}
{{- end -}}
{{- $_ := set $parameters "max_connections" (atoi $explicit) -}}
{{- else -}}
{{- $_ := set $parameters "max_connections" (max $wanted 100) -}}
{{- end -}}
{{- toJson $parameters -}}
{{- end -}}
