/**
 * `webhook_destination_deferred_total{destination,reason}` counts deliveries put off, as its help text and the
 * dashboard's "Deliveries put off by reason" say: once when a delivery starts waiting, not again each time its job
 * looks again while the destination is still paused (or open, or over its limit). It once counted every recheck
 * (6 events behind an open circuit gave 21). Waits because the destinations' state in Redis cannot be read count
 * too, under `state_unavailable`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { promoteHeldJobs } from '../../services/shared/destinations/held-events.js';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'whsec_destination_deferrals';
const TOKEN = 'admin-token-destination-deferrals-0123';
const QUEUE = 'webhook-events';
let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let routesFile: TempRoutesFile;
let redis: Redis;
let queue: Queue;
const pausable = new HttpSink();
const unreadable = new HttpSink();

type Row = { id: string; status: string; attempts: number; held_for: string[] | null; last_error: string | null };
const rowsOf = async (ids: string[]): Promise<Row[]> =>
  (await db.pool.query<Row>('SELECT id, status, attempts, held_for, last_error FROM webhook_events WHERE id = ANY($1::uuid[]) ORDER BY id', [ids])).rows;
const send = async (id: string, type: string): Promise<string> => {
  const { body, headers } = signedStripeRequest(SECRET, { id, type });
  const response = await postWebhook(app.baseUrl, 'stripe', body, headers);
  expect(response.status).toBe(202);
  return response.json!.id as string;
};

/** The counter as the service exports it (0 when it has no such series). */
async function deferred(destination: string, reason: string): Promise<number> {
  const text = await (await fetch(`${app.baseUrl}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('webhook_destination_deferred_total{') && l.includes(`destination="${destination}"`) && l.includes(`reason="${reason}"`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

/** The events' jobs: how many times each has started, and whether each is back in the delayed set. */
async function jobsOf(ids: string[]): Promise<{ started: number; delayed: boolean }[]> {
  return Promise.all(
    ids.map(async (id) => {
      const job = (await queue.getJob(id)) as Job | undefined;
      return { started: job?.attemptsStarted ?? 0, delayed: job ? await job.isDelayed() : false };
    }),
  );
}

const allWaitingFor = (destination: string) => (rows: Row[]) =>
  rows.every((row) => row.status === 'PENDING' && row.attempts === 0 && (row.held_for ?? []).includes(destination));

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  await Promise.all([pausable.start(), unreadable.start()]);
  routesFile = writeRoutesFile({
    destinations: {
      pausable: { url: `${pausable.url}/in` },
      // With a breaker, every delivery reads the destination's circuit in Redis.
      unreadable: { url: `${unreadable.url}/in`, circuitBreaker: { failureThreshold: 5, cooldownMs: 1000 } },
    },
    routes: [
      { provider: 'stripe', events: ['pause.*'], to: ['pausable'] },
      { provider: 'stripe', events: ['unreadable.*'], to: ['unreadable'] },
    ],
  });
  app = await startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    QUEUE_NAME: QUEUE,
    STRIPE_WEBHOOK_SECRET: SECRET,
    ROUTES_FILE: routesFile.path,
    ADMIN_API_TOKEN: TOKEN,
    JOB_BACKOFF_MS: '120000',
  });
  redis = new Redis(ns.redisUrl);
  queue = new Queue(QUEUE, { connection: redis, prefix: ns.prefix });
});

afterAll(async () => {
  await app?.stop();
  await queue?.close();
  redis?.disconnect();
  await Promise.all([pausable.stop(), unreadable.stop()]);
  routesFile?.remove();
  await ns?.cleanup();
  await db?.drop();
});

describe('webhook_destination_deferred_total', () => {
  it('counts each delivery put off once, however often its job looks again while the destination stays paused', async () => {
    expect((await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/destinations/pausable/pause')).json).toMatchObject({ paused: true });
    const ids = [await send('evt_deferral_pause_1', 'pause.a'), await send('evt_deferral_pause_2', 'pause.a'), await send('evt_deferral_pause_3', 'pause.a')];
    await waitFor('the three events waiting for the paused destination', async () => allWaitingFor('pausable')(await rowsOf(ids)));
    await waitFor('their jobs delayed', async () => (await jobsOf(ids)).every((job) => job.delayed));
    expect(await deferred('pausable', 'paused')).toBe(3);

    // Each job looks again three times (as it does every few minutes while the destination stays paused, or when a
    // resume is followed by a new pause): each time it finds the destination paused and waits on.
    for (let round = 1; round <= 3; round++) {
      expect(await promoteHeldJobs(db.pool, queue, 'pausable')).toBe(3);
      await waitFor(`round ${round}: every job run again and delayed again`, async () =>
        (await jobsOf(ids)).every((job) => job.started >= round + 1 && job.delayed) && allWaitingFor('pausable')(await rowsOf(ids)),
      );
    }
    expect((await jobsOf(ids)).map((job) => job.started)).toEqual([4, 4, 4]);
    expect(pausable.requests).toEqual([]);
    expect(await deferred('pausable', 'paused')).toBe(3);

    expect((await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/destinations/pausable/resume')).json).toMatchObject({ paused: false });
    await waitFor('the three delivered after the resume', async () => (await rowsOf(ids)).every((row) => row.status === 'COMPLETED'), { timeoutMs: 15_000 });
    expect(pausable.requests).toHaveLength(3);
    expect(await deferred('pausable', 'paused')).toBe(3);
  });

  it('counts deliveries that wait because the destination state in Redis cannot be read (state_unavailable), once each', async () => {
    // The circuit's hash replaced by a string: every read of this destination's state fails (WRONGTYPE), as reads
    // do when Redis does not answer, while the queue itself works.
    await redis.set(`${ns.prefix}:${QUEUE}:destinations:circuit:unreadable`, 'not a hash');
    const ids = [await send('evt_deferral_unreadable_1', 'unreadable.a'), await send('evt_deferral_unreadable_2', 'unreadable.a')];
    const rows = await waitFor('both waiting for the unreadable destination', async () => {
      const found = await rowsOf(ids);
      return allWaitingFor('unreadable')(found) ? found : undefined;
    });
    expect(rows.map((row) => row.last_error)).toEqual(['waiting: unreadable state unavailable (Redis)', 'waiting: unreadable state unavailable (Redis)']);
    // Such a wait is short (about a second): let each job look again a few times.
    await waitFor('each job run three times', async () => (await jobsOf(ids)).every((job) => job.started >= 3), { timeoutMs: 20_000 });
    expect(await deferred('unreadable', 'state_unavailable')).toBe(2);

    await redis.del(`${ns.prefix}:${QUEUE}:destinations:circuit:unreadable`);
    await waitFor('both delivered once the state reads again', async () => (await rowsOf(ids)).every((row) => row.status === 'COMPLETED'), { timeoutMs: 15_000 });
    expect(unreadable.requests).toHaveLength(2);
    expect(await deferred('unreadable', 'state_unavailable')).toBe(2);
  });
});
