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
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { prometheusBinaries } from './support/prometheus-binaries.js';
import { PrometheusServer } from './support/prometheus-server.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RULES_FILE = path.join(root, 'charts/event-integration-service/files/alerts/rules.yaml');
const DASHBOARD_FILE = path.join(root, 'charts/event-integration-service/files/dashboards/event-integration-service.json');
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
const STAT = dashboard.panels.find((panel) => panel.title === 'Dead letters (range)')!.targets![0]!.expr;
const VARIABLES: [string, string][] = [
  ['$__range_s', '600'],
  ['$__range', '10m'],
  ['$namespace', '.*'],
  ['$queue', '.*'],
];
const statExpr = VARIABLES.reduce((text, [name, value]) => text.split(name).join(value), STAT);

const JOB = 'eis-event-integration-service-worker';
const SECRET = 'whsec_dead_letters_stat_restart';
const DEAD_LETTERS = 3;
const binaries = prometheusBinaries(['prometheus']);

let db: TestDatabase;
let ns: TestQueueNamespace;
let routes: TempRoutesFile;
let prometheus: PrometheusServer;
let service: ServiceProcess;
let env: Record<string, string>;
let port: number;

const value = async (expr: string) => (await prometheus.query(expr))[0]?.value;

describe('"Dead letters (range)" across a container restart', () => {
  if (binaries.missing) {
    it.skip(`real-Prometheus check (skipped: ${binaries.missing})`, () => undefined);
    return;
  }

  beforeAll(async () => {
    ns = createQueueNamespace();
    db = await createTestDatabase();
    const [servicePort, prometheusPort, closedPort] = await Promise.all([freePort(), freePort(), freePort()]);
    port = servicePort;
    routes = writeRoutesFile({
      destinations: { down: { url: `http://127.0.0.1:${closedPort}/down` } },
      routes: [{ provider: 'stripe', events: ['*'], to: ['down'] }],
    });
    env = {
      SERVICE_ROLE: 'all',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: SECRET,
      ROUTES_FILE: routes.path,
      JOB_ATTEMPTS: '1',
      LOG_LEVEL: 'warn',
    };
    service = new ServiceProcess(env, port);
    prometheus = new PrometheusServer(binaries.prometheus!, prometheusPort, {
      ruleFiles: [RULES_FILE],
      targets: [{ address: `127.0.0.1:${port}`, labels: { job: JOB, namespace: 'webhooks' } }],
    });
    await Promise.all([service.start(), prometheus.start()]);
    await waitFor('the counter at 0 in Prometheus', async () => (await value('webhook_events_processed_total{status="dead_letter"}')) === 0, {
      timeoutMs: 20_000,
      intervalMs: 250,
    });
  }, 90_000);

  afterAll(async () => {
    await service?.kill();
    await prometheus?.stop();
    await ns?.cleanup();
    await db?.drop();
    routes?.remove();
  }, 30_000);

  it('still counts the dead letters of the process before the restart', async () => {
    for (let i = 0; i < DEAD_LETTERS; i++) {
      const request = signedStripeRequest(SECRET, { id: `evt_stat_${i}`, type: 'charge.failed' });
      expect((await postWebhook(service.baseUrl, 'stripe', request.body, request.headers)).status).toBe(202);
    }
    await waitFor('the dead letters scraped', async () => (await value('webhook_events_processed_total{status="dead_letter"}')) === DEAD_LETTERS, {
      timeoutMs: 20_000,
      intervalMs: 250,
    });
    const before = await value(statExpr);

    // The container restarts: same address (instance), a new process whose counter starts at 0.
    const oldStart = await value(`process_start_time_seconds{job="${JOB}"}`);
    service.signal('SIGTERM');
    await service.exited();
    service = new ServiceProcess(env, port);
    await service.start();
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
