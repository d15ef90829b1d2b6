/**
 * A resume's promotion of the held jobs (promoteHeldJobs without a limit) read at most HELD_COUNT_CAP (100,000) held
 * events, and the worker's pass over removed destinations found the destinations among at most as many held events:
 * the events past the cap waited for their recheck (PAUSED_RECHECK_MS, 5 minutes), or for good behind a removed
 * destination until the next worker start. Each pass now works through all of them, a bounded batch at a time.
 *
 * 100,000 older held events have no job (asking Redis about one is a quick miss), so only the few newest, past the
 * cap, have delayed jobs to promote.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { boundedWhenDraining, HELD_COUNT_CAP, promoteHeldJobs } from '../../services/shared/destinations/held-events.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { EVENT_JOB_NAME, eventJobId } from '../../services/shared/queue/event-job.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { RemovedDestinationRelease } from '../../services/worker/maintenance/removed-destination-release.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

jest.setTimeout(300_000);

let db: TestDatabase;
let ns: TestQueueNamespace;
let connection: Redis;
let queue: EventQueue;
const logger = createLogger('held-promotion-beyond-cap-test');

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
  queue = new EventQueue({ connection, name: 'webhook-events', prefix: ns.prefix, attempts: 3, backoffMs: 1000, logger });
});

afterAll(async () => {
  await queue?.close();
  connection?.disconnect();
  await ns?.cleanup();
  await db?.drop();
});

/** `count` PENDING events held for `destination` since `ageSeconds` ago; with `jobs`, each with its job delayed ten minutes. */
async function held(destination: string, count: number, ageSeconds: number, jobs: boolean): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, held_for, held_since)
     SELECT 'heldco', 'evt_beyond_' || $1 || '_' || $3::int || '_' || n, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json',
            'PENDING', ARRAY[$1::text], now() - make_interval(secs => $3::int)
       FROM generate_series(1, $2) n
     RETURNING id`,
    [destination, count, ageSeconds],
  );
  const ids = rows.map((row) => row.id);
  if (jobs) await queue.queue.addBulk(ids.map((id) => ({ name: EVENT_JOB_NAME, data: { eventId: id }, opts: { jobId: eventJobId(id), delay: 600_000 } })));
  return ids;
}

async function delayedCount(ids: string[]): Promise<number> {
  const scores = await Promise.all(ids.map((id) => connection.zscore(`${ns.prefix}:webhook-events:delayed`, eventJobId(id))));
  return scores.filter((score) => score !== null).length;
}

describe('more held events than HELD_COUNT_CAP', () => {
  it("a resume's promotion reaches the events past the cap", async () => {
    await held('resumed', HELD_COUNT_CAP, 3600, false);
    const newest = await held('resumed', 3, 60, true);
    // Fails without the fix: 0 (the pass read the 100,000 longest-held, none with a job, and stopped).
    expect(await promoteHeldJobs(db.pool, queue.queue, 'resumed')).toBe(3);
    expect(await delayedCount(newest)).toBe(0);
  });

  it('reads past the first read in held_since order, a batch at a time, each event once (ties, a limit)', async () => {
    // Ten held since the same moment (one statement's now()): the batches' boundaries fall inside the tie.
    const tied = await held('tied', 10, 120, true);
    const pool = { query: jest.fn((text: string, values: unknown[]) => db.pool.query(text, values)) };
    expect(await promoteHeldJobs(pool as never, queue.queue, 'tied', { firstBatchSize: 3, batchSize: 4 })).toBe(10);
    expect(await delayedCount(tied)).toBe(0);
    // The first read (3), then 10 in batches of 4 (the first 3 skipped): 4 + 4 + 2, the last one short.
    expect(pool.query).toHaveBeenCalledTimes(4);

    const limited = await held('limited', 10, 120, true);
    expect(await promoteHeldJobs(db.pool, queue.queue, 'limited', { firstBatchSize: 3, batchSize: 4, limit: 5 })).toBe(5);
    expect(await delayedCount(limited)).toBe(5);
  });

  it('a pass in a process that starts draining stops at the cap, not before', async () => {
    const events = await held('draining', 6, 120, true);
    let draining = false;
    // Not draining: the cap does not apply.
    expect(await promoteHeldJobs(db.pool, queue.queue, 'draining', { limit: 2, stopping: boundedWhenDraining(() => draining, 1) })).toBe(2);
    draining = true;
    // Draining: the pass goes through 3 events (the 2 promoted already among them) and stops.
    expect(await promoteHeldJobs(db.pool, queue.queue, 'draining', { stopping: boundedWhenDraining(() => draining, 3) })).toBe(1);
    expect(await delayedCount(events)).toBe(3);
  });

  it('the pass over removed destinations finds a removed destination behind the cap, and sends its events on', async () => {
    // Held for a destination still configured (paused): not promoted, only read past.
    await held('still-paused', HELD_COUNT_CAP, 3600, false);
    const removed = await held('removed', 3, 60, true);
    const release = new RemovedDestinationRelease({ pool: db.pool, queue: queue.queue, configured: new Set(['still-paused', 'resumed', 'tied', 'limited', 'draining']), delaysMs: [0], logger });
    // Fails without the fix: 0 (its summary of the held events read 100,000 of them, none held for 'removed').
    expect(await release.runOnce()).toBe(3);
    expect(await delayedCount(removed)).toBe(0);
  });
});
