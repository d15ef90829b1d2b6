/**
 * A resume (POST /admin/destinations/{name}/resume) promoted the jobs of every event waiting for the destination
 * before it answered. Since promoteHeldJobs walks every held event (no longer stopping at HELD_COUNT_CAP), a resume
 * behind a very large backlog held its request open for minutes, past any proxy's timeout. It now answers after a
 * bounded first pass (one promotion batch: HELD_PROMOTION_BATCH, 10,000 events) with how many that promoted, and the
 * rest are promoted in the background (by its follow-up pass); a close stops that pass after its first batch rather
 * than holding a drain for the whole backlog. The batch size is made small here so a few events stand for a backlog.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { DestinationControl } from '../../services/admin/destination-control.js';
import { DestinationPauses } from '../../services/shared/destinations/destination-pauses.js';
import { DestinationStateStore } from '../../services/shared/destinations/destination-state.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { EVENT_JOB_NAME, eventJobId } from '../../services/shared/queue/event-job.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

jest.setTimeout(120_000);

const BATCH = 3;
const HELD = 10;
let db: TestDatabase;
let ns: TestQueueNamespace;
let connection: Redis;
let queue: EventQueue;
const logger = createLogger('destination-resume-large-backlog-test');

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

/** `count` PENDING events held for `destination`, each with its job delayed ten minutes (its paused recheck). */
async function held(destination: string, count: number): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, held_for, held_since)
     SELECT 'heldco', 'evt_backlog_' || $1 || '_' || n, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json',
            'PENDING', ARRAY[$1::text], now() - make_interval(secs => n)
       FROM generate_series(1, $2) n
     RETURNING id`,
    [destination, count],
  );
  const ids = rows.map((row) => row.id);
  await queue.queue.addBulk(ids.map((id) => ({ name: EVENT_JOB_NAME, data: { eventId: id }, opts: { jobId: eventJobId(id), delay: 600_000 } })));
  return ids;
}

async function delayedCount(ids: string[]): Promise<number> {
  const scores = await Promise.all(ids.map((id) => connection.zscore(`${ns.prefix}:webhook-events:delayed`, eventJobId(id))));
  return scores.filter((score) => score !== null).length;
}

async function pausedControl(destination: string): Promise<DestinationControl> {
  const state = new DestinationStateStore(connection, `${ns.prefix}:webhook-events`);
  const pauses = new DestinationPauses(db.pool, state);
  await pauses.set(destination, true);
  return new DestinationControl({
    state,
    pauses,
    pool: db.pool,
    queue: queue.queue,
    routes: { destinations: { [destination]: {} } } as never,
    logger,
    promotionBatchSize: BATCH,
  });
}

describe('a resume behind more held events than one promotion batch', () => {
  it('answers after the first batch, saying how many it promoted, and promotes the rest in the background', async () => {
    const ids = await held('backlog', HELD);
    const control = await pausedControl('backlog');
    // Fails without the fix: 10 (the answer waited for every held event).
    expect(await control.resume('backlog')).toEqual({ changed: true, promoted: BATCH });
    await waitFor('the rest promoted in the background', async () => (await delayedCount(ids)) === 0, { timeoutMs: 60_000 });
    await control.close();
  });

  it('a close ends the background pass after its first batch, not at the end of the backlog', async () => {
    const ids = await held('closing', HELD);
    const control = await pausedControl('closing');
    expect((await control.resume('closing')).promoted).toBe(BATCH);
    await control.close();
    // What is left waits for the jobs' own recheck (PAUSED_RECHECK_MS), as the comment in resume says.
    expect(await delayedCount(ids)).toBe(HELD - BATCH);
  });
});
