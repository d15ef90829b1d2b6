/**
 * A Redis outage must page someone for as long as it lasts, whatever the webhook traffic. With Redis down the ingress
 * still answers 202 (events wait in PostgreSQL, PENDING), the workers cannot take a job (but still export
 * webhook_worker_concurrency, so WebhookNoWorkers stays silent), webhook_queue_jobs is gone (nothing can read the
 * queue), and every pod exports webhook_dependency_up{dependency="redis"} 0 and webhook_events_unfinished > 0.
 *
 * The only alert about Redis, WebhookEnqueueFailing, needs rate(webhook_enqueue_failures_total[5m]) > 0 for 10
 * minutes in a row, i.e. a webhook at least every ~5 minutes: at low traffic (one webhook every 6 minutes), or once
 * traffic stops after the outage began, no alert fires at all while accepted events wait, undelivered, for hours.
 * Observed on a real Prometheus scraping a real ingress and worker started with an unreachable REDIS_URL: 3
 * webhooks accepted (202), 5 minutes later the WebhookEnqueueFailing condition was empty while both pods exported
 * webhook_dependency_up{dependency="redis"} 0 and webhook_events_unfinished 3, and no alert was pending or firing.
 *
 * The series below are what those two processes export (Prometheus Operator labels); promtool evaluates every alert
 * of the rule file against them.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { parse, stringify } from 'yaml';
import { skipOrFailWithoutPrometheus } from './support/missing-prometheus.js';
import { prometheusBinaries } from './support/prometheus-binaries.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RULES_FILE = path.join(root, 'charts/event-integration-service/files/alerts/rules.yaml');
const binaries = prometheusBinaries(['promtool']);

const NS = 'webhooks';
const INGRESS = { namespace: NS, job: 'eis-event-integration-service-ingress', instance: '10.0.0.1:3000' };
const WORKER = { namespace: NS, job: 'eis-event-integration-service-worker', instance: '10.0.0.5:3000' };
const MINUTES = 90;

const series = (name: string, labels: Record<string, string>, values: number[]) => ({
  series: `${name}{${Object.entries(labels).map(([key, value]) => `${key}="${value}"`).join(',')}}`,
  values: values.join(' '),
});
const constant = (value: number) => Array.from({ length: MINUTES + 1 }, () => value);

/** What the ingress and the worker export during a Redis outage that began before minute 0. */
function outageSeries(accepted: number[]) {
  return [
    series('process_start_time_seconds', INGRESS, constant(-3600)),
    series('process_start_time_seconds', WORKER, constant(-3600)),
    series('webhook_service_info', { ...INGRESS, role: 'ingress', queue: 'webhook-events' }, constant(1)),
    series('webhook_service_info', { ...WORKER, role: 'worker', queue: 'webhook-events' }, constant(1)),
    series('webhook_worker_concurrency', { ...WORKER, queue: 'webhook-events' }, constant(32)),
    ...[INGRESS, WORKER].flatMap((pod) => [
      series('webhook_dependency_up', { ...pod, dependency: 'redis' }, constant(0)),
      series('webhook_dependency_up', { ...pod, dependency: 'database' }, constant(1)),
      // Every accepted event stays PENDING: no job, and the reconciler cannot enqueue it either.
      series('webhook_events_unfinished', { ...pod, queue: 'webhook-events' }, accepted),
    ]),
    series('webhook_enqueue_failures_total', INGRESS, accepted),
    series('webhook_events_received_total', { ...INGRESS, provider: 'stripe', outcome: 'accepted' }, accepted),
    series('webhook_events_processed_total', { ...WORKER, provider: 'stripe', status: 'dead_letter' }, constant(0)),
    series('webhook_delivery_attempts_total', { ...WORKER, destination: 'crm', result: 'success' }, constant(0)),
  ];
}

/** Names of the alerts firing at any of `evalTimes` (promtool fails a case that expects none and gets some). */
function firingAlerts(inputSeries: ReturnType<typeof outageSeries>, evalTimes: string[]): string[] {
  const rules = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { rules: { alert?: string }[] }[] };
  const alerts = rules.groups.flatMap((group) => group.rules.flatMap((rule) => (rule.alert ? [rule.alert] : [])));
  const dir = mkdtempSync(path.join(tmpdir(), 'redis-outage-alert-'));
  try {
    const testsFile = path.join(dir, 'tests.yaml');
    writeFileSync(
      testsFile,
      stringify({
        rule_files: [RULES_FILE],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: inputSeries,
            alert_rule_test: evalTimes.flatMap((evalTime) => alerts.map((alertname) => ({ eval_time: evalTime, alertname }))),
          },
        ],
      }),
    );
    const run = spawnSync(binaries.promtool!, ['test', 'rules', testsFile], { encoding: 'utf8', timeout: 60_000 });
    const output = `${run.stdout}\n${run.stderr}`;
    if (run.status === 0) return [];
    const fired = [...output.matchAll(/alertname: (\w+), time: (\S+),/g)].map((m) => `${m[1]} at ${m[2]}`);
    if (fired.length === 0) throw new Error(`promtool failed: ${output}`);
    return fired;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('a Redis outage alerts whatever the webhook traffic', () => {
  if (skipOrFailWithoutPrometheus(binaries, 'promtool tests')) return;

  it('low traffic (one webhook every 6 minutes, each accepted and stuck PENDING): some alert fires within an hour', () => {
    const accepted = Array.from({ length: MINUTES + 1 }, (_, minute) => Math.floor((minute + 3) / 6));
    expect(firingAlerts(outageSeries(accepted), ['60m', '75m', '90m'])).not.toEqual([]);
  });

  it('traffic stops after the outage began (30 events accepted, then none): the alert does not resolve while Redis is still down', () => {
    const accepted = Array.from({ length: MINUTES + 1 }, (_, minute) => Math.min(30, minute * 2));
    // At 12m WebhookEnqueueFailing fires (failures every minute since 0m); by 40m it has resolved, Redis still down.
    expect(firingAlerts(outageSeries(accepted), ['12m'])).toEqual(expect.arrayContaining([expect.stringContaining('WebhookEnqueueFailing')]));
    expect(firingAlerts(outageSeries(accepted), ['40m', '60m', '90m'])).not.toEqual([]);
  });
});
