import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { one, podSpecOf, renderChart } from './helm.js';

/**
 * The chart runs workers at WORKER_CONCURRENCY 128 and gives them SHUTDOWN_TIMEOUT_MS (25 s) to drain on SIGTERM
 * (KEDA scale-in, a rollout, a node drain). A worker holds up to 128 jobs at once, but a destination with
 * `maxConcurrency` takes only that many deliveries at a time: the rest of the 128 wait in the worker for a slot,
 * their delivery not begun. The drain ("stop taking jobs, let the active ones finish") counts those as active and
 * keeps starting their deliveries after SIGTERM, one slot at a time, until SHUTDOWN_TIMEOUT_MS forces exit 1
 * mid-delivery: the deliveries cut off were sent but never recorded, so the next worker sends them again.
 *
 * Measured with the chart's own values (128, 25 s), a destination with maxConcurrency 2 answering in 1 s and 100 events
 * queued: exit 1 after 25.1 s, ~50 deliveries begun after SIGTERM, 2 events delivered twice. Here the same arithmetic
 * runs faster (a 4 s drain, 0.5 s answers).
 */

const SECRET = 'whsec_drain_lane_backlog';
const SHUTDOWN_TIMEOUT_MS = 4000;
const EVENTS = 40;

let db: TestDatabase;
let ns: TestQueueNamespace;
let routes: TempRoutesFile;
const sink = new HttpSink(() => ({ status: 200, delayMs: 500 }));
const started: ServiceProcess[] = [];

beforeAll(async () => {
  [db] = await Promise.all([createTestDatabase(), sink.start()]);
  ns = createQueueNamespace();
  routes = writeRoutesFile({ destinations: { slow: { url: `${sink.url}/hooks`, maxConcurrency: 2 } }, routes: [{ provider: 'stripe', to: ['slow'] }] });
});

afterAll(async () => {
  for (const service of started) await service.kill();
  await sink.stop();
  routes?.remove();
  await ns?.cleanup();
  await db?.drop();
});

describe('a worker with the chart’s WORKER_CONCURRENCY, terminated with a backlog behind a destination’s maxConcurrency', () => {
  it('drains within SHUTDOWN_TIMEOUT_MS (exit 0) instead of starting queued deliveries after SIGTERM, and no event is delivered twice', async () => {
    const worker = one(renderChart([]), 'Deployment', '-worker');
    const chartEnv = Object.fromEntries((podSpecOf(worker).containers[0].env as { name: string; value?: string }[]).map((e) => [e.name, e.value]));
    expect(chartEnv.WORKER_CONCURRENCY).toBe('128');

    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: SECRET,
      ROUTES_FILE: routes.path,
      POD_DELETION_COST_ENABLED: 'false',
      WORKER_CONCURRENCY: chartEnv.WORKER_CONCURRENCY!,
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      // A job cut off by a forced exit comes back quickly to the next worker.
      WORKER_LOCK_DURATION_MS: '2000',
      WORKER_STALLED_INTERVAL_MS: '1000',
    };
    const ingress = new ServiceProcess({ ...env, SERVICE_ROLE: 'ingress' }, await freePort());
    started.push(ingress);
    await ingress.start();
    const ids: string[] = [];
    for (let i = 0; i < EVENTS; i++) {
      const { body, headers } = signedStripeRequest(SECRET, { id: `evt_lane_backlog_${Date.now()}_${i}` });
      const response = await postWebhook(ingress.baseUrl, 'stripe', body, headers);
      expect(response.status).toBe(202);
      ids.push(String(response.json!.id));
    }

    const first = new ServiceProcess({ ...env, SERVICE_ROLE: 'worker' }, await freePort());
    started.push(first);
    await first.start();
    await waitFor('the first deliveries', () => sink.requests.length >= 4, { timeoutMs: 30_000 });
    const signalledAt = Date.now();
    first.signal('SIGTERM');
    const { code } = await first.exited(SHUTDOWN_TIMEOUT_MS + 10_000);
    const begunAfterSignal = sink.requests.filter((request) => request.at > signalledAt + 100).length;

    // The rest is delivered by the next worker.
    const second = new ServiceProcess({ ...env, SERVICE_ROLE: 'worker', SHUTDOWN_TIMEOUT_MS: '15000' }, await freePort());
    started.push(second);
    await second.start();
    await waitFor(
      'every event completed',
      async () => (await db.pool.query(`SELECT count(*)::int AS n FROM webhook_events WHERE status <> 'COMPLETED'`)).rows[0].n === 0,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const deliveries = new Map<string, number>();
    for (const request of sink.requests) {
      const id = String(request.headers['webhook-id']);
      deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
    }
    const deliveredTwice = [...deliveries].filter(([, n]) => n > 1).map(([id]) => id);

    expect(deliveries.size).toBe(EVENTS);
    expect({ exitCode: code, begunAfterSignal, deliveredTwice }).toEqual({ exitCode: 0, begunAfterSignal: expect.any(Number), deliveredTwice: [] });
  }, 120_000);
});
