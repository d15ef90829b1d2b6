import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import winston from 'winston';
import { EventAdminService } from '../../services/admin/event-admin-service.js';
import { createDataSource } from '../../services/shared/database/data-source.js';
import { promoteHeldJobs } from '../../services/shared/destinations/held-events.js';
import { EVENT_JOB_NAME, eventJobId } from '../../services/shared/queue/event-job.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { HttpForwarder } from '../../services/worker/delivery/http-forwarder.js';
import type { DeliveryResult } from '../../services/worker/delivery/delivery-result.js';
import { EventWorker } from '../../services/worker/event-worker.js';
import { EventHandlerRegistry } from '../../services/worker/processing/event-handlers.js';
import { EventProcessor } from '../../services/worker/processing/event-processor.js';
import { ProcessingStore, type ClaimedEvent, type FinishedStatus, type FinishOptions } from '../../services/worker/processing/processing-store.js';
import { RouteTable } from '../../services/worker/routing/route-table.js';
import { HttpSink } from '../support/http-sink.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { WORKER_CONFIRM_CLAIM_AFTER_MS } from '../support/worker-claim-bound.js';

/**
 * Each replay round of an event is processed by a job of its own (eventJobId), which alone may claim the event.
 *
 * A replay that lands between the worker writing an event's end (COMPLETED or DEAD_LETTER) to PostgreSQL and BullMQ
 * finishing that event's job: the job is still active, under the id a replay job would take. The replay must still
 * run, promptly (no reconciler runs here: without a job of its own the replayed event would wait in PENDING for it,
 * 30–45 s in production), and once: one delivery per round.
 */

const silent = winston.createLogger({ silent: true });

/** The worker's store, holding each job after its finish is written to PostgreSQL until the test lets it go on. */
class HeldAfterFinishStore extends ProcessingStore {
  private finished?: () => void;
  private release?: () => void;
  /** Resolves when the next finish has been written (the job is then held, still active in BullMQ). */
  nextFinish!: Promise<void>;
  private gate!: Promise<void>;

  arm(): void {
    this.nextFinish = new Promise((resolve) => (this.finished = resolve));
    this.gate = new Promise((resolve) => (this.release = resolve));
  }

  letGo(): void {
    this.release?.();
    this.finished = undefined;
  }

  override async finish(event: ClaimedEvent, results: DeliveryResult[], status: FinishedStatus, lastError: string | null, options?: FinishOptions): Promise<boolean> {
    const moved = await super.finish(event, results, status, lastError, options);
    if (this.finished) {
      this.finished();
      await this.gate;
    }
    return moved;
  }
}

let db: TestDatabase;
let ns: TestQueueNamespace;
let dataSource: DataSource;
let producer: Redis;
let consumer: Redis;
let queue: EventQueue;
let admin: EventAdminService;
let store: HeldAfterFinishStore;
let worker: EventWorker;
let forwarder: HttpForwarder;
/** Fails the first delivery of an event whose id is in `failFirst`, accepts every other. */
const failFirst = new Set<string>();
const sink = new HttpSink((request) => {
  const id = String(request.headers['webhook-id']);
  return failFirst.delete(id) ? { status: 500 } : { status: 200 };
});

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  await sink.start();
  dataSource = await createDataSource({ url: db.url, poolSize: 2, applicationName: 'replay-race-test' }).initialize();
  producer = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
  consumer = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
  // One attempt: a failed delivery dead-letters the event at once (BullMQ fails the job).
  queue = new EventQueue({ connection: producer, name: 'webhook-events', prefix: ns.prefix, attempts: 1, backoffMs: 20, logger: silent });
  admin = new EventAdminService(dataSource, queue, silent);
  store = new HeldAfterFinishStore(db.pool);
  forwarder = new HttpForwarder({ defaultTimeoutMs: 5000, defaultMaxConcurrency: 4 });
  const processor = new EventProcessor({
    store,
    confirmClaimAfterMs: WORKER_CONFIRM_CLAIM_AFTER_MS,
    routes: new RouteTable({ destinations: { sink: { url: `${sink.url}/in` } }, routes: [{ provider: 'raceco', to: ['sink'] }] }),
    handlers: new EventHandlerRegistry(),
    forwarder,
    maxAttempts: 1,
    logger: silent,
  });
  worker = new EventWorker({
    connection: consumer,
    queueName: 'webhook-events',
    prefix: ns.prefix,
    concurrency: 4,
    lockDurationMs: 30_000,
    stalledIntervalMs: 30_000,
    processor,
    logger: silent,
  });
  worker.start();
});

