import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import winston from 'winston';
import { EventAdminService } from '../../services/admin/event-admin-service.js';
import { createDataSource } from '../../services/shared/database/data-source.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { eventsProcessed } from '../../services/shared/metrics/metrics.js';
import type { DeliveryResult } from '../../services/worker/delivery/delivery-result.js';
import { HttpForwarder } from '../../services/worker/delivery/http-forwarder.js';
import { EventHandlerRegistry } from '../../services/worker/processing/event-handlers.js';
import { EventProcessor } from '../../services/worker/processing/event-processor.js';
import {
  ProcessingStore,
  type ClaimedEvent,
  type FinishedStatus,
  type FinishOptions,
} from '../../services/worker/processing/processing-store.js';
import { RouteTable } from '../../services/worker/routing/route-table.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { WORKER_CONFIRM_CLAIM_AFTER_MS } from '../support/worker-claim-bound.js';

/**
 * A finish lands only while its run still holds the claim: the claim's round (commit a7525ce: a job claims the event
 * only in its own replay round), attempt number and time. The guard was only `status = 'PROCESSING'`: a run of an
 * earlier round that outlived a replay (here run A lost its lock, run B of the same round finished the event, the
 * operator replayed it) finished onto the NEXT round while that round's job was processing: its FAILED (and its
 * error, and its attempt rows) landed on round 1, and round 1's own COMPLETED finish was then refused (status no
 * longer PROCESSING): the round-1 job ended 'completed' in BullMQ while the event sat FAILED with no job, until the
 * reconciler re-ran round 1 (delivering again). The same held within one round: a run whose claim was taken over
 * finished over the run that held it.
 */

const silent = winston.createLogger({ silent: true });
let db: TestDatabase;
let ns: TestQueueNamespace;
let dataSource: DataSource;
let producer: Redis;
let queue: EventQueue;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  dataSource = await createDataSource({ url: db.url, poolSize: 2, applicationName: 'finish-replay-round' }).initialize();
  producer = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
  queue = new EventQueue({ connection: producer, name: 'webhook-events', prefix: ns.prefix, attempts: 3, backoffMs: 20, logger: silent });
});

afterAll(async () => {
  await queue?.close();
  producer?.disconnect();
  await dataSource?.destroy();
  await ns?.cleanup();
  await db?.drop();
});

const result = (succeeded: boolean): DeliveryResult => ({
  destination: 'sink',
  succeeded,
  result: succeeded ? 'success' : 'http_error',
  statusCode: succeeded ? 200 : 500,
  error: succeeded ? null : 'HTTP 500',
  durationMs: 5,
});

let counter = 0;
const insertEvent = async (): Promise<string> => {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     VALUES ('rounds', $1, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING') RETURNING id`,
    [`evt_round_${Date.now()}_${counter++}`],
  );
  return rows[0]!.id;
};
const attemptRows = async (id: string) =>
  (await db.pool.query('SELECT replay, attempt, succeeded FROM delivery_attempts WHERE event_id = $1 ORDER BY id', [id])).rows;

it('a late finish of an earlier replay round does not land on the current round', async () => {
  const store = new ProcessingStore(db.pool);
  const admin = new EventAdminService(dataSource, queue, silent);
  const id = await insertEvent();

  const runA = await store.claim(id, 0); // round 0, slow (its lock expires mid-delivery)
  const runB = await store.claim(id, 0); // the same job handed out again by the stalled check (PROCESSING is claimable)
  expect(runA && runB).toBeTruthy();
  expect(await store.finish(runB!, [result(true)], 'COMPLETED', null)).toBe(true);

  expect(await admin.replay(id)).toBe('replayed'); // round 1
  const runC = await store.claim(id, 1); // round 1's own job
  expect(runC).toBeTruthy();

  const lateA = await store.finish(runA!, [result(false)], 'FAILED', 'sink: HTTP 500');
  const ownC = await store.finish(runC!, [result(true)], 'COMPLETED', null);
  const row = (await db.pool.query('SELECT status, replays, last_error FROM webhook_events WHERE id = $1', [id])).rows[0];
  expect({ lateA, ownC, row, attempts: await attemptRows(id) }).toEqual({
    lateA: false,
    ownC: true,
    row: { status: 'COMPLETED', replays: 1, last_error: null },
    attempts: [
      { replay: 0, attempt: 2, succeeded: true },
      { replay: 1, attempt: 1, succeeded: true },
    ],
  });
});

