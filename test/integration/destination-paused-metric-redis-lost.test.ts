import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

/**
 * `webhook_destination_paused` (the dashboard's "Paused destinations") was read from Redis's copy of the pauses only.
 * After Redis lost that copy (a restart without persistence, a failover to an empty replica) every worker reported 0
 * for a destination PostgreSQL records as paused, until a worker's re-sync copied the record back (every 5 s; longer
 * when the copy cannot be written), though nothing was delivered to it: the workers act on the record (a worker that
 * finds no copy writes it from PostgreSQL before it delivers). The gauge now says 1 while PostgreSQL records the
 * pause, as GET /admin/destinations does. Here a worker runs; the test deletes its namespace's copy of the pauses
 * right after a re-sync wrote it back, and scrapes until the next re-sync writes it again.
 */

jest.setTimeout(120_000);

let db: TestDatabase;
let ns: TestQueueNamespace;
let routesFile: TempRoutesFile;
let worker: ServiceProcess | undefined;
let redis: Redis;

async function metric(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await (await fetch(`${worker!.baseUrl}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.indexOf('}'));
    if (Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

const pausedKey = () => `${ns.prefix}:webhook-events:destinations:paused`;
const versionKey = () => `${ns.prefix}:webhook-events:destinations:paused-version`;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  redis = new Redis(ns.redisUrl);
  routesFile = writeRoutesFile({
    destinations: { billing: { url: 'http://127.0.0.1:9/billing' }, crm: { url: 'http://127.0.0.1:9/crm' } },
    routes: [{ provider: 'stripe', to: ['billing', 'crm'] }],
  });
  worker = new ServiceProcess(
    {
      SERVICE_ROLE: 'worker',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      ROUTES_FILE: routesFile.path,
      POD_DELETION_COST_ENABLED: 'false',
    },
    await freePort(),
  );
  await worker.start();
});

afterAll(async () => {
  await worker?.kill();
  redis?.disconnect();
  routesFile?.remove();
  await ns?.cleanup();
  await db?.drop();
});

describe('webhook_destination_paused after Redis lost its copy of the pauses', () => {
  it('stays 1 for a destination PostgreSQL records as paused', async () => {
    // The pause as the admin API records it (PostgreSQL, with a new version); the worker's re-sync copies it.
    await db.pool.query('UPDATE destination_pause_version SET version = version + 1');
    await db.pool.query(`INSERT INTO destination_pauses (destination) VALUES ('crm')`);
    await waitFor('the copy in Redis', async () => (await redis.sismember(pausedKey(), 'crm')) === 1, { timeoutMs: 30_000 });
    await waitFor('the gauge at 1', async () => (await metric('webhook_destination_paused', { destination: 'crm' })) === 1, { timeoutMs: 30_000 });

    const seen: (number | undefined)[] = [];
    for (let round = 0; round < 2; round++) {
      // Redis loses the copy; wait for a re-sync to write it back, then lose it again at once: the next re-sync is
      // a whole interval away, while the gauge's one-second cache runs out.
      await redis.del(pausedKey(), versionKey());
      await waitFor('a re-sync writing the copy back', async () => (await redis.exists(versionKey())) === 1, { timeoutMs: 30_000 });
      await redis.del(pausedKey(), versionKey());
      // Scrape until the next re-sync wrote the copy back (and once after).
      for (;;) {
        const back = (await redis.exists(versionKey())) === 1;
        seen.push(await metric('webhook_destination_paused', { destination: 'crm' }));
        if (back) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    expect(seen.length).toBeGreaterThan(2);
    // Fails without the fix: 0 read from the emptied copy, for a destination that stays paused throughout.
    expect({ scrapes: seen.length, notPaused: seen.filter((value) => value !== 1) }).toEqual({ scrapes: seen.length, notPaused: [] });
    // The destination never paused is reported as not paused.
    expect(await metric('webhook_destination_paused', { destination: 'billing' })).toBe(0);
  });
});
