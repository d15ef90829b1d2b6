/**
 * Every dashboard query, the alert rules and the KEDA query, evaluated by a real Prometheus scraping real ingress and
 * worker processes. Targets carry the labels the Prometheus Operator gives ServiceMonitor targets, in a release named
 * "worker-hooks" (so the ingress's job name contains "worker"), next to an unrelated app of the same namespace whose
 * job is "payments-worker" and which exports process_*, nodejs_* and http_request_duration_seconds of its own, and
 * Prometheus scraping itself (no namespace label). Phases: idle, mixed traffic with a retry and a dead letter, a
 * destination's open circuit, admin token guessing, a captured delivery re-sent past the duplicate budget, enqueue
 * failures (the ingress cut off from Redis), PostgreSQL cut off from the ingress and a worker outage. Each query must return data when its condition happens, nothing of
 * the unrelated app or of Prometheus, and no NaN; the KEDA query exactly one series.
 *
 * Needs Debian's `prometheus` package; skipped with a message when it is missing, unless REQUIRE_PROMETHEUS is set
 * (CI), which makes that a failure.
 */
import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { releaseNamespace, renderChart } from '../chart/helm.js';
import { adminGetFrom } from '../support/admin-budget.js';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { skipOrFailWithoutPrometheus } from './support/missing-prometheus.js';
import { prometheusBinaries } from './support/prometheus-binaries.js';
import { PrometheusServer, type QuerySeries } from './support/prometheus-server.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RULES_FILE = path.join(root, 'charts/event-integration-service/files/alerts/rules.yaml');
const DASHBOARD_FILE = path.join(root, 'charts/event-integration-service/files/dashboards/event-integration-service.json');

const NAMESPACE = releaseNamespace;
const FULLNAME = 'worker-hooks-event-integration-service';
const INGRESS_JOB = `${FULLNAME}-ingress`;
const WORKER_JOB = `${FULLNAME}-worker`;
const OTHER_JOB = 'payments-worker';
const QUEUE = 'webhook-events'; // the chart's QUEUE_NAME: the KEDA query selects it
const STRIPE_SECRET = 'whsec_prometheus_queries_secret';
const BACKOFF_MS = 6000; // BullMQ's jitter makes the first retry wait 3–6 s
const RECONCILER_STALE_MS = 6000;
const ADMIN_TOKEN = 'prometheus-queries-admin-token';
const ADMIN_LIMIT = 3; // ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE: wrong admin tokens an address gets a minute
// DUPLICATE_WEBHOOK_LIMIT_PER_MINUTE: duplicates an address is answered 200 a minute. Above what the steady-traffic
// phase re-sends from 127.0.0.1 in a minute, so only the flood's address (127.0.0.9) spends it.
const DUPLICATE_LIMIT = 100;

/** Grafana's variables as an operator sees them with "All" selected. */
const VARIABLES: [string, string][] = [
  ['$__rate_interval', '5s'],
  ['$__range_s', '600'],
  ['$__range', '10m'],
  ['$namespace', '.*'],
  ['$release', '.*'],
  ['$queue', '.*'],
];

const binaries = prometheusBinaries(['prometheus']);

interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: { refId: string; expr: string }[];
}
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: Panel[] };
const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
const rules = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { rules: { alert?: string; expr: string }[] }[] };
const alertExpr = (name: string) => rules.groups.flatMap((group) => group.rules).find((rule) => rule.alert === name)!.expr;

const substitute = (expr: string) => VARIABLES.reduce((text, [name, value]) => text.split(name).join(value), expr);

/** A check of one query's answer: undefined when it holds, else what is wrong. */
type Check = (series: QuerySeries[]) => string | undefined;

const describeSeries = (series: QuerySeries[]) => JSON.stringify(series.map((s) => ({ ...s.metric, value: s.value })));
const labelsMatch = (series: QuerySeries, labels: Record<string, string>) => Object.entries(labels).every(([key, value]) => series.metric[key] === value);

/** Exactly one series, whose value satisfies `test`. */
const single =
  (test: (value: number) => boolean, what: string): Check =>
  (series) =>
    series.length === 1 && test(series[0]!.value) ? undefined : `expected one series with ${what}`;
/** A series with these labels whose value satisfies `test`. */
const has =
  (labels: Record<string, string>, test: (value: number) => boolean, what: string): Check =>
  (series) =>
    series.some((s) => labelsMatch(s, labels) && test(s.value)) ? undefined : `expected a series ${JSON.stringify(labels)} with ${what}`;
