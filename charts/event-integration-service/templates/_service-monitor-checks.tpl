{{/* A Prometheus duration (the Prometheus Operator's pattern, which the schema enforces: 1h30m, 90s, 500ms, 0) in
milliseconds, as an int. Call with the duration's text. */}}
{{- define "eis.durationMs" -}}
{{- $pattern := `^(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?$` -}}
{{- $text := toString . -}}
{{- $ms := 0 -}}
{{- if and (ne $text "0") (regexMatch $pattern $text) -}}
{{- $units := list 31536000000 604800000 86400000 3600000 60000 1000 1 -}}
{{- range $i, $unit := $units -}}
{{- $digits := regexReplaceAll $pattern $text (printf "${%d}" (add $i 1)) -}}
{{- if $digits -}}{{- $ms = add $ms (mul (atoi $digits) $unit) -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- $ms -}}
{{- end -}}

{{/*
metrics.serviceMonitor's interval and scrapeTimeout, checked before the ServiceMonitor is rendered.

The interval is at most 2m: the alert rules (files/alerts/rules.yaml) take rate() and increase() over windows of 5m
and more, and each returns nothing for a series with fewer than two samples in its window. At 2m a 5m window holds
two samples even when a scrape lands up to a minute late; at 2m30s it holds exactly two, and any late or failed
scrape leaves one; at 3m many windows hold one, and an alert with a `for:` never stays pending long enough to fire
(test/chart/service-monitor-interval.test.ts plays WebhookEnqueueFailing through promtool at 2m and 3m). A shorter
window in the rules needs a smaller bound here (that test checks the rules' shortest window against it).

A scrapeTimeout
longer than the interval is a scrape config Prometheus refuses ("scrape timeout greater than scrape interval"): the
Prometheus Operator rejects the ServiceMonitor, and nothing of the release is scraped (no KEDA signal, the target
alerts firing, blank dashboards) while the install reported success. "0" leaves either to the Prometheus's global
setting, which the chart cannot see: not checked.

A scrapeTimeout is at least 3s: a scrape of an ingress pod checks Redis (webhook_dependency_up; the ingress's
readiness checks only PostgreSQL), and a Redis gone silent (a partition, a frozen node) answers that check only at
the health checks' timeout, 2 s. A shorter timeout makes Prometheus drop every ingress scrape for as long as Redis is
silent: WebhookIngressAbsent pages for an ingress that runs and accepts webhooks, and its webhook_dependency_up 0 never
reaches WebhookRedisUnavailable (test/chart/service-monitor-timeout-dependency-wait.test.ts measures the scrape).
*/}}
{{- define "eis.checkServiceMonitor" -}}
{{- $sm := .Values.metrics.serviceMonitor -}}
{{- $interval := include "eis.durationMs" $sm.interval | int -}}
{{- $timeout := include "eis.durationMs" $sm.scrapeTimeout | int -}}
{{- if gt $interval 120000 -}}
{{- fail (printf "metrics.serviceMonitor.interval=%s is over 2m: the alert rules take rate() and increase() over 5m windows, which return nothing with fewer than two samples of a series in the window; at 2m a 5m window holds two even when a scrape is a minute late, past 2m a late scrape leaves one (at 3m many windows hold one), and alerts with a for: then never fire. Use 2m or less" (toString $sm.interval)) -}}
{{- end -}}
{{- if and (gt $interval 0) (gt $timeout $interval) -}}
{{- fail (printf "metrics.serviceMonitor.scrapeTimeout=%s is longer than metrics.serviceMonitor.interval (%s): Prometheus refuses such a scrape config (scrape timeout greater than scrape interval), so the Prometheus Operator would reject the ServiceMonitor and nothing of the release would be scraped. Use a scrapeTimeout of at most the interval" (toString $sm.scrapeTimeout) (toString $sm.interval)) -}}
{{- end -}}
{{- if and (gt $timeout 0) (lt $timeout 3000) -}}
{{- fail (printf "metrics.serviceMonitor.scrapeTimeout=%s is under 3s: a scrape of an ingress pod checks Redis, and a Redis that has gone silent answers that check only at its 2 s timeout, so every ingress scrape would time out during such an outage (WebhookIngressAbsent paging for a running ingress, WebhookRedisUnavailable missing its signal). Use 3s or more" (toString $sm.scrapeTimeout)) -}}
{{- end -}}
{{- end -}}
