/**
 * A resume promotes the jobs of the events waiting for the destination at once, and once more 2 s later (a job that
 * was putting itself off while the resume landed). Should Redis go silent just after it took the resume, both fail;
 * the follow-up's failure was dropped without a word (PendingPromotions swallowed it), and the held events waited for
 * their recheck (PAUSED_RECHECK_MS, 5 minutes) though Redis answered again seconds later. Now a failed promotion is
 * logged at warn and tried again a few times, each after a longer wait; a drain does not wait those waits out.
 *
 * Redis is made silent for the queue's connection only: it reaches Redis through a TCP proxy that stops forwarding
 * what the client sends (hold), so its commands time out (2 s, a producer connection) as against a paused Redis. The
 * pause state is on a direct connection, so the resume itself is taken.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { DestinationControl } from '../../services/admin/destination-control.js';
import { DestinationPauses } from '../../services/shared/destinations/destination-pauses.js';
import { DestinationStateStore } from '../../services/shared/destinations/destination-state.js';
import type { Logger } from '../../services/shared/logging/logger.js';
import { EVENT_JOB_NAME, eventJobId } from '../../services/shared/queue/event-job.js';
import { openSilenceableQueue, type SilenceableQueue } from '../support/silenceable-queue.js';
import type { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

jest.setTimeout(120_000);

const QUEUE = 'resume-silent';
let db: TestDatabase;
let ns: TestQueueNamespace;
let silenceable: SilenceableQueue;
let proxy: TcpProxy;
/** The queue as the ingress has it: on a producer connection (fail fast, 2 s command timeout), through the proxy. */
let proxied: Redis;
let queue: Queue;
/** Redis reached directly: the test's own view of the jobs, and the pause state's connection. */
let direct: Redis;
let counter = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  silenceable = await openSilenceableQueue(ns, QUEUE);
  ({ proxy, proxied, queue, direct } = silenceable);
});

afterEach(() => {
  proxy.release();
  jest.restoreAllMocks();
});

afterAll(async () => {
  await silenceable?.close();
  await ns?.cleanup();
  await db?.drop();
});

/** A PENDING event held for `destination`, its job delayed for ten minutes (its recheck). */
async function heldEvent(destination: string): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, held_for, held_since)
     VALUES ('heldco', $1, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING', ARRAY[$2::text], now())
     RETURNING id`,
    [`evt_resume_silent_${counter++}`, destination],
  );
  const id = rows[0]!.id;
  await queue.add(EVENT_JOB_NAME, { eventId: id }, { jobId: eventJobId(id), delay: 600_000 });
  return id;
}

const isDelayed = async (id: string) => (await direct.zscore(`${ns.prefix}:${QUEUE}:delayed`, eventJobId(id))) !== null;

/** A logger that keeps its warnings. */
function recordingLogger(): { logger: Logger; warnings: { message: string; fields: Record<string, unknown> }[] } {
  const warnings: { message: string; fields: Record<string, unknown> }[] = [];
  const ignore = () => undefined;
  const logger = { warn: (message: string, fields: Record<string, unknown> = {}) => warnings.push({ message, fields }), info: ignore, error: ignore, debug: ignore } as unknown as Logger;
  return { logger, warnings };
}

/**
 * A paused destination with one held event, resumed while the queue's Redis is silent; resolves once both the
 * promotion at once and the follow-up 2 s later have failed (each asks Redis for the one job, which times out).
 */
async function resumeWhileRedisIsSilent(destination: string) {
  const id = await heldEvent(destination);
  const state = new DestinationStateStore(direct, `${ns.prefix}:${QUEUE}`);
  const pauses = new DestinationPauses(db.pool, state);
  await pauses.set(destination, true);
  const { logger, warnings } = recordingLogger();
  const control = new DestinationControl({ state, pauses, pool: db.pool, queue, routes: undefined, logger });
  let failedLookups = 0;
  const getJob = queue.getJob.bind(queue);
  jest.spyOn(queue, 'getJob').mockImplementation(async (jobId: string) => {
    try {
      return await getJob(jobId);
    } catch (error) {
      failedLookups++;
      throw error;
    }
  });
  proxy.hold();
  expect(await control.resume(destination)).toEqual({ changed: true, promoted: 0 });
  await waitFor('the follow-up promotion to fail too', () => failedLookups >= 2, { timeoutMs: 20_000 });
  return { id, control, warnings, failedLookups: () => failedLookups };
}

describe("a resume's follow-up promotion that Redis fails", () => {
  it('is logged and tried again, and promotes the held event once Redis answers', async () => {
    const { id, control, warnings } = await resumeWhileRedisIsSilent('silent-resumed');
    proxy.release();
    await waitFor('the held event promoted by a retry of the follow-up', async () => !(await isDelayed(id)), { timeoutMs: 20_000 });
    const retried = warnings.filter((warning) => warning.message === 'could not promote waiting events; trying again');
    expect(retried).toHaveLength(1);
    expect(retried[0]!.fields).toMatchObject({ destination: 'silent-resumed', attempt: 1 });
    await control.close();
  });

  it('stops trying on shutdown: the drain runs a waiting retry at once, and not again', async () => {
    const { id, control, warnings, failedLookups } = await resumeWhileRedisIsSilent('silent-drained');
    // Still silent: the drain's one more try fails too, and ends it.
    await control.close();
    expect(failedLookups()).toBe(3);
    expect(warnings.map((warning) => warning.message).filter((message) => message.startsWith('could not promote waiting events;'))).toEqual([
      'could not promote waiting events; trying again',
      'could not promote waiting events; they wait for their recheck',
    ]);
    proxy.release();
    expect(await isDelayed(id)).toBe(true);
  });
});
