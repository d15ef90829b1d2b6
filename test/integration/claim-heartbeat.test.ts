/**
 * A run's claim stays its own while its worker says it is alive (`claim_heartbeat_at`, claim-heartbeat.ts): another
 * job's claim does not take it over, and the reconciler does not count it stranded, while greatest(claim time,
 * heartbeat) is recent. Before, both went by the claim time alone: a live run whose last attempt waited 30 s+ for a
 * slow destination's slot, its job lost with Redis's data, was enqueued again and that job's claim dead-lettered it
 * (test/faults/last-attempt-slot-wait-redis-data-lost.test.ts). A run whose heartbeat is stale is taken over as before.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { Pool } from 'pg';
import winston from 'winston';
import type { Logger } from '../../services/shared/logging/logger.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { Reconciler } from '../../services/worker/maintenance/reconciler.js';
import { HttpForwarder } from '../../services/worker/delivery/http-forwarder.js';
import { ClaimHeartbeat, confirmClaimAfterMs, heartbeatIntervalMs, liveClaimWindowMs } from '../../services/worker/processing/claim-heartbeat.js';
import { EventHandlerRegistry } from '../../services/worker/processing/event-handlers.js';
import { EventProcessor } from '../../services/worker/processing/event-processor.js';
import { ProcessingStore } from '../../services/worker/processing/processing-store.js';
import { RouteTable } from '../../services/worker/routing/route-table.js';
import { HttpSink } from '../support/http-sink.js';
import { NextHeld } from '../support/next-held.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const LOCK_MS = 30_000;
const LAST_ATTEMPT = 2;
const logger = winston.createLogger({ silent: true });
let db: TestDatabase;
let store: ProcessingStore;
let counter = 0;

async function newEvent(): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     VALUES ('stripe', $1, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING') RETURNING id`,
    [`evt_heartbeat_${counter++}`],
  );
  return rows[0]!.id;
}

/** The claim (and its heartbeat) made `seconds` ago, as a run in progress that long would have it. */
const ageClaim = (id: string, seconds: number) =>
  db.pool.query(
    `UPDATE webhook_events SET updated_at = updated_at - make_interval(secs => $2), claim_heartbeat_at = claim_heartbeat_at - make_interval(secs => $2) WHERE id = $1`,
    [id, seconds],
  );

const row = async (id: string) =>
  (await db.pool.query('SELECT status, attempts, claim_token, last_error FROM webhook_events WHERE id = $1', [id])).rows[0] as {
    status: string;
    attempts: number;
    claim_token: string;
    last_error: string | null;
  };

beforeAll(async () => {
  db = await createTestDatabase();
  store = new ProcessingStore(db.pool, { liveClaimWindowMs: liveClaimWindowMs(LOCK_MS) });
});

afterAll(async () => {
  await db.drop();
});

describe('a claim meeting a run of another claim', () => {
  it('leaves a run whose heartbeat is fresh alone, even on its last attempt, and the run still finishes it', async () => {
    const id = await newEvent();
    await store.claim(id, 0, LAST_ATTEMPT);
    // A claim made a moment ago (no refresh yet) is as live as a fresh heartbeat.
    expect(await store.claim(id, 0, LAST_ATTEMPT)).toBeUndefined();
    await ageClaim(id, 60);
    const running = (await store.claim(id, 0, LAST_ATTEMPT))!;
    expect(running).toMatchObject({ attempts: LAST_ATTEMPT, deadLettered: false });

    // The run waits 60 s for a slot; its worker refreshed the heartbeat meanwhile.
    const heartbeat = new ClaimHeartbeat({ pool: db.pool, lockDurationMs: LOCK_MS, logger });
    const release = heartbeat.track(running.id, running.claimToken, performance.now());
    await ageClaim(id, 60);
    expect(await heartbeat.beatOnce(performance.now() + heartbeatIntervalMs(LOCK_MS))).toBe(1);

    // The reconciler's job (Redis lost the run's own): nothing claimed, nothing dead-lettered, the reason told.
    expect(await store.claim(id, 0, LAST_ATTEMPT)).toBeUndefined();
    expect(await store.heldByLiveRun(id, 0, 'c0ffee00-0000-4000-8000-000000000000')).toBe(true);
    expect(await row(id)).toEqual({ status: 'PROCESSING', attempts: LAST_ATTEMPT, claim_token: running.claimToken, last_error: null });
    // The heartbeat did not touch the claim's identity: the live run's finish lands (its claim time as aged above).
    const { rows } = await db.pool.query<{ at: string }>('SELECT updated_at::text AS at FROM webhook_events WHERE id = $1', [id]);
    expect(await store.finish({ ...running, claimedAt: rows[0]!.at }, [], 'COMPLETED', null)).toBe(true);
    release();
    expect((await row(id)).status).toBe('COMPLETED');
  });

  it('takes over a run whose claim and heartbeat are older than the window, as before (dead-lettering a last attempt)', async () => {
    const id = await newEvent();
    const first = (await store.claim(id, 0, LAST_ATTEMPT))!;
    await ageClaim(id, 60);
    // A first attempt's run gone quiet: the next claim counts the next attempt.
    const second = (await store.claim(id, 0, LAST_ATTEMPT))!;
    expect(second).toMatchObject({ attempts: 2, deadLettered: false });
    expect(await store.finish(first, [], 'COMPLETED', null)).toBe(false);
    // Its worker died: the heartbeat, last refreshed 13 s ago (over two fifths of the lock), no longer holds it.
    await ageClaim(id, 13);
    expect(await store.heldByLiveRun(id, 0, 'c0ffee00-0000-4000-8000-000000000000')).toBe(false);
    expect(await store.claim(id, 0, LAST_ATTEMPT)).toMatchObject({ attempts: LAST_ATTEMPT, deadLettered: true });
    expect((await row(id)).status).toBe('DEAD_LETTER');
  });

  it("continues its own claim (the same token) whatever the heartbeat, and without a window takes any run over", async () => {
    const id = await newEvent();
    const token = 'c0ffee00-0000-4000-8000-000000000001';
    const claimed = (await store.claim(id, 0, LAST_ATTEMPT, token))!;
    expect(await store.claim(id, 0, LAST_ATTEMPT, token)).toMatchObject({ attempts: 1, claimedAt: claimed.claimedAt });
    const windowless = new ProcessingStore(db.pool);
    expect(await windowless.claim(id, 0, LAST_ATTEMPT)).toMatchObject({ attempts: 2 });
    expect(await windowless.heldByLiveRun(id, 0, token)).toBe(false);
  });
});

