/**
 * A Redis that answers but will not serve the service, as each role's `/health` names it (README: `GET /health`;
 * docs/runbooks.md, WebhookRedisUnavailable), on a redis-server of the test's own:
 * - `persistence failed`: a failed RDB save with `stop-writes-on-bgsave-error yes` (MISCONF on every write);
 * - `too few replicas`: `min-replicas-to-write` above the replicas connected (NOREPLICAS on every write);
 * - `authentication failed`: the password changed under the running pods (WRONGPASS at each reconnect), or a
 *   password required by a Redis that had none when the pod started (NOAUTH). Redis refuses the connection itself,
 *   before any command of ours: the check's write is never sent, and the connection is never up to be "unreachable".
 *   The running process keeps running and reconnecting (refused at start, the same refusal stops the start instead:
 *   redis-credentials-refused-start.test.ts).
 * Each is Redis down (`webhook_dependency_up` 0, the worker's readiness 503) while the ingress stays ready and keeps
 * taking webhooks (events wait in PENDING). The category only: the reply's text, and never a password, is in the log.
 */
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { RedisServer } from '../support/redis-server.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';

const secret = 'whsec_redis_refusals';
const password = `first-${randomBytes(6).toString('hex')}`;
const rotated = `second-${randomBytes(6).toString('hex')}`;
let db: TestDatabase;
let redis: RedisServer;
let admin: Redis;
let ingress: ServiceProcess;
let worker: ServiceProcess;
/** An ingress whose REDIS_URL has no password, started before the same Redis required one. */
let withoutPassword: ServiceProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  redis = new RedisServer(await RedisServer.freePort());
  await redis.start();
  admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const env = {
    DATABASE_URL: db.url,
    QUEUE_PREFIX: `refusals-${randomBytes(3).toString('hex')}`,
    STRIPE_WEBHOOK_SECRET: secret,
    POD_DELETION_COST_ENABLED: 'false',
  };
  // Up before Redis requires a password: its connections stay authenticated until they reconnect (the NOAUTH test).
  withoutPassword = new ServiceProcess({ ...env, REDIS_URL: redis.url, SERVICE_ROLE: 'ingress' }, await freePort());
  await withoutPassword.start();
  await waitFor('Redis up on the ingress without a password', async () => (await redisSeen(withoutPassword)).status === 'up');
  // Set on this connection, which stays authenticated: every connection opened from now on must give the password.
  await admin.config('SET', 'requirepass', password);
  const withPassword = new URL(redis.url);
  withPassword.password = password;
  ingress = new ServiceProcess({ ...env, REDIS_URL: withPassword.toString(), SERVICE_ROLE: 'ingress' }, await freePort());
  worker = new ServiceProcess({ ...env, REDIS_URL: withPassword.toString(), SERVICE_ROLE: 'worker' }, await freePort());
  await Promise.all([ingress.start(), worker.start()]);
  await waitFor('Redis up on the ingress and the worker', async () => (await redisSeen(ingress)).status === 'up' && (await redisSeen(worker)).status === 'up');
}, 180_000);

afterAll(async () => {
  await Promise.all([ingress?.kill(), worker?.kill(), withoutPassword?.kill()]);
  admin?.disconnect();
  await redis?.destroy();
  await db?.drop();
});

interface RedisSeen {
  status: string;
  message: string | undefined;
  gauge: string | undefined;
  ready: number;
  text: string;
}

async function redisSeen(process: ServiceProcess): Promise<RedisSeen> {
  const response = await fetch(`${process.baseUrl}/health`);
  const text = await response.text();
  const redisIndicator = (JSON.parse(text) as { details: { redis: { status: string; message?: string } } }).details.redis;
  const metrics = await (await fetch(`${process.baseUrl}/metrics`)).text();
  return {
    status: redisIndicator.status,
    message: redisIndicator.message,
    gauge: /^webhook_dependency_up\{dependency="redis"\} (\S+)$/m.exec(metrics)?.[1],
    ready: (await fetch(`${process.baseUrl}/health/ready`)).status,
    text,
  };
}

/** Waits until `process`'s /health gives Redis `message` (a refusal shows once the connection meets it), then returns what it shows. */
function seenWith(process: ServiceProcess, message: string | undefined): Promise<Omit<RedisSeen, 'text'>> {
  return waitFor(`Redis "${message ?? 'up'}" in /health on port ${process.port}`, async () => {
    const { text: _text, ...seen } = await redisSeen(process);
    if (seen.message === message) return seen;
    throw new Error(JSON.stringify(seen)); // shown if it never comes
  });
}

/** What the README documents for a Redis that is down: the ingress stays ready, the worker does not. */
function down(message: string) {
  const indicator = { status: 'down', message, gauge: '0' };
  return { ingress: { ...indicator, ready: 200 }, worker: { ...indicator, ready: 503 } };
}

const bothUp = {
  ingress: { status: 'up', message: undefined, gauge: '1', ready: 200 },
  worker: { status: 'up', message: undefined, gauge: '1', ready: 200 },
};

/** The `dependency check failed` lines for Redis of `category`. */
function failureLines(process: ServiceProcess, category: string) {
  return process.jsonLogs().filter((line) => line.message === 'dependency check failed' && line.dependency === 'redis' && line.category === category);
}

