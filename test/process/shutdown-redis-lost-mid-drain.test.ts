/**
 * Redis answering at SIGTERM and gone during the drain: the worker's graceful close waited for a Redis connection
 * that never came back, until SHUTDOWN_TIMEOUT_MS forced exit 1 (nothing lost: the job comes back through the stalled
 * check). The drain now notices the connection going away and closes as it does when Redis is away at SIGTERM: the
 * delivery in flight finishes and is recorded in PostgreSQL, and the process exits 0 well before the timeout. The
 * job comes back to the next worker through the stalled check and is not delivered again.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { HttpSink } from '../support/http-sink.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';

const SECRET = 'whsec_redis_lost_mid_drain';
/** How long the destination takes to answer: the delivery is in flight when the signal comes and Redis goes. */
const ANSWER_DELAY_MS = 3000;
let db: TestDatabase;
let ns: TestQueueNamespace;
let routes: TempRoutesFile;
let service: ServiceProcess | undefined;
let next: ServiceProcess | undefined;
const sink = new HttpSink(() => ({ status: 200, delayMs: ANSWER_DELAY_MS }));
const redis = new TcpProxy('127.0.0.1', 6379);

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  await Promise.all([sink.start(), redis.start()]);
  routes = writeRoutesFile({ destinations: { slow: { url: `${sink.url}/in` } }, routes: [{ provider: 'stripe', to: ['slow'] }] });
});

afterAll(async () => {
  await service?.kill();
  await next?.kill();
  await sink.stop();
  await redis.stop();
  routes?.remove();
  await ns?.cleanup();
  await db?.drop();
});

it('SIGTERM, then Redis lost while a delivery is in flight: the delivery is recorded and the process exits 0 before SHUTDOWN_TIMEOUT_MS', async () => {
  const redisUrl = new URL(ns.redisUrl);
  redisUrl.host = `127.0.0.1:${redis.port}`;
  service = new ServiceProcess(
    {
      SERVICE_ROLE: 'all',
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl.toString(),
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: SECRET,
      ROUTES_FILE: routes.path,
      SHUTDOWN_TIMEOUT_MS: '30000',
      POD_DELETION_COST_ENABLED: 'false',
    },
    await freePort(),
  );
  await service.start();
  const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_redis_lost_mid_drain' });
  const accepted = await postWebhook(service.baseUrl, 'stripe', body, headers);
  const id = String(accepted.json!.id);
  await waitFor('the delivery to be in flight', async () => sink.requests.length === 1, { timeoutMs: 30_000 });

  const signalledAt = Date.now();
  service.signal('SIGTERM');
  await redis.stop();
  const { code } = await service.exited(40_000);
  const tookMs = Date.now() - signalledAt;

  const { status } = (await db.pool.query<{ status: string }>('SELECT status FROM webhook_events WHERE id = $1', [id])).rows[0]!;
  expect({ code, status, sent: sink.requests.length }).toEqual({ code: 0, status: 'COMPLETED', sent: 1 });
  // The delivery takes 3 s; the drain then closes without Redis instead of waiting for SHUTDOWN_TIMEOUT_MS (30 s).
  expect(tookMs).toBeLessThan(20_000);

  // The job whose end BullMQ could not record comes back through the stalled check of the next worker (its lock,
  // WORKER_LOCK_DURATION_MS, lapses), finds its event COMPLETED and ends without a second delivery.
  next = new ServiceProcess(
    { SERVICE_ROLE: 'worker', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, ROUTES_FILE: routes.path, WORKER_STALLED_INTERVAL_MS: '1000', POD_DELETION_COST_ENABLED: 'false' },
    await freePort(),
  );
  await next.start();
  const redisClient = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue('webhook-events', { connection: redisClient, prefix: ns.prefix });
  try {
    expect(await queue.getJobState(id)).toBe('active');
    // Completed jobs are removed (removeOnComplete): the job's end is its going away.
    await waitFor('the job to come back and complete', async () => ['completed', 'unknown'].includes(await queue.getJobState(id)), { timeoutMs: 60_000 });
  } finally {
    await queue.close();
    redisClient.disconnect();
  }
  expect(sink.requests.length).toBe(1);
}, 120_000);
