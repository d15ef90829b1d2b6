/**
 * REDIS_URL "may carry a db index (redis://host:6379/7)" (CONTRACT.md, .env.example). A db index the Redis server
 * does not have (its `databases` setting, 16 by default) is a configuration mistake: the start should stop naming
 * REDIS_URL, or at least the service should report Redis as down. It must never carry on in another db.
 *
 * Found: ioredis's SELECT fails ("ERR DB index is out of range"), the service logs "redis connection error" and then
 * "redis connection restored", GET /health says redis "up", and the queue (and the event's job) is written to db 0,
 * where another deployment's queue of the same name may live: events of one deployment processed by another.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { testServiceUrls } from '../support/test-services.js';
import { waitFor } from '../support/wait-for.js';

describe('REDIS_URL naming a db index the Redis server does not have', () => {
  let db: TestDatabase;
  let service: ServiceProcess;
  const prefix = `dbindex-${process.pid}-${randomBytes(4).toString('hex')}`;
  const baseRedisUrl = new URL(testServiceUrls().redisUrl);
  baseRedisUrl.pathname = '';
  const db0 = new Redis(`${baseRedisUrl.toString().replace(/\/$/, '')}/0`, { lazyConnect: true, maxRetriesPerRequest: 1 });
  let badIndex = 16;

  const keysInDb0 = async () => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await db0.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
    return found;
  };

  beforeAll(async () => {
    await db0.connect();
    const databases = (await db0.config('GET', 'databases')) as string[];
    badIndex = Number(databases[1] ?? 16); // one past the last db the server has
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await service?.kill();
    const leftovers = await keysInDb0();
    if (leftovers.length > 0) await db0.del(...leftovers);
    db0.disconnect();
    await db?.drop();
  });

  it('stops the start naming REDIS_URL, or reports Redis down; never uses db 0 instead', async () => {
    const secret = 'whsec_dbindex';
    service = new ServiceProcess(
      {
        SERVICE_ROLE: 'all',
        DATABASE_URL: db.url,
        REDIS_URL: `${baseRedisUrl.toString().replace(/\/$/, '')}/${badIndex}`,
        QUEUE_PREFIX: prefix,
        STRIPE_WEBHOOK_SECRET: secret,
        POD_DELETION_COST_ENABLED: 'false',
      },
      await freePort(),
    );
    await service.start({ waitForReady: false });
    // Either it exits (the better outcome), or it serves: wait for one or the other.
    await waitFor(
      'the service to exit or to answer /health/live',
      async () => service.exitState() !== undefined || (await fetch(`${service.baseUrl}/health/live`).catch(() => undefined))?.status === 200,
      { timeoutMs: 60_000, intervalMs: 200 },
    );

    if (service.exitState() !== undefined) {
      expect(service.logs.join('\n')).toMatch(/REDIS_URL/);
    } else {
      const { body, headers } = signedStripeRequest(secret, { id: `evt_dbindex_${randomBytes(4).toString('hex')}`, type: 'invoice.paid' });
      expect((await postWebhook(service.baseUrl, 'stripe', body, headers)).status).toBe(202);
      const health = (await (await fetch(`${service.baseUrl}/health`)).json()) as { details: { redis?: { status: string } } };
      const written = await keysInDb0();
      expect({ redisHealth: health.details.redis?.status, keysWrittenToDb0: written.length }).toEqual({ redisHealth: 'down', keysWrittenToDb0: 0 });
    }
  }, 120_000);
});