describe('the heartbeat', () => {
  it('sends nothing for runs younger than its interval, nor for runs that ended; refreshes only its own claim', async () => {
    const id = await newEvent();
    const claimed = (await store.claim(id, 0, LAST_ATTEMPT))!;
    const heartbeat = new ClaimHeartbeat({ pool: db.pool, lockDurationMs: LOCK_MS, logger });
    const release = heartbeat.track(claimed.id, claimed.claimToken, performance.now());
    expect(await heartbeat.beatOnce()).toBe(0);
    release();
    expect(await heartbeat.beatOnce(performance.now() + LOCK_MS)).toBe(0);

    // A run taken over (its claim stale): its refresh writes nothing on the new claim's event.
    await ageClaim(id, 60);
    const other = (await store.claim(id, 0, LAST_ATTEMPT))!;
    await ageClaim(id, 60);
    const stale = heartbeat.track(claimed.id, claimed.claimToken, performance.now());
    await heartbeat.beatOnce(performance.now() + LOCK_MS);
    stale();
    expect(await store.heldByLiveRun(id, 0, 'c0ffee00-0000-4000-8000-000000000000')).toBe(false);
    expect((await row(id)).claim_token).toBe(other.claimToken);
  });

  it('logs a refresh that fails (at most once a minute) and does not throw', async () => {
    const failing = { query: () => Promise.reject(new Error('connection terminated')) } as unknown as Pool;
    const warnings: string[] = [];
    const recording = { warn: (message: string) => warnings.push(message) } as unknown as Logger;
    const heartbeat = new ClaimHeartbeat({ pool: failing, lockDurationMs: LOCK_MS, logger: recording });
    heartbeat.track('c0ffee00-0000-4000-8000-000000000002', 'c0ffee00-0000-4000-8000-000000000003', performance.now());
    const later = performance.now() + LOCK_MS;
    expect(await heartbeat.beatOnce(later)).toBe(0);
    expect(await heartbeat.beatOnce(later + 1000)).toBe(0);
    expect(warnings.filter((message) => message.startsWith('claim heartbeat not written'))).toHaveLength(1);
  });
});

/** A store whose next claim's answer is held back once the claim is written (a worker that stalls as it comes in). */
class AnswerHeldStore extends ProcessingStore {
  readonly claimAnswers = new NextHeld();

  override async claim(...args: Parameters<ProcessingStore['claim']>): ReturnType<ProcessingStore['claim']> {
    const claimed = await super.claim(...args);
    await this.claimAnswers.pass();
    return claimed;
  }
}