const none =
  (labels: Record<string, string>): Check =>
  (series) =>
    series.some((s) => labelsMatch(s, labels)) ? `expected no series ${JSON.stringify(labels)}` : undefined;
const jobsAre =
  (jobs: string[]): Check =>
  (series) => {
    const seen = [...new Set(series.map((s) => s.metric.job))].sort();
    return JSON.stringify(seen) === JSON.stringify([...jobs].sort()) ? undefined : `expected series of jobs ${jobs.join(', ')}, got ${seen.join(', ')}`;
  };
const all =
  (...checks: Check[]): Check =>
  (series) =>
    checks.map((check) => check(series)).find((problem) => problem !== undefined);
const positive = (value: number) => value > 0;

/** What every answer must avoid: series of the unrelated app or of Prometheus, and NaN. */
const clean: Check = (series) => {
  const foreign = series.filter((s) => s.metric.job === OTHER_JOB || s.metric.job === 'prometheus' || s.metric.route === '/other');
  if (foreign.length > 0) return `series of another app: ${describeSeries(foreign)}`;
  if (series.some((s) => Number.isNaN(s.value))) return 'a NaN series';
  return undefined;
};

let prometheus: PrometheusServer;
let db: TestDatabase;
let ns: TestQueueNamespace;
let okSink: HttpSink;
let badSink: HttpSink;
let routes: TempRoutesFile;
let redisProxy: TcpProxy;
let pgProxy: TcpProxy;
let ingress: ServiceProcess;
let worker: ServiceProcess;
let otherApp: Server;
let kedaQuery: string;
let kedaThreshold: number;
const checked = new Set<string>();
const problems: string[] = [];

/** Polls a query until `check` (and {@link clean}) hold; fails with the last answer. */
async function expectQuery(what: string, expr: string, check: Check, timeoutMs = 8_000): Promise<QuerySeries[]> {
  let last = '';
  try {
    return await waitFor(
      what,
      async () => {
        const series = await prometheus.query(expr);
        const problem = clean(series) ?? check(series);
        last = `${problem ?? 'ok'}; answer ${describeSeries(series)}`;
        return problem === undefined ? series : false;
      },
      { timeoutMs, intervalMs: 250 },
    );
  } catch (error) {
    throw new Error(`${what}: ${last || (error as Error).message}\nquery: ${expr}`);
  }
}

/**
 * Every target of every panel titled `title` (and `refId`, when given) must pass `check`. A failure is collected,
 * not thrown, so one run reports every panel that is wrong; each phase ends with {@link noProblems}.
 */