afterEach(() => store.letGo());

afterAll(async () => {
  store?.letGo();
  await worker?.close(true);
  await queue?.close();
  await forwarder?.close();
  producer?.disconnect();
  consumer?.disconnect();
  await dataSource?.destroy();
  await sink.stop();
  await ns?.cleanup();
  await db?.drop();
});

let counter = 0;

/** Stores an event and enqueues it as the ingress does. */
async function ingest(): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     VALUES ('raceco', $1, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING') RETURNING id`,
    [`evt_race_${Date.now()}_${counter++}`],
  );
  const id = rows[0]!.id;
  await queue.enqueue({ eventId: id });
  return id;
}

const rowOf = async (id: string) =>
  (await db.pool.query<{ status: string; replays: number }>('SELECT status, replays FROM webhook_events WHERE id = $1', [id])).rows[0]!;

type Replay = (id: string) => Promise<unknown>;
const single: Replay = async (id) => expect(await admin.replay(id)).toBe('replayed');
const byIds: Replay = async (id) => expect(await admin.replayIds([id])).toMatchObject({ replayed: 1 });
const byStatus = (status: 'COMPLETED' | 'DEAD_LETTER'): Replay => async () => expect(await admin.replayAll(status)).toBe(1);

describe('a replay while the event’s job is finishing', () => {
  it.each<[string, 'COMPLETED' | 'DEAD_LETTER', Replay]>([
    ['one COMPLETED event', 'COMPLETED', single],
    ['one DEAD_LETTER event', 'DEAD_LETTER', single],
    ['COMPLETED events picked by id', 'COMPLETED', byIds],
    ['every DEAD_LETTER event', 'DEAD_LETTER', byStatus('DEAD_LETTER')],
  ])('%s: processed again at once, delivered once more', async (_name, finishedAs, replay) => {
    store.arm();
    const id = await ingest();
    if (finishedAs === 'DEAD_LETTER') failFirst.add(id);
    await store.nextFinish;
    // PostgreSQL says finished; BullMQ still has the job active (held here), under the event's id.
    expect(await rowOf(id)).toEqual({ status: finishedAs, replays: 0 });
    expect(await queue.queue.getJobState(id)).toBe('active');

    await replay(id);
    store.letGo();

    await waitFor(`the replayed event ${id} to complete`, async () => (await rowOf(id)).status === 'COMPLETED', { timeoutMs: 5000 });
    expect(await rowOf(id)).toEqual({ status: 'COMPLETED', replays: 1 });
    // One delivery per round: the first (failed, for a dead letter), and the replay's.
    expect(sink.requestsFor(id)).toHaveLength(2);
    await waitFor('the queue to settle', async () => (await queue.counts()).active === 0);
    expect(sink.requestsFor(id)).toHaveLength(2);
  });
});

describe('a job of an earlier round', () => {
  it('is ignored by a resume: the held event’s job of its current round is promoted', async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, replays, held_for, held_since)
       VALUES ('raceco', $1, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING', 2, '{paused-dest}', now()) RETURNING id`,
      [`evt_held_round_${Date.now()}`],
    );
    const id = rows[0]!.id;
    const jobs = await queue.queue.addBulk([
      { name: EVENT_JOB_NAME, data: { eventId: id, replays: 2 }, opts: { jobId: eventJobId(id, 2), delay: 3_600_000 } },
      { name: EVENT_JOB_NAME, data: { eventId: id, replays: 1 }, opts: { jobId: eventJobId(id, 1), delay: 3_600_000 } },
    ]);
    try {
      expect(await promoteHeldJobs(db.pool, queue.queue, 'paused-dest')).toBe(1);
      expect(await queue.queue.getJobState(eventJobId(id, 1))).toBe('delayed');
      await waitFor('the round-2 job to run', async () => (await rowOf(id)).status === 'COMPLETED');
    } finally {
      for (const job of jobs) await job.remove().catch(() => undefined);
    }
  });


  it('does not claim the replayed event, even while it is PROCESSING (where a stalled job of its own round may)', async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, replays)
       VALUES ('raceco', $1, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PROCESSING', 1) RETURNING id`,
      [`evt_round_${Date.now()}`],
    );
    const id = rows[0]!.id;
    const plain = new ProcessingStore(db.pool);
    // The round-0 job (its worker's run outlived the replay, say, and BullMQ handed it out again): skipped.
    expect(await plain.claim(id, 0)).toBeUndefined();
    // The round's own job, run again after its worker died: claims, as before.
    expect(await plain.claim(id, 1)).toMatchObject({ id, replays: 1, attempts: 1 });
  });
});