async function accepted(process: ServiceProcess): Promise<number> {
  const { body, headers } = signedStripeRequest(secret, { id: `evt_refusal_${randomBytes(4).toString('hex')}`, type: 'invoice.paid' });
  return (await postWebhook(process.baseUrl, 'stripe', body, headers)).status;
}

describe('a Redis that answers and refuses, as /health names it', () => {
  it('says "persistence failed" while Redis stops writes after a failed save (MISCONF)', async () => {
    // A save can only fail where it writes: its temporary file is renamed to `dbfilename`, here a directory (which
    // fails for root too). MISCONF needs save points configured (`save ""` never refuses writes).
    const dir = ((await admin.config('GET', 'dir')) as string[])[1]!;
    const dbfilename = ((await admin.config('GET', 'dbfilename')) as string[])[1]!;
    mkdirSync(join(dir, dbfilename));
    await admin.config('SET', 'save', '3600 1');
    await admin.config('SET', 'stop-writes-on-bgsave-error', 'yes');
    try {
      await admin.bgsave();
      await waitFor('the save failed', async () => /^rdb_bgsave_in_progress:0\r?$/m.test(await admin.info('persistence')) && /^rdb_last_bgsave_status:err\r?$/m.test(await admin.info('persistence')));
      expect({ ingress: await seenWith(ingress, 'persistence failed'), worker: await seenWith(worker, 'persistence failed') }).toEqual(down('persistence failed'));
      expect(await accepted(ingress)).toBe(202);
      const logged = await waitFor('the logged MISCONF', () => failureLines(worker, 'persistence failed')[0]);
      expect((logged.error as { message: string }).message).toContain('MISCONF');
    } finally {
      await admin.config('SET', 'save', '');
      rmdirSync(join(dir, dbfilename));
    }
    expect({ ingress: await seenWith(ingress, undefined), worker: await seenWith(worker, undefined) }).toEqual(bothUp);
  });

  it('says "too few replicas" while Redis has fewer replicas than min-replicas-to-write (NOREPLICAS)', async () => {
    await admin.config('SET', 'min-replicas-to-write', '1');
    try {
      expect({ ingress: await seenWith(ingress, 'too few replicas'), worker: await seenWith(worker, 'too few replicas') }).toEqual(down('too few replicas'));
      expect(await accepted(ingress)).toBe(202);
      const logged = await waitFor('the logged NOREPLICAS', () => failureLines(worker, 'too few replicas')[0]);
      expect((logged.error as { message: string }).message).toContain('NOREPLICAS');
    } finally {
      await admin.config('SET', 'min-replicas-to-write', '0');
    }
    expect({ ingress: await seenWith(ingress, undefined), worker: await seenWith(worker, undefined) }).toEqual(bothUp);
  });

  it('says "authentication failed" once Redis refuses the pods\' password (WRONGPASS), not "unreachable"', async () => {
    // The password rotated in Redis before the pods' secret: connections already open stay authenticated, so they
    // are closed, as a Redis restart or a failover would; each reconnect is refused.
    await admin.config('SET', 'requirepass', rotated);
    await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    try {
      const seen = { ingress: await seenWith(ingress, 'authentication failed'), worker: await seenWith(worker, 'authentication failed') };
      expect(seen).toEqual(down('authentication failed'));
      // Refused while running is an outage, not the configuration mistake it is at start: both keep running.
      expect({ ingress: ingress.exitState(), worker: worker.exitState() }).toEqual({ ingress: undefined, worker: undefined });
      expect(await accepted(ingress)).toBe(202);
      const logged = await waitFor('the logged WRONGPASS', () => failureLines(worker, 'authentication failed')[0]);
      expect(logged).toMatchObject({ level: 'warn', scope: 'health', category: 'authentication failed' });
      expect(JSON.stringify(logged.error)).toContain('WRONGPASS');
    } finally {
      await admin.config('SET', 'requirepass', password);
    }
    // The connections' own reconnects find the password right again.
    expect({ ingress: await seenWith(ingress, undefined), worker: await seenWith(worker, undefined) }).toEqual(bothUp);
    for (const process of [ingress, worker]) {
      for (const text of [password, rotated]) expect(process.logs.join('\n')).not.toContain(text);
    }
  });

  it('says "authentication failed" once Redis requires a password REDIS_URL has none of (NOAUTH), and keeps running', async () => {
    // requirepass was set after this process connected: its connections are closed, and each reconnect is refused.
    await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    const seen = await seenWith(withoutPassword, 'authentication failed');
    expect(withoutPassword.exitState()).toBeUndefined();
    expect(seen).toEqual({ status: 'down', message: 'authentication failed', gauge: '0', ready: 200 });
    expect(await accepted(withoutPassword)).toBe(202);
    const logged = await waitFor('the logged NOAUTH', () => failureLines(withoutPassword, 'authentication failed')[0]);
    expect(JSON.stringify(logged.error)).toContain('NOAUTH');
    expect((await redisSeen(withoutPassword)).text).not.toContain(String(redis.port));
  });
});
