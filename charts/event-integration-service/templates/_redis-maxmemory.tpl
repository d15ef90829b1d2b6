{{/*
The bundled Redis's maxmemory, in Redis's own syntax ("384mb"), or empty for none.

BullMQ needs `maxmemory-policy noeviction`, and without a maxmemory nothing stops the dataset at the container's
memory limit: a backlog grows Redis until the kernel OOM-kills it (sooner during an AOF rewrite, whose fork's copied
pages count against the same cgroup), and the restart replays the same AOF into the same limit: a crash loop. With a
maxmemory below the limit Redis answers writes with an OOM error instead; the ingress keeps those events PENDING for
the reconciler and the workers go on draining the queue.

redis.maxmemory when set (Redis units: b, k, kb, m, mb, g, gb; e.g. 384mb); else 75% of
redis.resources.limits.memory (the rest is headroom for the rewrite fork, client buffers and the allocator); else
(no memory limit) none. A maxmemory at or above the memory limit is refused: it could never take effect before the
kernel's limit does.
*/}}
{{- define "eis.redis.maxmemory" -}}
{{- $r := .Values.redis -}}
{{- $limit := toString ((($r.resources | default dict).limits | default dict).memory | default "") | trim -}}
{{- $limitBytes := 0.0 -}}
{{- if $limit -}}
{{- $limitBytes = include "eis.quantityBytes" (dict "quantity" $limit "key" "redis.resources.limits.memory") | float64 -}}
{{- end -}}
{{- $wanted := toString ($r.maxmemory | default "") | trim -}}
{{- if $wanted -}}
{{- $number := regexFind "^[0-9]+" $wanted -}}
{{- $unit := lower (trimPrefix $number $wanted) -}}
{{- $multipliers := dict "" 1.0 "b" 1.0 "k" 1e3 "kb" 1024.0 "m" 1e6 "mb" 1048576.0 "g" 1e9 "gb" 1073741824.0 -}}
{{- if or (not (regexMatch "^[0-9]+[a-zA-Z]*$" $wanted)) (not (hasKey $multipliers $unit)) -}}
{{- fail (printf "redis.maxmemory %q is not a size Redis understands (a whole number with b, k, kb, m, mb, g or gb, e.g. 384mb)" $wanted) -}}
{{- end -}}
{{- $bytes := mulf (float64 $number) (get $multipliers $unit) -}}
{{- if and $limit (or (eq $bytes 0.0) (ge $bytes $limitBytes)) -}}
{{- fail (printf "redis.maxmemory %q must be below redis.resources.limits.memory (%s; 0 means no limit): Redis would grow until the kernel OOM-kills it, then crash-loop replaying its AOF. Leave redis.maxmemory empty for 75%% of the limit" $wanted $limit) -}}
{{- end -}}
{{- $wanted -}}
{{- else if $limit -}}
{{- printf "%dmb" (int (floor (divf (mulf $limitBytes 0.75) 1048576.0))) -}}
{{- end -}}
{{- end -}}