async function expectPanel(title: string, check: Check, { refId, timeoutMs }: { refId?: string; timeoutMs?: number } = {}): Promise<void> {
  const matching = panels.filter((panel) => panel.title === title);
  if (matching.length === 0) throw new Error(`no panel titled "${title}"`);
  for (const panel of matching) {
    for (const target of (panel.targets ?? []).filter((t) => refId === undefined || t.refId === refId)) {
      try {
        await expectQuery(`panel "${title}" ${target.refId}`, substitute(target.expr), check, timeoutMs);
        checked.add(`${panel.id}/${target.refId}`);
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
  }
}

/** Like {@link expectQuery}, collecting the failure instead of throwing it. */
async function expectSoon(what: string, expr: string, check: Check, timeoutMs?: number): Promise<void> {
  try {
    await expectQuery(what, expr, check, timeoutMs);
  } catch (error) {
    problems.push((error as Error).message);
  }
}

function noProblems(): void {
  const found = problems.splice(0);
  expect(found).toEqual([]);
}

/** A Node app of someone else in the same namespace: its own process, event-loop and HTTP metrics. */
function startOtherApp(): Promise<Server> {
  const started = Date.now() / 1000 - 30;
  let scrapes = 0;
  const server = createServer((req, res) => {
    scrapes += 1;
    const requests = scrapes * 100; // slow requests (all above 5 s), many of them
    const labels = 'method="GET",route="/other",status_code="200"';
    const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
      .map((le) => `http_request_duration_seconds_bucket{${labels},le="${le}"} 0`)
      .join('\n');
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(
      [
        '# TYPE process_start_time_seconds gauge',
        `process_start_time_seconds ${started}`,
        '# TYPE process_cpu_seconds_total counter',
        `process_cpu_seconds_total ${scrapes * 0.9}`,
        '# TYPE process_resident_memory_bytes gauge',
        'process_resident_memory_bytes 987654321',
        '# TYPE nodejs_eventloop_lag_p99_seconds gauge',
        'nodejs_eventloop_lag_p99_seconds 9',
        '# TYPE http_request_duration_seconds histogram',
        buckets,
        `http_request_duration_seconds_bucket{${labels},le="+Inf"} ${requests}`,
        `http_request_duration_seconds_sum{${labels}} ${requests * 9}`,
        `http_request_duration_seconds_count{${labels}} ${requests}`,
        '',
      ].join('\n'),
    );
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const operatorLabels = (job: string, pod: string, container: string) => ({
  job,
  namespace: NAMESPACE,
  service: job,
  pod,
  container,
  endpoint: 'http',
});

const post = async (id: string, type: string) => {
  const request = signedStripeRequest(STRIPE_SECRET, { id, type });
  return (await postWebhook(ingress.baseUrl, 'stripe', request.body, request.headers)).status;
};

/** The status of one signed stripe webhook sent from source address `from` (127.0.0.x), on a connection of its own. */
const postFrom = (request: { body: string; headers: Record<string, string> }, from: string) =>
  new Promise<number>((resolve, reject) => {
    const url = new URL(ingress.baseUrl);
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: '/webhooks/stripe', method: 'POST', localAddress: from, agent: false, headers: request.headers },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      },
    );
    req.on('error', reject);
    req.end(request.body);
  });

describe('dashboard, alert and KEDA queries on a real Prometheus', () => {
  if (skipOrFailWithoutPrometheus(binaries, 'real-Prometheus checks')) return;

  beforeAll(async () => {
    const scaled = renderChart([], ['autoscaling.keda.enabled=true', 'autoscaling.keda.minReplicas=0']).find((o) => o.kind === 'ScaledObject')!;
    const trigger = scaled.spec.triggers[0] as { metadata: { query: string; threshold: string } };
    kedaQuery = trigger.metadata.query;
    kedaThreshold = Number(trigger.metadata.threshold);

    ns = createQueueNamespace();
    [db, okSink, badSink, otherApp] = await Promise.all([
      createTestDatabase(),
      new HttpSink().start(),
      new HttpSink(() => ({ status: 500 })).start(),
      startOtherApp(),
    ]);
    routes = writeRoutesFile({
      destinations: {
        ok: { url: `${okSink.url}/ok` },
        bad: { url: `${badSink.url}/bad` },
        // A breaker that opens at the first failure and stays open for the whole test.
        held: { url: `${badSink.url}/held`, circuitBreaker: { failureThreshold: 1, cooldownMs: 600_000 } },
      },
      routes: [
        { provider: 'stripe', events: ['invoice.*'], to: ['ok'] },
        { provider: 'stripe', events: ['charge.*'], to: ['bad'] },
        { provider: 'stripe', events: ['refund.*'], to: ['held'] },
      ],
    });
    // The ingress reaches Redis through a proxy the test can cut (enqueue failures); the worker directly.
    const redisUrl = new URL(ns.redisUrl);
    redisProxy = new TcpProxy(redisUrl.hostname, Number(redisUrl.port || 6379));
    const ingressRedis = new URL(ns.redisUrl);
    ingressRedis.hostname = '127.0.0.1';
    ingressRedis.port = String(await redisProxy.start());
    // PostgreSQL too, through a proxy of its own (a storage outage the ingress alone sees).
    const dbUrl = new URL(db.url);
    pgProxy = new TcpProxy(dbUrl.hostname, Number(dbUrl.port || 5432));
    const ingressDb = new URL(db.url);
    ingressDb.hostname = '127.0.0.1';
    ingressDb.port = String(await pgProxy.start());

    const [ingressPort, workerPort, prometheusPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const common = {
      DATABASE_URL: db.url,
      QUEUE_PREFIX: ns.prefix,
      QUEUE_NAME: QUEUE,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      ROUTES_FILE: routes.path,
      JOB_ATTEMPTS: '2',
      JOB_BACKOFF_MS: String(BACKOFF_MS),
      LOG_LEVEL: 'warn',
    };
    ingress = new ServiceProcess(
      {
        ...common,
        SERVICE_ROLE: 'ingress',
        REDIS_URL: ingressRedis.toString(),
        DATABASE_URL: ingressDb.toString(),
        ADMIN_API_TOKEN: ADMIN_TOKEN,
        ADMIN_AUTH_FAILURE_LIMIT_PER_MINUTE: String(ADMIN_LIMIT),
        DUPLICATE_WEBHOOK_LIMIT_PER_MINUTE: String(DUPLICATE_LIMIT),
      },
      ingressPort,
    );
    worker = new ServiceProcess(
      {
        ...common,
        SERVICE_ROLE: 'worker',
        REDIS_URL: ns.redisUrl,
        WORKER_CONCURRENCY: '4',
        RECONCILER_INTERVAL_MS: '500',
        RECONCILER_STALE_MS: String(RECONCILER_STALE_MS),
      },
      workerPort,
    );
    prometheus = new PrometheusServer(binaries.prometheus!, prometheusPort, {
      ruleFiles: [RULES_FILE],
      targets: [
        { address: `127.0.0.1:${ingressPort}`, labels: operatorLabels(INGRESS_JOB, `${INGRESS_JOB}-6d8f9c7b5-x2k4p`, 'event-integration-service') },
        { address: `127.0.0.1:${workerPort}`, labels: operatorLabels(WORKER_JOB, `${WORKER_JOB}-5f7c8d9b6-q7w8e`, 'event-integration-service') },
        { address: `127.0.0.1:${(otherApp.address() as AddressInfo).port}`, labels: operatorLabels(OTHER_JOB, 'payments-worker-7b9d6f-m3n4b', 'app') },
      ],
    });
    await Promise.all([ingress.start(), worker.start(), prometheus.start()]);

    // Every target up and scraped a few times before anything happens.
    await expectQuery('all four targets up', 'sum(up)', single((value) => value === 4, 'value 4'), 20_000);
    await expectQuery('three scrapes of the worker', `count_over_time(up{job="${WORKER_JOB}"}[1m])`, single((value) => value >= 3, 'at least 3'), 20_000);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([ingress?.kill(), worker?.kill()]);
    await prometheus?.stop();
    await redisProxy?.stop();
    await pgProxy?.stop();
    await new Promise<void>((resolve) => (otherApp ? otherApp.close(() => resolve()) : resolve()));
    await Promise.all([okSink?.stop(), badSink?.stop()]);
    await ns?.cleanup();
    await db?.drop();
    routes?.remove();
  }, 30_000);

  it('idle: one worker counted (not the ingress or payments-worker), only this service’s processes, KEDA at 0', async () => {
    await expectSoon('the KEDA query', kedaQuery, single((value) => value === 0, 'value 0'));
    // Counters exist at 0 before anything happened (so increase() will see their first step).
    await expectSoon(
      'the stripe dead-letter counter at 0',
      `webhook_events_processed_total{job="${WORKER_JOB}",provider="stripe",status="dead_letter"}`,
      single((value) => value === 0, 'value 0'),
    );
    await expectSoon(
      'the bad destination’s http_error counter at 0',
      `webhook_delivery_attempts_total{job="${WORKER_JOB}",destination="bad",result="http_error"}`,
      single((value) => value === 0, 'value 0'),
    );
    await expectSoon(
      'the stripe unavailable counter at 0',
      `webhook_events_received_total{job="${INGRESS_JOB}",provider="stripe",outcome="unavailable"}`,
      single((value) => value === 0, 'value 0'),
    );
    await expectPanel('Worker replicas', single((value) => value === 1, 'value 1'));
    await expectPanel('CPU by process', jobsAre([INGRESS_JOB, WORKER_JOB]));
    await expectPanel('Memory and event-loop lag', jobsAre([INGRESS_JOB, WORKER_JOB]));
    await expectPanel('Dead letters (range)', single((value) => value === 0, 'value 0'));
    await expectSoon('the WebhookNoWorkers condition', alertExpr('WebhookNoWorkers'), (series) => (series.length === 0 ? undefined : 'expected nothing'));
    await expectSoon('the database check of the ingress', `webhook_dependency_up{job="${INGRESS_JOB}",dependency="database"}`, single((value) => value === 1, 'value 1'));
    await expectSoon('the WebhookStorageUnavailable condition', alertExpr('WebhookStorageUnavailable'), (series) => (series.length === 0 ? undefined : 'expected nothing'));
    await expectPanel('Dependency checks passing', all(
      has({ job: INGRESS_JOB, dependency: 'database' }, (value) => value === 1, 'value 1'),
      has({ job: INGRESS_JOB, dependency: 'redis' }, (value) => value === 1, 'value 1'),
      has({ job: WORKER_JOB, dependency: 'redis' }, (value) => value === 1, 'value 1'),
    ), { timeoutMs: 20_000 });
    await expectPanel('Unfinished events (PostgreSQL)', single((value) => value === 0, 'value 0'));
    // Both reasons at 0 from the start (so increase() sees the first refusal), and nothing to alert on.
    await expectPanel('Admin API refusals by reason', all(
      has({ reason: 'wrong_token' }, (value) => value === 0, 'value 0'),
      has({ reason: 'budget_spent' }, (value) => value === 0, 'value 0'),
    ));
    await expectSoon('the WebhookAdminAuthRefused condition', alertExpr('WebhookAdminAuthRefused'), (series) => (series.length === 0 ? undefined : 'expected nothing'));
    await expectSoon('the WebhookDuplicatesRefused condition', alertExpr('WebhookDuplicatesRefused'), (series) => (series.length === 0 ? undefined : 'expected nothing'));
    // A worker runs, its counters at 0: the worker-only panels draw its series, and not the 0 line they show only
    // while no worker runs (an `or` alone would add it always: its labels match none of the left side's).
    await expectPanel('Events processed by status', all(has({ status: 'completed' }, (value) => value === 0, 'value 0'), none({ status: 'all' })));
    await expectPanel('Dead-letter growth', all(has({ provider: 'stripe' }, (value) => value === 0, 'value 0'), none({ provider: 'all' })));
    await expectPanel('Delivery attempts by destination and result', all(
      has({ destination: 'ok', result: 'success' }, (value) => value === 0, 'value 0'),
      none({ destination: 'all', result: 'attempts' }),
    ));
    await expectPanel('Enqueue failures and reconciler requeues', all(
      has({ status: 'PENDING' }, (value) => value === 0, 'value 0'),
      none({ status: 'any status' }),
    ), { refId: 'B' });
    noProblems();
  }, 90_000);

  it('a retry wakes KEDA; a failing destination shows; the first dead letter of a provider shows and fires', async () => {
    // One event to the failing destination, nothing else in flight: attempt 1 fails, the job waits in backoff
    // (delayed, its event FAILED), attempt 2 dead-letters it.
    expect(await post('evt_charge_failed', 'charge.failed')).toBe(202);
    // Only a running worker moves a delayed job on, so with minReplicas 0 the KEDA query asks for one replica
    // although nothing waits (the query without the wake terms answers 0 here).
    await expectSoon('the KEDA query during a retry’s backoff', kedaQuery, single((value) => value >= kedaThreshold, `a value ≥ ${kedaThreshold}`), BACKOFF_MS);
    await expectPanel('Delivery attempts by destination and result', has({ destination: 'bad', result: 'http_error' }, positive, 'a positive rate'));
    await expectPanel('Delivery failure ratio by destination', has({ destination: 'bad' }, (value) => value === 1, 'ratio 1'));
    await expectPanel('Events processed by status', has({ status: 'failed' }, positive, 'a positive rate'));

    // The first dead letter of stripe on this worker: its counter went 0 → 1, so increase() sees it.
    await expectPanel('Dead-letter growth', has({ provider: 'stripe' }, positive, 'a positive increase'), { timeoutMs: BACKOFF_MS + 10_000 });
    await expectPanel('Dead letters (range)', single((value) => value >= 1, 'a value ≥ 1'));
    await expectSoon(
      'WebhookDeadLettersGrowing firing in Prometheus',
      `ALERTS{alertname="WebhookDeadLettersGrowing",alertstate="firing",namespace="${NAMESPACE}",provider="stripe"}`,
      single((value) => value === 1, 'one firing alert'),
    );
    // BullMQ keeps the dead-lettered job as failed; the backlog panel leaves it out.
    await expectSoon('the retained failed job', `max(webhook_queue_jobs{queue="${QUEUE}",state="failed"})`, single((value) => value >= 1, 'a value ≥ 1'));
    await expectPanel('Queue depth by state', all(has({ state: 'waiting' }, (value) => value >= 0, 'a value'), none({ state: 'failed' })));
    noProblems();
  }, 90_000);

  it('steady traffic: ingest, HTTP latency (this service only), processing and delivery panels', async () => {
    // Signed webhooks, a duplicate and a forged one every 200 ms while the panels are read.
    let running = true;
    let sent = 0;
    const traffic = (async () => {
      while (running) {
        sent += 1;
        await post(`evt_steady_${sent}`, 'invoice.paid');
        await post(`evt_steady_${sent}`, 'invoice.paid');
        const forged = signedStripeRequest('whsec_wrong_secret', { id: `evt_forged_${sent}` });
        await postWebhook(ingress.baseUrl, 'stripe', forged.body, forged.headers);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    try {
      expect((await postWebhook(ingress.baseUrl, 'nope', '{}', { 'content-type': 'application/json' })).status).toBe(404);
      await expectPanel('Webhooks accepted / s', single(positive, 'a positive value'));
      await expectPanel('Rejected / s', single(positive, 'a positive value'));
      await expectPanel('Webhooks received by provider and outcome', all(
        has({ provider: 'stripe', outcome: 'accepted' }, positive, 'a positive rate'),
        has({ provider: 'stripe', outcome: 'duplicate' }, positive, 'a positive rate'),
        has({ provider: 'stripe', outcome: 'invalid_signature' }, positive, 'a positive rate'),
      ));
      // The other app's requests all take over 5 s: mixed in, they would pull every percentile to 5.
      await expectPanel('HTTP latency percentiles', single((value) => value < 2.5, 'a value under 2.5 s'));
      await expectPanel('p99 latency by route', has({ route: '/webhooks/:provider' }, (value) => value < 2.5, 'a value under 2.5 s'));
      await expectPanel('HTTP requests by status code', all(
        has({ route: '/webhooks/:provider', status_code: '202' }, positive, 'a positive rate'),
        has({ route: '/webhooks/:provider', status_code: '401' }, positive, 'a positive rate'),
      ));
      await expectPanel('Events processed by status', has({ status: 'completed' }, positive, 'a positive rate'));
      await expectPanel('Processing duration', single((value) => value >= 0, 'a value'));
      await expectPanel('Delivery attempts by destination and result', has({ destination: 'ok', result: 'success' }, positive, 'a positive rate'));
      await expectPanel('Delivery failure ratio by destination', has({ destination: 'ok' }, (value) => value === 0, 'ratio 0'));
      await expectPanel('Delivery latency p95 by destination', has({ destination: 'ok' }, (value) => value >= 0 && value < 2.5, 'a value'));
    } finally {
      running = false;
      await traffic;
    }
    noProblems();
  }, 90_000);

  it('destination protection: a circuit opened by a failure holds its event (waiting, put off, no dead letter); pause state shows', async () => {
    // Attempt 1 fails and opens the circuit; the retry finds it open and the event waits (no attempt used).
    expect(await post('evt_refund_held', 'refund.created')).toBe(202);
    await expectPanel('Circuit open for', has({ destination: 'held' }, positive, 'a positive age'), { timeoutMs: 15_000 });
    await expectPanel('Paused destinations', all(has({ destination: 'held' }, (value) => value === 0, 'value 0'), has({ destination: 'ok' }, (value) => value === 0, 'value 0')));
    await expectPanel('Deliveries put off by reason', has({ destination: 'held', reason: 'circuit_open' }, positive, 'a positive rate'), { timeoutMs: BACKOFF_MS + 15_000 });
    await expectPanel('Events waiting by destination', all(has({ destination: 'held' }, (value) => value === 1, 'value 1'), has({ destination: 'ok' }, (value) => value === 0, 'value 0')));
    // Open for seconds, not ten minutes: the alert's condition is not met.
    await expectSoon('the WebhookDestinationCircuitOpen condition', alertExpr('WebhookDestinationCircuitOpen'), (series) => (series.length === 0 ? undefined : 'expected nothing'));
    // The event has waited seconds, not an hour: the held-too-long condition is not met either.
    await expectSoon('the WebhookDestinationHeldTooLong condition', alertExpr('WebhookDestinationHeldTooLong'), (series) => (series.length === 0 ? undefined : 'expected nothing'));
    // Its job is delayed: the queue's "Oldest waiting job" does not see it, this panel does.
    await expectPanel('Oldest held event by destination', has({ destination: 'held' }, positive, 'a positive age'));
    noProblems();
  }, 90_000);

  it('admin token guessing: refusals by reason show, and a spent budget fires WebhookAdminAuthRefused', async () => {
    // While the panel is read: one address keeps guessing (401s until its budget is spent, then 429s), and a few
    // fresh addresses send one wrong token each (401s); under 20 wrong tokens in all, so only the spent budget fires.
    let running = true;
    let fresh = 0;
    const statuses = new Set<number>();
    const guesses = (async () => {
      while (running) {
        statuses.add((await adminGetFrom(ingress.baseUrl, { from: '127.0.0.2', token: 'a-guessed-admin-token' })).status);
        if (fresh < 10) statuses.add((await adminGetFrom(ingress.baseUrl, { from: `127.0.0.${20 + fresh++}`, token: 'another-guess' })).status);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    })();
    try {
      // The right token, from another address, is let through and counted nowhere.
      expect((await adminGetFrom(ingress.baseUrl, { from: '127.0.0.3', token: ADMIN_TOKEN })).status).toBe(200);
      await expectPanel('Admin API refusals by reason', all(
        has({ reason: 'wrong_token' }, positive, 'a positive rate'),
        has({ reason: 'budget_spent' }, positive, 'a positive rate'),
      ));
      await expectSoon(
        'WebhookAdminAuthRefused firing in Prometheus for the spent budget only',
        `ALERTS{alertname="WebhookAdminAuthRefused",alertstate="firing",namespace="${NAMESPACE}"}`,
        all(has({ reason: 'budget_spent', severity: 'warning' }, (value) => value === 1, 'a firing alert'), none({ reason: 'wrong_token' })),
      );
    } finally {
      running = false;
      await guesses;
    }
    expect([...statuses].sort()).toEqual([401, 429]);
    noProblems();
  }, 90_000);

  it('a captured delivery re-sent past the duplicate budget: its 429s show, and WebhookDuplicatesRefused sees them', async () => {
    const captured = signedStripeRequest(STRIPE_SECRET, { id: 'evt_captured', type: 'invoice.paid' });
    expect(await postFrom(captured, '127.0.0.1')).toBe(202);
    // Re-sent from one address for as long as the panels are read: past DUPLICATE_LIMIT a minute, each is a 429.
    let running = true;
    const statuses = new Set<number>();
    const flood = (async () => {
      while (running) statuses.add(await postFrom(captured, '127.0.0.9'));
    })();
    try {
      await expectPanel('Webhooks received by provider and outcome', has({ provider: 'stripe', outcome: 'duplicate_rate_limited' }, positive, 'a positive rate'), { timeoutMs: 20_000 });
      await expectPanel('Rejected / s', single(positive, 'a positive value'));
      await expectSoon(
        'the WebhookDuplicatesRefused condition',
        alertExpr('WebhookDuplicatesRefused'),
        all(single(positive, 'a positive rate'), has({ namespace: NAMESPACE, provider: 'stripe' }, positive, 'a positive rate')),
      );
    } finally {
      running = false;
      await flood;
    }
    expect(statuses).toContain(429);
    noProblems();
  }, 90_000);

  it('enqueue failures: counted, the stranded events wake KEDA, and the reconciler’s requeues show', async () => {
    await redisProxy.stop();
    try {
      expect(await post('evt_stranded_1', 'invoice.paid')).toBe(202);
      expect(await post('evt_stranded_2', 'invoice.paid')).toBe(202);
      await expectPanel('Enqueue failures and reconciler requeues', single(positive, 'a positive rate'), { refId: 'A' });
      // Stored, PENDING, no job: nothing in the queue shows them, webhook_events_unfinished does.
      await expectPanel('Unfinished events (PostgreSQL)', has({ queue: QUEUE }, (value) => value >= 2, 'a value ≥ 2'), { timeoutMs: RECONCILER_STALE_MS });
      // The ingress alone is cut off from Redis: its check fails at a scrape once its last check is 10 s old.
      await expectPanel('Dependency checks passing', all(
        has({ job: INGRESS_JOB, dependency: 'redis' }, (value) => value === 0, 'value 0'),
        has({ job: WORKER_JOB, dependency: 'redis' }, (value) => value === 1, 'value 1'),
      ), { timeoutMs: 20_000 });
      await expectSoon('the KEDA query with events waiting for the reconciler', kedaQuery, single((value) => value >= kedaThreshold, `a value ≥ ${kedaThreshold}`), RECONCILER_STALE_MS);
    } finally {
      await redisProxy.restart();
    }
    await expectPanel('Enqueue failures and reconciler requeues', has({ status: 'PENDING' }, positive, 'a positive rate'), { refId: 'B', timeoutMs: RECONCILER_STALE_MS + 10_000 });
    noProblems();
  }, 90_000);

  it('PostgreSQL unreachable to the ingress: with no webhook to refuse (unready, out of the Service), WebhookStorageUnavailable still sees it', async () => {
    await pgProxy.stop();
    try {
      // Nothing probes readiness here: the scrape checks the database once the last check is 10 s old.
      await expectSoon('the database check of the ingress failing', `webhook_dependency_up{job="${INGRESS_JOB}",dependency="database"}`, single((value) => value === 0, 'value 0'), 20_000);
      await expectPanel('Dependency checks passing', has({ job: INGRESS_JOB, dependency: 'database' }, (value) => value === 0, 'value 0'));
      await expectSoon('the WebhookStorageUnavailable condition', alertExpr('WebhookStorageUnavailable'), has({ namespace: NAMESPACE }, (value) => value === 0, 'a series for the namespace'));
      await expectSoon(
        'WebhookStorageUnavailable pending in Prometheus',
        `ALERTS{alertname="WebhookStorageUnavailable",alertstate="pending",namespace="${NAMESPACE}"}`,
        single((value) => value === 1, 'one pending alert'),
      );
    } finally {
      await pgProxy.restart();
    }
    await expectSoon('the database check of the ingress passing again', `webhook_dependency_up{job="${INGRESS_JOB}",dependency="database"}`, single((value) => value === 1, 'value 1'), 20_000);
    await expectSoon('the WebhookStorageUnavailable condition gone', alertExpr('WebhookStorageUnavailable'), (series) => (series.length === 0 ? undefined : 'expected nothing'));
    noProblems();
  }, 90_000);

  it('worker outage: 0 workers, queued jobs visible, worker-only panels at 0, WebhookNoWorkers pending, KEDA one series', async () => {
    worker.signal('SIGTERM');
    expect((await worker.exited()).code).toBe(0);
    expect(await post('evt_waiting_1', 'invoice.paid')).toBe(202);
    expect(await post('evt_waiting_2', 'invoice.paid')).toBe(202);

    await expectPanel('Worker replicas', single((value) => value === 0, 'value 0'));
    await expectPanel('Queue backlog', single((value) => value >= 2, 'a value ≥ 2'));
    await expectPanel('Queue depth by state', all(has({ state: 'waiting' }, (value) => value >= 2, 'a value ≥ 2'), none({ state: 'failed' })));
    await expectPanel('Oldest waiting job', single(positive, 'a positive age'));
    await expectPanel('Oldest waiting job age', has({ queue: QUEUE }, positive, 'a positive age'));
    await expectPanel('CPU by process', jobsAre([INGRESS_JOB]));
    // Once the rate window has passed the worker's last samples, the worker-only panels show 0, not "No data".
    const zero = (labels: Record<string, string>) => (series: QuerySeries[]) =>
      series.length === 1 && labelsMatch(series[0]!, labels) && series[0]!.value === 0 ? undefined : `expected one series ${JSON.stringify(labels)} at 0`;
    await expectPanel('Events processed by status', zero({ status: 'all' }));
    await expectPanel('Dead-letter growth', zero({ provider: 'all' }));
    await expectPanel('Delivery attempts by destination and result', zero({ destination: 'all', result: 'attempts' }));
    await expectPanel('Enqueue failures and reconciler requeues', zero({ status: 'any status' }), { refId: 'B' });
    await expectSoon(
      'WebhookNoWorkers pending in Prometheus',
      `ALERTS{alertname="WebhookNoWorkers",alertstate="pending",namespace="${NAMESPACE}",queue="${QUEUE}"}`,
      single((value) => value === 1, 'one pending alert'),
    );
    await expectSoon('the KEDA query with jobs waiting and no worker', kedaQuery, single((value) => value >= 2, 'a value ≥ 2'));
    noProblems();
  }, 90_000);

  it('evaluated every query of the dashboard', () => {
    const queries = panels.flatMap((panel) => (panel.targets ?? []).map((target) => `${panel.id}/${target.refId} (${panel.title})`));
    expect(queries.filter((key) => !checked.has(key.split(' ')[0]!))).toEqual([]);
  });
});