it("a late finish of a run whose claim was taken over in the same round does not land; the claim's holder finishes", async () => {
  const store = new ProcessingStore(db.pool);
  const id = await insertEvent();
  const runA = await store.claim(id, 0); // its lock expires mid-delivery
  const runB = await store.claim(id, 0); // the job handed out again: B holds the event now
  expect([runA?.attempts, runB?.attempts]).toEqual([1, 2]);

  const lateA = await store.finish(runA!, [result(false)], 'FAILED', 'sink: HTTP 500');
  const ownB = await store.finish(runB!, [result(true)], 'COMPLETED', null);
  const row = (await db.pool.query('SELECT status, attempts, last_error FROM webhook_events WHERE id = $1', [id])).rows[0];
  // Only the finish that landed records its attempt: A's would count in the round's bookkeeping.
  expect({ lateA, ownB, row, attempts: await attemptRows(id) }).toEqual({
    lateA: false,
    ownB: true,
    row: { status: 'COMPLETED', attempts: 2, last_error: null },
    attempts: [{ replay: 0, attempt: 2, succeeded: true }],
  });
});

it("a dead letter made by a takeover of the event's last attempt (its worker killed) is replayed like any other", async () => {
  const store = new ProcessingStore(db.pool);
  const admin = new EventAdminService(dataSource, queue, silent);
  const id = await insertEvent();
  await store.claim(id, 0, 1); // the only attempt; its worker is killed while sending
  expect(await store.claim(id, 0, 1)).toMatchObject({ deadLettered: true, attempts: 1 });
  expect(await admin.replay(id)).toBe('replayed');
  // The new round starts its attempts again, and its own takeovers count them as any round's do.
  expect(await store.claim(id, 1, 1)).toMatchObject({ replays: 1, attempts: 1, deadLettered: false });
  expect((await db.pool.query('SELECT status, attempts, last_error FROM webhook_events WHERE id = $1', [id])).rows[0]).toEqual({
    status: 'PROCESSING',
    attempts: 1,
    last_error: null,
  });
});

/** A store whose finishes come after another run of the job took the event over (this run's lock was lost). */
class TakenOverStore extends ProcessingStore {
  holder: ClaimedEvent | undefined;

  override async finish(event: ClaimedEvent, results: DeliveryResult[], status: FinishedStatus, lastError: string | null, options?: FinishOptions): Promise<boolean> {
    this.holder = await this.claim(event.id, event.replays);
    return super.finish(event, results, status, lastError, options);
  }
}

describe('webhook_events_processed_total', () => {
  const failing = new Set<string>();
  const forwarder = new HttpForwarder({ defaultTimeoutMs: 1000, defaultMaxConcurrency: 1 });
  const processorWith = (store: ProcessingStore) =>
    new EventProcessor({
      store,
      confirmClaimAfterMs: WORKER_CONFIRM_CLAIM_AFTER_MS,
      routes: new RouteTable(),
      handlers: new EventHandlerRegistry().register('flaky', { provider: 'rounds' }, async ({ id }) => {
        if (failing.has(id)) throw new Error('handler refused');
      }),
      forwarder,
      maxAttempts: 5,
      logger: silent,
    });
  const processed = async (status: string) =>
    (await eventsProcessed.get()).values.find((v) => v.labels.provider === 'rounds' && v.labels.status === status)?.value ?? 0;

  afterAll(() => forwarder.close());

  it('counts an attempt only when its finish landed, and does not fail the job of a run that no longer holds the event', async () => {
    const plain = new ProcessingStore(db.pool);
    const takenOver = new TakenOverStore(db.pool);
    // Landed: counted.
    const completedBefore = await processed('completed');
    await expect(processorWith(plain).process({ eventId: await insertEvent() })).resolves.toBe('completed');
    expect(await processed('completed')).toBe(completedBefore + 1);
    const failed = await insertEvent();
    failing.add(failed);
    const failedBefore = await processed('failed');
    await expect(processorWith(plain).process({ eventId: failed })).rejects.toThrow('handler:flaky: handler refused');
    expect(await processed('failed')).toBe(failedBefore + 1);

    // Another run claimed the event before this one finished: nothing lands, nothing is counted, the job is not failed.
    for (const fails of [false, true]) {
      const id = await insertEvent();
      if (fails) failing.add(id);
      const before = { completed: await processed('completed'), failed: await processed('failed') };
      await expect(processorWith(takenOver).process({ eventId: id })).resolves.toBe('skipped');
      expect({ completed: await processed('completed'), failed: await processed('failed') }).toEqual(before);
      // The event is the holder's to finish: as its claim left it, and nothing of the late run recorded.
      expect((await db.pool.query('SELECT status, attempts FROM webhook_events WHERE id = $1', [id])).rows[0]).toEqual({ status: 'PROCESSING', attempts: 2 });
      expect(await attemptRows(id)).toEqual([]);
    }
  });
});
