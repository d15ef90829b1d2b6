/**
 * The dashboard's "Dead letters (range)" stat after a worker container restart. In Kubernetes a crashed or
 * OOM-killed container restarts in the same pod, so its series keep their instance label (pod IP:port) and the
 * counter starts again at 0. For a process younger than the range the stat takes only the process's raw counter
 * (`… and on (namespace, job, instance) (time() - process_start_time_seconds < $__range_s)`) and drops increase()
 * for that instance, so the dead letters of the process before the restart vanish from the stat: it says 0 while
 * WebhookDeadLettersGrowing (which takes the larger of the raw value and increase()) still fires for them.
 *
 * A real all-in-one process dead-letters events, is restarted on the same port, and a real Prometheus evaluates
 * the stat's own expression (Grafana's variables as an operator sees them: last 10 minutes, namespace "All").
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';
import { deadLettersStatExpr, startDeadLetteringService, WORKER_JOB as JOB, type DeadLetteringService } from './support/dead-lettering-service.js';
import { skipOrFailWithoutPrometheus } from './support/missing-prometheus.js';
import { prometheusBinaries } from './support/prometheus-binaries.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RULES_FILE = path.join(root, 'charts/event-integration-service/files/alerts/rules.yaml');
const statExpr = deadLettersStatExpr(600, '10m');

const SECRET = 'whsec_dead_letters_stat_restart';
const DEAD_LETTERS = 3;
const binaries = prometheusBinaries(['prometheus']);

/** The process and Prometheus; its `service` is replaced when the container restarts. */
let bed: DeadLetteringService;

const value = async (expr: string) => (await bed.prometheus.query(expr))[0]?.value;

describe('"Dead letters (range)" across a container restart', () => {
  if (skipOrFailWithoutPrometheus(binaries, 'real-Prometheus check')) return;

  beforeAll(async () => {
    bed = await startDeadLetteringService({ prometheusBinary: binaries.prometheus!, secret: SECRET, ruleFiles: [RULES_FILE] });
    await waitFor('the counter at 0 in Prometheus', async () => (await value('webhook_events_processed_total{status="dead_letter"}')) === 0, {
      timeoutMs: 20_000,
      intervalMs: 250,
    });
  }, 90_000);

  afterAll(async () => {
    await bed?.stop();
  }, 30_000);

  it('still counts the dead letters of the process before the restart', async () => {
    for (let i = 0; i < DEAD_LETTERS; i++) {
      const request = signedStripeRequest(SECRET, { id: `evt_stat_${i}`, type: 'charge.failed' });
      expect((await postWebhook(bed.service.baseUrl, 'stripe', request.body, request.headers)).status).toBe(202);
    }
    await waitFor('the dead letters scraped', async () => (await value('webhook_events_processed_total{status="dead_letter"}')) === DEAD_LETTERS, {
      timeoutMs: 20_000,
      intervalMs: 250,
    });
    const before = await value(statExpr);

    // The container restarts: same address (instance), a new process whose counter starts at 0.
    const oldStart = await value(`process_start_time_seconds{job="${JOB}"}`);
    bed.service.signal('SIGTERM');
    await bed.service.exited();
    bed.service = new ServiceProcess(bed.env, bed.port);
    await bed.service.start();
    await waitFor('the new process scraped', async () => (await value(`process_start_time_seconds{job="${JOB}"}`))! > oldStart!, { timeoutMs: 20_000, intervalMs: 250 });
    await waitFor('a few scrapes of it', async () => (await value(`count_over_time(webhook_service_info{job="${JOB}"}[3s])`))! >= 2, { timeoutMs: 10_000, intervalMs: 250 });

    const alertSees = await value(rules('WebhookDeadLettersGrowing'));
    const after = await value(statExpr);
    expect({ before, alertSees: Math.round(alertSees ?? 0) >= DEAD_LETTERS, after }).toEqual({ before: DEAD_LETTERS, alertSees: true, after: DEAD_LETTERS });
  }, 90_000);
});

function rules(alert: string): string {
  const document = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { rules: { alert?: string; expr: string }[] }[] };
  return document.groups.flatMap((group) => group.rules).find((rule) => rule.alert === alert)!.expr;
}
