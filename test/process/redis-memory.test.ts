/**
 * Redis's memory settings, as each role sees them on a redis-server of the test's own:
 * - a `maxmemory-policy` other than noeviction lets a full Redis evict the queue's keys: every role says so once at
 *   start, as a log line (BullMQ only prints to stderr, in the worker);
 * - a Redis out of memory (noeviction, maxmemory reached) answers PING and refuses every write: it is reported as
 *   Redis down (health, webhook_dependency_up, the worker's readiness), while the ingress keeps taking webhooks as it
 *   does with Redis down (events wait in PENDING for the reconciler).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { RedisServer } from '../support/redis-server.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';

const secret = 'whsec_redis_memory';
let db: TestDatabase;
let redis: RedisServer;
let admin: Redis;
let ingress: ServiceProcess;
let worker: ServiceProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  redis = new RedisServer(await RedisServer.freePort());
  await redis.start();
  admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
  const env = {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: `memory-${randomBytes(3).toString('hex')}`,
    STRIPE_WEBHOOK_SECRET: secret,
    POD_DELETION_COST_ENABLED: 'false',
  };
  ingress = new ServiceProcess({ ...env, SERVICE_ROLE: 'ingress' }, await freePort());
  worker = new ServiceProcess({ ...env, SERVICE_ROLE: 'worker' }, await freePort());
  await Promise.all([ingress.start(), worker.start()]);
}, 120_000);

afterAll(async () => {
  await Promise.all([ingress?.kill(), worker?.kill()]);
  admin?.disconnect();
  await redis?.destroy();
  await db?.drop();
});

const evictionWarnings = (process: ServiceProcess) =>
  process.jsonLogs().filter((line) => line.level === 'warn' && line.maxmemoryPolicy !== undefined);

async function redisSeen(process: ServiceProcess) {
  const health = (await (await fetch(`${process.baseUrl}/health`)).json()) as { details: { redis: { status: string; message?: string } } };
  const metrics = await (await fetch(`${process.baseUrl}/metrics`)).text();
  return {
    status: health.details.redis.status,
    message: health.details.redis.message,
    gauge: /^webhook_dependency_up\{dependency="redis"\} (\S+)$/m.exec(metrics)?.[1],
    ready: (await fetch(`${process.baseUrl}/health/ready`)).status,
  };
}

describe('Redis memory settings', () => {
  it('warns once in every role when maxmemory-policy is not noeviction, naming the policy', async () => {
    await waitFor('the eviction policy warnings', () => evictionWarnings(ingress).length > 0 && evictionWarnings(worker).length > 0);
    for (const process of [ingress, worker]) {
      expect(evictionWarnings(process).map((line) => ({ policy: line.maxmemoryPolicy, message: line.message }))).toEqual([
        { policy: 'allkeys-lru', message: expect.stringContaining('noeviction') },
      ]);
    }
  });

  it('reports a Redis out of memory as Redis down (with the reason), and the ingress still takes webhooks', async () => {
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    try {
      const seen = { ingress: await redisSeen(ingress), worker: await redisSeen(worker) };
      // The category only: /health answers anyone who reaches the port; the reply's own text is in the log.
      const outOfMemory = { status: 'down', message: 'out of memory', gauge: '0' };
      expect(seen).toEqual({ ingress: { ...outOfMemory, ready: 200 }, worker: { ...outOfMemory, ready: 503 } });
      const { body, headers } = signedStripeRequest(secret, { id: `evt_oom_${randomBytes(4).toString('hex')}`, type: 'invoice.paid' });
      expect((await postWebhook(ingress.baseUrl, 'stripe', body, headers)).status).toBe(202);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    expect({ ingress: await redisSeen(ingress), worker: await redisSeen(worker) }).toEqual({
      ingress: { status: 'up', message: undefined, gauge: '1', ready: 200 },
      worker: { status: 'up', message: undefined, gauge: '1', ready: 200 },
    });
  });
});
