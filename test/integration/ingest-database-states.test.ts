import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { runMigrations } from '../../services/shared/database/run-migrations.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { createTestDatabase, dropDatabase, withAdminClient } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { testServiceUrls } from '../support/test-services.js';
import { waitFor } from '../support/wait-for.js';

// A database that answers but cannot take the event is a dependency failure like an unreachable one: 503 (the
// provider retries), counted as `unavailable` (the WebhookStorageUnavailable alert), never a 500 nobody counts.

const SECRET = 'whsec_database_states';
const ns: TestQueueNamespace = createQueueNamespace();
const cleanups: (() => Promise<unknown>)[] = [];
let app: InProcessService | undefined;

const startIngress = async (databaseUrl: string) =>
  (app = await startInProcessService({
    SERVICE_ROLE: 'ingress',
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_SIZE: '2',
    REDIS_URL: testServiceUrls().redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: SECRET,
  }));

const unavailableCount = async (service: InProcessService): Promise<number> => {
  const text = await (await fetch(`${service.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('webhook_events_received_total{') && l.includes('provider="stripe"') && l.includes('outcome="unavailable"'));
  return line ? Number(line.split(' ').at(-1)) : 0;
};

afterEach(async () => {
  await app?.stop();
  app = undefined;
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await ns.cleanup();
});

describe('a database that refuses writes', () => {
  it('read-only (a failover to a standby): 503 in the error shape, counted unavailable, then 202 once writable again', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    await withAdminClient((client) => client.query(`ALTER DATABASE ${pg.escapeIdentifier(db.name)} SET default_transaction_read_only = on`));
    const service = await startIngress(db.url);
    const before = await unavailableCount(service);

    const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_read_only_1' });
    const refused = await postWebhook(service.baseUrl, 'stripe', body, headers);
    expect(refused.status).toBe(503);
    expect(refused.json).toMatchObject({ statusCode: 503, message: expect.any(String), correlationId: expect.any(String) });
    expect(await unavailableCount(service)).toBe(before + 1);

    // Writable again: sessions opened from now on are read-write; the pool's read-only ones are ended.
    await withAdminClient(async (client) => {
      await client.query(`ALTER DATABASE ${pg.escapeIdentifier(db.name)} RESET default_transaction_read_only`);
      await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [db.name]);
    });
    const accepted = await waitFor('the ingress to accept again', async () => {
      const again = await postWebhook(service.baseUrl, 'stripe', body, headers);
      return again.status === 202 ? again : undefined;
    });
    expect(accepted.json).toMatchObject({ status: 'PENDING', duplicate: false });
  });
});

describe('a database whose migrations have not run yet', () => {
  it('is not ready and answers 503 (not ready and 500), until the migrations run', async () => {
    const name = `webhooks_test_unmigrated_${randomBytes(4).toString('hex')}`;
    await withAdminClient((client) => client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
    cleanups.push(() => dropDatabase(name));
    const url = new URL(testServiceUrls().databaseUrl);
    url.pathname = `/${name}`;
    const service = await startIngress(url.toString());

    const ready = await fetch(`${service.baseUrl}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ details: { database: { status: 'down', message: 'not migrated' } } });
    const { body, headers } = signedStripeRequest(SECRET, { id: 'evt_unmigrated_1' });
    const refused = await postWebhook(service.baseUrl, 'stripe', body, headers);
    expect(refused.status).toBe(503);

    await runMigrations({ url: url.toString(), logger: createLogger('test-migrations') });
    await waitFor('readiness after the migrations', async () => (await fetch(`${service.baseUrl}/health/ready`)).status === 200);
    const accepted = await postWebhook(service.baseUrl, 'stripe', body, headers);
    expect(accepted.status).toBe(202);
  });
});