describe('the heartbeat of a run whose claim was answered late', () => {
  // A short lock, so that the window passes within the test: a look every second, a window of 2.4 s.
  const SHORT_LOCK_MS = 6000;
  const INTERVAL_MS = heartbeatIntervalMs(SHORT_LOCK_MS);
  const sink = new HttpSink();
  const forwarder = new HttpForwarder({ defaultTimeoutMs: 30_000, defaultMaxConcurrency: 4 });
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

  beforeAll(async () => {
    await sink.start();
  });

  afterAll(async () => {
    await forwarder.close();
    await sink.stop();
  });

  // PostgreSQL writes the claim's heartbeat before its answer reaches the run, and another claim judges the run by that
  // time. Counted from the answer, a stall as the answer came in (past the window's margin over the heartbeat's
  // greatest age: a fifteenth of the lock) let the row go stale while the worker, alive and looking on schedule, thought
  // no refresh was due yet: another claim took the event over while its delivery was in flight, and would send it again.
  it('is due an interval after its claim was asked: a look on schedule keeps it, and another claim leaves it alone', async () => {
    const live = { liveClaimWindowMs: liveClaimWindowMs(SHORT_LOCK_MS) };
    const store = new AnswerHeldStore(db.pool, live);
    // Not started: the test makes the looks, at the worst moment for the run (just before it is due by its answer).
    const heartbeat = new ClaimHeartbeat({ pool: db.pool, lockDurationMs: SHORT_LOCK_MS, logger });
    const processor = new EventProcessor({
      store,
      heartbeat,
      confirmClaimAfterMs: confirmClaimAfterMs(SHORT_LOCK_MS),
      routes: new RouteTable({ destinations: { slow: { url: `${sink.url}/slow` } }, routes: [{ provider: 'stripe', to: ['slow'] }] }),
      handlers: new EventHandlerRegistry(),
      forwarder,
      maxAttempts: 3,
      logger,
    });
    let answerDelivery!: () => void;
    const delivered = new Promise<void>((resolve) => (answerDelivery = resolve));
    sink.behaviour = () => ({ status: 200, until: delivered });

    const answer = store.claimAnswers.hold();
    const id = await newEvent();
    const run = processor.process({ eventId: id });
    await answer.reached;
    // The stall as the answer came in: under an interval, but over the window's margin over the heartbeat's greatest
    // age (2.4 s - 2 x 1 s).
    await sleep(700);
    const answered = performance.now();
    answer.release();
    try {
      await waitFor('the delivery in flight (the destination takes its time)', () => sink.requestsFor(id).length === 1);

      // The looks fall just short of an interval after the answer: by the answer, only the next one (an interval later)
      // finds the run due, 2.7 s after its claim was written.
      const look = answered + INTERVAL_MS - 1;
      await sleep(look - performance.now());
      const refreshed = await heartbeat.beatOnce(look);
      // Between the two looks, past the window after the claim was written: another run's claim (a duplicate job).
      await sleep(look + INTERVAL_MS - 150 - performance.now());
      const other = await new ProcessingStore(db.pool, live).claim(id, 0, 3);

      // Before, the look refreshed nothing (due by the answer only at the next one) and the other claim took it over.
      expect(other).toBeUndefined();
      expect(refreshed).toBe(1);
    } finally {
      answerDelivery();
    }
    expect(await run).toBe('completed');
    expect(sink.requestsFor(id)).toHaveLength(1);
    expect((await row(id)).status).toBe('COMPLETED');
  });
});

describe('the reconciler', () => {
  let ns: TestQueueNamespace;
  let connection: Redis;
  let queue: EventQueue;

  beforeAll(() => {
    ns = createQueueNamespace();
    connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
    queue = new EventQueue({ connection, name: 'webhook-events', prefix: ns.prefix, attempts: 3, backoffMs: 1000, logger });
  });

  afterAll(async () => {
    await queue?.close();
    connection?.disconnect();
    await ns?.cleanup();
  });

  it('does not re-queue a jobless PROCESSING event whose heartbeat is fresh, and re-queues it once that is stale', async () => {
    await db.pool.query(`DELETE FROM webhook_events`);
    const id = await newEvent();
    await store.claim(id, 0, LAST_ATTEMPT);
    // Claimed 60 s ago, heartbeat 5 s ago: a live run (its job gone with Redis's data).
    await db.pool.query(
      `UPDATE webhook_events SET updated_at = now() - interval '60 seconds', claim_heartbeat_at = now() - interval '5 seconds' WHERE id = $1`,
      [id],
    );
    const reconciler = new Reconciler({ pool: db.pool, queue, intervalMs: 60_000, staleMs: 30_000, logger });
    expect(await reconciler.runOnce()).toBe(0);
    expect(await queue.queue.getJobState(id)).toBe('unknown');

    // Its worker died: no heartbeat for 40 s.
    await db.pool.query(`UPDATE webhook_events SET claim_heartbeat_at = now() - interval '40 seconds' WHERE id = $1`, [id]);
    expect(await reconciler.runOnce()).toBe(1);
    expect(await queue.queue.getJobState(id)).toBe('waiting');
  });
});
