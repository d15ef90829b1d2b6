/**
 * Promoting the held jobs of a destination (a resume, a closed circuit, the worker's pause resync and its pass over
 * removed destinations) went on through every job whatever Redis answered: each failure was taken for "this job is not
 * delayed any more" and skipped. A Redis gone silent (paused, a blackholed socket: not refusing, not answering) fails
 * each command only at the connection's command timeout (2 s), so a pass over hundreds of held events ran for minutes
 * and held a draining worker up to SHUTDOWN_TIMEOUT_MS, to promote nothing. Now a pass stops at the first failure
 * that is not the job's own state, and rejects; the caller reports it and tries again (the pause resync on its next
 * run, though its copy is already in Redis by then).
 *
 * Redis is made silent for this test's connection only: it reaches Redis through a TCP proxy that stops forwarding
 * what the client sends (hold), so its commands time out as they would against a paused Redis.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { DestinationPauses } from '../../services/shared/destinations/destination-pauses.js';
import { DestinationStateStore } from '../../services/shared/destinations/destination-state.js';
import { HeldPromotionError, promoteHeldJobs } from '../../services/shared/destinations/held-events.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { EVENT_JOB_NAME, eventJobId } from '../../services/shared/queue/event-job.js';
import { PauseResync } from '../../services/worker/maintenance/pause-resync.js';
import { RemovedDestinationRelease } from '../../services/worker/maintenance/removed-destination-release.js';
import { openSilenceableQueue, type SilenceableQueue } from '../support/silenceable-queue.js';
import type { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

jest.setTimeout(180_000);

let db: TestDatabase;
let ns: TestQueueNamespace;
let silenceable: SilenceableQueue;
let proxy: TcpProxy;
/** The queue as the service has it: on a producer connection (fail fast, 2 s command timeout), through the proxy. */
let proxied: Redis;
let queue: Queue;
/** Redis reached directly: the test's own view of the jobs, and the destination state store's connection. */
let direct: Redis;
let counter = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  silenceable = await openSilenceableQueue(ns, 'held-silent');
  ({ proxy, proxied, queue, direct } = silenceable);
});
  // The producer connection queues nothing while it connects (as in the service): the jobs are added once it is ready.

afterEach(() => {
  proxy.release();
  jest.restoreAllMocks();
});

afterAll(async () => {
  await silenceable?.close();
  await ns?.cleanup();
  await db?.drop();
});

/** `count` PENDING events held for `destination`, each with its job delayed for ten minutes. */
async function heldEvents(destination: string, count: number): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, held_for, held_since)
     SELECT 'heldco', 'evt_held_silent_' || $1 || '_' || n, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json',
            'PENDING', ARRAY[$2::text], now()
       FROM generate_series(1, $3) n
     RETURNING id`,
    [counter++, destination, count],
  );
  const ids = rows.map((row) => row.id);
  await queue.addBulk(ids.map((id) => ({ name: EVENT_JOB_NAME, data: { eventId: id }, opts: { jobId: eventJobId(id), delay: 600_000 } })));
  return ids;
}

/** How many of the jobs of `ids` are delayed, read directly (not through the proxy). */
async function delayedCount(ids: string[]): Promise<number> {
  const scores = await Promise.all(ids.map((id) => direct.zscore(`${ns.prefix}:held-silent:delayed`, eventJobId(id))));
  return scores.filter((score) => score !== null).length;
}

/** Counts the jobs a pass asks Redis about (the real getJob runs). */
const countGetJob = () => jest.spyOn(queue, 'getJob');

describe('promoting held jobs while Redis is silent', () => {
  it('stops at the first command Redis does not answer, and rejects, instead of trying every job', async () => {
    const ids = await heldEvents('silent-a', 48);
    const getJob = countGetJob();
    proxy.hold();
    const outcome = await promoteHeldJobs(db.pool, queue, 'silent-a', { concurrency: 4 }).then(
      (promoted) => ({ promoted }),
      (error: unknown) => ({ error }),
    );
    expect(outcome).toEqual({ error: expect.any(HeldPromotionError) });
    const error = (outcome as { error: HeldPromotionError }).error;
    expect(error.destination).toBe('silent-a');
    expect(error.promoted).toBe(0);
    expect(String((error.cause as Error).message)).toMatch(/timed out/i);
    // One job per lane was asked about; none after the failure (was: all 48, 2 s each).
    expect(getJob.mock.calls.length).toBeLessThanOrEqual(4);
    proxy.release();
    expect(await delayedCount(ids)).toBe(48);
  });

  it('still passes over jobs that are not delayed or gone, and promotes the rest', async () => {
    const ids = await heldEvents('silent-b', 6);
    // One job removed, one already waiting (promoted by someone else): neither is a failure of the pass.
    await (await queue.getJob(eventJobId(ids[0]!)))!.remove();
    await (await queue.getJob(eventJobId(ids[1]!)))!.promote();
    expect(await promoteHeldJobs(db.pool, queue, 'silent-b')).toBe(4);
    expect(await delayedCount(ids)).toBe(0);
  });

  it("the worker's pass over removed destinations stops (its caller logs the failure), and the next pass sends them on", async () => {
    const ids = await heldEvents('silent-removed', 40);
    const logger = createLogger('test-removed-release');
    const release = new RemovedDestinationRelease({ pool: db.pool, queue, configured: new Set(['silent-a', 'silent-b']), delaysMs: [0], logger });
    const getJob = countGetJob();
    proxy.hold();
    await expect(release.runOnce()).rejects.toBeInstanceOf(HeldPromotionError);
    // The default 16 lanes, one job each (was: all 40 of silent-removed, and then the other destinations' too).
    expect(getJob.mock.calls.length).toBeLessThanOrEqual(16);
    proxy.release();
    expect(await delayedCount(ids)).toBe(40);
    // Redis answers again: the next pass sends them on.
    await release.runOnce();
    expect(await delayedCount(ids)).toBe(0);
  });

  it('the pause resync promotes on its next run what Redis cut short, though that run copies nothing', async () => {
    const ids = await heldEvents('silent-resumed', 24);
    const state = new DestinationStateStore(direct, `${ns.prefix}:held-silent`);
    const pauses = new DestinationPauses(db.pool, state);
    // silent-resumed paused, in PostgreSQL and in Redis's copy.
    await pauses.set('silent-resumed', true);
    // Its resume recorded while Redis did not answer: PostgreSQL only (what DestinationPauses.set records before its copy).
    await db.pool.query(`UPDATE destination_pause_version SET version = version + 1`);
    await db.pool.query(`DELETE FROM destination_pauses WHERE destination = 'silent-resumed'`);
    const resync = new PauseResync({ pool: db.pool, queue, pauses, destinations: ['silent-resumed'], intervalMs: 60_000, logger: createLogger('test-resync') });
    // The run copies the resume to Redis (the state store's connection answers), then the queue's goes silent.
    proxy.hold();
    await expect(resync.runOnce()).rejects.toBeInstanceOf(HeldPromotionError);
    proxy.release();
    expect(await delayedCount(ids)).toBe(24);
    // The next run finds the copy in Redis already, and promotes the jobs all the same.
    expect(await resync.runOnce()).toBe(24);
    expect(await delayedCount(ids)).toBe(0);
  });
});
