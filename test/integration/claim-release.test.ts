/**
 * A run that ends by throwing before it writes its end (an unexpected error in the worker's own code, a destination
 * adapter throwing something unforeseen; not PostgreSQL unreachable, which UnrecordedRun carries) releases its claim
 * (ProcessingStore.releaseClaim), so that its job's retry claims the event at once. Before, its claim and heartbeat
 * stayed fresh: the retry, after its backoff, met a "live" run and ended skipped, and the event waited PROCESSING for
 * the reconciler (RECONCILER_STALE_MS, 30 s by default, and up to an interval more).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Pool, QueryConfig } from 'pg';
import winston from 'winston';
import type { DestinationGuard } from '../../services/worker/delivery/destination-guard.js';
import { HttpForwarder } from '../../services/worker/delivery/http-forwarder.js';
import { EventWorker } from '../../services/worker/event-worker.js';
import { ClaimHeartbeat, confirmClaimAfterMs, liveClaimWindowMs } from '../../services/worker/processing/claim-heartbeat.js';
import { EventHandlerRegistry } from '../../services/worker/processing/event-handlers.js';
import { EventProcessor } from '../../services/worker/processing/event-processor.js';
import { ProcessingStore } from '../../services/worker/processing/processing-store.js';
import { claimIdentity } from '../../services/worker/processing/unrecorded-run.js';
import { RouteTable } from '../../services/worker/routing/route-table.js';
import { HttpSink } from '../support/http-sink.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

// The worker's job lock: another claim leaves a run alone while its claim or heartbeat is under 2/5 of it (12 s).
const LOCK_MS = 30_000;
const ATTEMPTS = 3;
const silent = winston.createLogger({ silent: true });
let db: TestDatabase;
let counter = 0;

async function newEvent(provider: string): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     VALUES ($1, $2, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING') RETURNING id`,
    [provider, `evt_release_${counter++}`],
  );
  return rows[0]!.id;
}

type Row = { status: string; attempts: number; last_error: string | null; claim_token: string | null; held_for: string[] | null };
const row = async (id: string): Promise<Row> =>
  (await db.pool.query<Row>('SELECT status, attempts, last_error, claim_token, held_for FROM webhook_events WHERE id = $1', [id])).rows[0]!;
const deliveryRows = async (id: string) =>
  (await db.pool.query<{ attempt: number; succeeded: boolean }>('SELECT attempt, succeeded FROM delivery_attempts WHERE event_id = $1 ORDER BY attempt', [id])).rows;

/**
 * The database as the worker reaches it, but the next `finishFaults` finishes throw an error no code path foresees (a
 * bug in the worker: not a PostgreSQL refusal, not a lost connection), and the claim release, while `releaseRefused`,
 * is refused as by a read-only node after a failover.
 */
function faultyPool(pool: Pool) {
  const faults = { finishFaults: 0, releaseRefused: false };
  const faulty = {
    query: async (config: QueryConfig) => {
      if (config.name?.startsWith('finish-event') && faults.finishFaults > 0) {
        faults.finishFaults--;
        throw new TypeError("Cannot read properties of undefined (reading 'attempt')");
      }
      if (config.name?.startsWith('release-claim') && faults.releaseRefused) {
        throw Object.assign(new Error('cannot execute UPDATE in a read-only transaction'), { code: '25006' });
      }
      return pool.query(config);
    },
  } as unknown as Pool;
  return { faulty, faults };
}

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db.drop();
});

describe('a run that throws before writing its end, in a BullMQ worker', () => {
  let ns: TestQueueNamespace;
  let connection: Redis;
  const sink = new HttpSink();
  const forwarder = new HttpForwarder({ defaultTimeoutMs: 10_000, defaultMaxConcurrency: 8 });

  beforeAll(async () => {
    ns = createQueueNamespace();
    connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
    await sink.start();
  });

  afterAll(async () => {
    connection?.disconnect();
    await ns?.cleanup();
    await forwarder.close();
    await sink.stop();
  });

  it("is retried by its job at once: the retry claims the event, not the reconciler's job half a minute later", async () => {
    const { faulty, faults } = faultyPool(db.pool);
    // As the worker role builds them: the live-claim window of the lock, the heartbeat running.
    const heartbeat = new ClaimHeartbeat({ pool: db.pool, lockDurationMs: LOCK_MS, logger: silent });
    heartbeat.start();
    const processor = new EventProcessor({
      store: new ProcessingStore(faulty, { liveClaimWindowMs: liveClaimWindowMs(LOCK_MS) }),
      confirmClaimAfterMs: confirmClaimAfterMs(LOCK_MS),
      routes: new RouteTable({ destinations: { crm: { url: `${sink.url}/crm` } }, routes: [{ provider: 'releaseco', to: ['crm'] }] }),
      handlers: new EventHandlerRegistry(),
      forwarder,
      maxAttempts: ATTEMPTS,
      logger: silent,
      heartbeat,
    });
    const worker = new EventWorker({
      connection,
      queueName: 'claim-release',
      prefix: ns.prefix,
      concurrency: 2,
      lockDurationMs: LOCK_MS,
      stalledIntervalMs: LOCK_MS,
      processor,
      logger: silent,
    });
    const jobs = new Queue('claim-release', { connection, prefix: ns.prefix });
    const accepting = sink.behaviour;
    try {
      const id = await newEvent('releaseco');
      // The first delivery is refused: the run ends FAILED (a retry to come) when its finish throws.
      sink.behaviour = (request) => (request.headers['webhook-id'] === id && sink.requestsFor(id).length === 1 ? { status: 503 } : { status: 200 });
      faults.finishFaults = 1;
      worker.start();
      await jobs.add('process-event', { eventId: id }, { jobId: id, attempts: ATTEMPTS, backoff: { type: 'fixed', delay: 20 } });

      // No reconciler runs here, and the deadline is within the live-claim window (12 s) besides: only the job's own
      // retry can have completed it. Without the release the retry ends skipped and the event stays PROCESSING.
      const done = await waitFor('the event completed by its job\'s retry', async () => {
        const current = await row(id);
        return current.status === 'COMPLETED' ? current : undefined;
      }, { timeoutMs: 10_000 });
      expect(done).toMatchObject({ attempts: 2, last_error: null });
      expect(faults.finishFaults).toBe(0);
      expect(sink.requestsFor(id)).toHaveLength(2);
      // The first run's refused delivery, recorded with its release; the retry's.
      expect(await deliveryRows(id)).toEqual([
        { attempt: 1, succeeded: false },
        { attempt: 2, succeeded: true },
      ]);
      expect(await waitFor('the job completed', async () => (await jobs.getJobState(id)) === 'completed')).toBe(true);
    } finally {
      sink.behaviour = accepting;
      await worker.close(true);
      await jobs.close();
      await heartbeat.stop();
    }
  }, 30_000);

  it("records the run's deliveries that took the event, so its retry sends only to the destination that threw", async () => {
    // The destinations' protection with a bug for one destination, once: its admission throws (not a failed delivery:
    // the run ends by throwing) after the other destination took the event.
    const broken = new HttpSink();
    await broken.start();
    let admissionFaults = 1;
    const buggy = {
      admit: async (destination: { name: string }) => {
        if (destination.name === 'broken' && admissionFaults > 0) {
          admissionFaults--;
          await waitFor('crm took the event', () => sink.requests.some((request) => request.path === '/crm-and-broken'));
          throw new RangeError('an unforeseen state');
        }
        return { go: true };
      },
      recheck: async () => undefined,
      releaseProbe: async () => undefined,
      record: async () => ({ probeFailed: false }),
    } as unknown as DestinationGuard;
    const processor = new EventProcessor({
      store: new ProcessingStore(db.pool, { liveClaimWindowMs: liveClaimWindowMs(LOCK_MS) }),
      confirmClaimAfterMs: confirmClaimAfterMs(LOCK_MS),
      routes: new RouteTable({
        destinations: { crm: { url: `${sink.url}/crm-and-broken` }, broken: { url: `${broken.url}/broken` } },
        routes: [{ provider: 'releasetwo', to: ['crm', 'broken'] }],
      }),
      handlers: new EventHandlerRegistry(),
      forwarder,
      maxAttempts: ATTEMPTS,
      logger: silent,
      guard: buggy,
    });
    const worker = new EventWorker({
      connection,
      queueName: 'claim-release-two',
      prefix: ns.prefix,
      concurrency: 2,
      lockDurationMs: LOCK_MS,
      stalledIntervalMs: LOCK_MS,
      processor,
      logger: silent,
    });
    const jobs = new Queue('claim-release-two', { connection, prefix: ns.prefix });
    try {
      const id = await newEvent('releasetwo');
      worker.start();
      await jobs.add('process-event', { eventId: id }, { jobId: id, attempts: ATTEMPTS, backoff: { type: 'fixed', delay: 20 } });

      const done = await waitFor('the event completed by its job\'s retry', async () => {
        const current = await row(id);
        return current.status === 'COMPLETED' ? current : undefined;
      });
      expect(done).toMatchObject({ attempts: 2, last_error: null });
      expect(admissionFaults).toBe(0);
      // crm took it in the first run, which recorded that with its release: the retry sent to `broken` only.
      expect(sink.requestsFor(id)).toHaveLength(1);
      expect(broken.requestsFor(id)).toHaveLength(1);
      const { rows } = await db.pool.query<{ destination: string; attempt: number; succeeded: boolean }>(
        'SELECT destination, attempt, succeeded FROM delivery_attempts WHERE event_id = $1 ORDER BY attempt, destination',
        [id],
      );
      expect(rows).toEqual([
        { destination: 'crm', attempt: 1, succeeded: true },
        { destination: 'broken', attempt: 2, succeeded: true },
      ]);
    } finally {
      await worker.close(true);
      await jobs.close();
      await broken.stop();
    }
  }, 30_000);
});

describe('a run that throws after only waiting for slots, in a BullMQ worker', () => {
  let ns: TestQueueNamespace;
  let connection: Redis;

  beforeAll(async () => {
    ns = createQueueNamespace();
    connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
  });

  afterAll(async () => {
    connection?.disconnect();
    await ns?.cleanup();
  });

  it('waits without using one of BullMQ\'s attempts: the event is dead-lettered only after all its own attempts', async () => {
    // `narrow` has one slot. The occupier's delivery holds it (answered after a while); the event's waits for it (the
    // claim marked waiting, nothing sent) until the worker starts stopping, and its finish then throws: the release
    // gives the attempt back (PENDING). Every later delivery of the event is refused, so it ends DEAD_LETTER.
    let occupier = '';
    const narrow = new HttpSink((request) => (request.headers['webhook-id'] === occupier ? { status: 200, delayMs: 3000 } : { status: 500 }));
    await narrow.start();
    const routes = new RouteTable({
      destinations: { narrow: { url: `${narrow.url}/narrow`, maxConcurrency: 1 } },
      routes: [{ provider: 'releasewait', to: ['narrow'] }],
    });
    const stopping = new HttpForwarder({ defaultTimeoutMs: 10_000, defaultMaxConcurrency: 8 });
    const next = new HttpForwarder({ defaultTimeoutMs: 10_000, defaultMaxConcurrency: 8 });
    const { faulty, faults } = faultyPool(db.pool);
    const processorWith = (pool: Pool, forwarder: HttpForwarder) =>
      new EventProcessor({
        store: new ProcessingStore(pool, { liveClaimWindowMs: liveClaimWindowMs(LOCK_MS) }),
        confirmClaimAfterMs: confirmClaimAfterMs(LOCK_MS),
        routes,
        handlers: new EventHandlerRegistry(),
        forwarder,
        maxAttempts: ATTEMPTS,
        logger: silent,
      });
    const workerWith = (processor: EventProcessor) =>
      new EventWorker({ connection, queueName: 'claim-release-wait', prefix: ns.prefix, concurrency: 1, lockDurationMs: LOCK_MS, stalledIntervalMs: LOCK_MS, processor, logger: silent });
    const first = processorWith(faulty, stopping);
    const stoppingWorker = workerWith(first);
    const nextWorker = workerWith(processorWith(db.pool, next));
    const jobs = new Queue('claim-release-wait', { connection, prefix: ns.prefix });
    let occupied: Promise<unknown> = Promise.resolve();
    try {
      occupier = await newEvent('releasewait');
      occupied = first.process({ eventId: occupier }).catch((error: unknown) => error);
      await waitFor('the occupier holding narrow\'s slot', () => narrow.requestsFor(occupier).length === 1);

      const id = await newEvent('releasewait');
      stoppingWorker.start();
      await jobs.add('process-event', { eventId: id }, { jobId: id, attempts: ATTEMPTS, backoff: { type: 'fixed', delay: 20 } });
      await waitFor('the event\'s delivery waiting for the slot', async () => {
        const { rows } = await db.pool.query<{ claim_waiting: boolean }>('SELECT claim_waiting FROM webhook_events WHERE id = $1', [id]);
        return rows[0]!.claim_waiting;
      });
      faults.finishFaults = 1;
      stopping.stopStartingDeliveries();
      await waitFor('the run\'s finish thrown and its claim given back', async () => faults.finishFaults === 0 && (await row(id)).status === 'PENDING');
      expect(await row(id)).toMatchObject({ attempts: 0, last_error: expect.stringMatching(/^the run failed inside the worker: /) });
      await stoppingWorker.close();
      // The run counted no attempt in PostgreSQL, nor in BullMQ.
      expect((await jobs.getJob(id))?.attemptsMade).toBe(0);
      expect(narrow.requestsFor(id)).toHaveLength(0);

      nextWorker.start();
      const ended = await waitFor('the event dead-lettered', async () => {
        const current = await row(id);
        return current.status === 'DEAD_LETTER' ? current : undefined;
      });
      // All of its attempts made: before, BullMQ's count ran one ahead and its last dead-lettered the event at 2 of 3.
      expect(ended.attempts).toBe(ATTEMPTS);
      expect(narrow.requestsFor(id)).toHaveLength(ATTEMPTS);
      expect(await deliveryRows(id)).toEqual([1, 2, 3].map((attempt) => ({ attempt, succeeded: false })));
    } finally {
      await occupied;
      await stoppingWorker.close(true);
      await nextWorker.close(true);
      await jobs.close();
      await Promise.all([stopping.close(), next.close()]);
      await narrow.stop();
    }
  }, 60_000);
});

describe('the claim release', () => {
  const sink = new HttpSink();
  const forwarder = new HttpForwarder({ defaultTimeoutMs: 10_000, defaultMaxConcurrency: 8 });
  const processorWith = (store: ProcessingStore) =>
    new EventProcessor({
      store,
      confirmClaimAfterMs: confirmClaimAfterMs(LOCK_MS),
      routes: new RouteTable({ destinations: { crm: { url: `${sink.url}/crm` } }, routes: [{ provider: 'releasestore', to: ['crm'] }] }),
      handlers: new EventHandlerRegistry(),
      forwarder,
      maxAttempts: ATTEMPTS,
      logger: silent,
    });

  beforeAll(async () => void (await sink.start()));
  afterAll(async () => {
    await forwarder.close();
    await sink.stop();
  });

  it('records the attempt as failed with the run\'s error, and dead-letters the event on its last attempt', async () => {
    const { faulty, faults } = faultyPool(db.pool);
    const processor = processorWith(new ProcessingStore(faulty, { liveClaimWindowMs: liveClaimWindowMs(LOCK_MS) }));
    const id = await newEvent('releasestore');
    // The destination refuses it: each run's finish (which throws here) would have recorded a failed attempt.
    const accepting = sink.behaviour;
    sink.behaviour = () => ({ status: 500 });
    try {
      faults.finishFaults = 1;
      await expect(processor.process({ eventId: id })).rejects.toMatchObject({ name: 'DeliveryFailedError', final: false, attempt: 1 });
      expect(await row(id)).toMatchObject({ status: 'FAILED', attempts: 1, last_error: expect.stringMatching(/^the run failed inside the worker: Cannot read properties of undefined/) });

      faults.finishFaults = 1;
      await expect(processor.process({ eventId: id })).rejects.toMatchObject({ name: 'DeliveryFailedError', final: false, attempt: 2 });
      faults.finishFaults = 1;
      await expect(processor.process({ eventId: id })).rejects.toMatchObject({ name: 'DeliveryFailedError', final: true, attempt: ATTEMPTS });
      expect(await row(id)).toMatchObject({ status: 'DEAD_LETTER', attempts: ATTEMPTS, held_for: null });
    } finally {
      sink.behaviour = accepting;
    }
    // Each run's attempt, recorded with its release.
    expect(await deliveryRows(id)).toEqual([
      { attempt: 1, succeeded: false },
      { attempt: 2, succeeded: false },
      { attempt: 3, succeeded: false },
    ]);
  });

  it('completes the event when only the finish threw, every destination having taken it: no dead letter on the last attempt', async () => {
    const { faulty, faults } = faultyPool(db.pool);
    const processor = processorWith(new ProcessingStore(faulty, { liveClaimWindowMs: liveClaimWindowMs(LOCK_MS) }));
    const id = await newEvent('releasestore');
    // Its last attempt: released FAILED, as before, this was DEAD_LETTER, though crm had taken the event.
    await db.pool.query(`UPDATE webhook_events SET status = 'FAILED', attempts = $2 WHERE id = $1`, [id, ATTEMPTS - 1]);
    faults.finishFaults = 1;
    await expect(processor.process({ eventId: id })).resolves.toBe('completed');
    expect(faults.finishFaults).toBe(0);
    expect(await row(id)).toMatchObject({ status: 'COMPLETED', attempts: ATTEMPTS, last_error: null, held_for: null });
    expect(await deliveryRows(id)).toEqual([{ attempt: ATTEMPTS, succeeded: true }]);
    expect(sink.requestsFor(id)).toHaveLength(1);
  });

  it('is written under the run\'s own claim only: a run whose claim was taken over releases nothing', async () => {
    const store = new ProcessingStore(db.pool);
    const id = await newEvent('releasestore');
    const stale = (await store.claim(id, 0, ATTEMPTS))!;
    const current = (await store.claim(id, 0, ATTEMPTS))!; // the stalled check's job, say (no window: a takeover)
    expect(await store.releaseClaim(claimIdentity(stale), { final: false }, 'the run failed inside the worker: boom')).toBeUndefined();
    // Same attempt number and claim time, another token: still not this run's claim.
    expect(await store.releaseClaim({ ...claimIdentity(current), claimToken: stale.claimToken }, { final: false }, 'boom')).toBeUndefined();
    expect(await row(id)).toMatchObject({ status: 'PROCESSING', attempts: 2, claim_token: current.claimToken, last_error: null });
    expect(await store.releaseClaim(claimIdentity(current), { final: false }, 'boom')).toBe('FAILED');
    // Sent again (its answer lost): nothing more.
    expect(await store.releaseClaim(claimIdentity(current), { final: false }, 'boom')).toBeUndefined();
  });

  it('gives the attempt back when the run had only waited for slots (nothing sent)', async () => {
    const store = new ProcessingStore(db.pool);
    const id = await newEvent('releasestore');
    const claimed = (await store.claim(id, 0, ATTEMPTS))!;
    await store.markWaiting(claimed);
    expect(await store.releaseClaim(claimIdentity(claimed), { final: true }, 'boom')).toBe('PENDING');
    expect(await row(id)).toMatchObject({ status: 'PENDING', attempts: 0 });
    expect(await store.claim(id, 0, ATTEMPTS)).toMatchObject({ attempts: 1, deadLettered: false });
  });

  it('comes once every delivery of the run has ended, not while one is still being sent', async () => {
    const slow = new HttpSink(() => ({ status: 200, delayMs: 1000 }));
    await slow.start();
    // The destinations' protection with a bug for one destination: its admission throws. The other's delivery is
    // being sent when that happens; its outcome is counted (`record`) once it has ended.
    let slowEnded = false;
    const buggy = {
      admit: async (destination: { name: string }) => {
        if (destination.name === 'broken') throw new RangeError('an unforeseen state');
        return { go: true };
      },
      recheck: async () => undefined,
      releaseProbe: async () => undefined,
      record: async (destination: { name: string }) => {
        if (destination.name === 'slow') slowEnded = true;
        return { probeFailed: false };
      },
    } as unknown as DestinationGuard;
    try {
      const processor = new EventProcessor({
        store: new ProcessingStore(db.pool, { liveClaimWindowMs: liveClaimWindowMs(LOCK_MS) }),
        confirmClaimAfterMs: confirmClaimAfterMs(LOCK_MS),
        routes: new RouteTable({
          destinations: { slow: { url: `${slow.url}/slow` }, broken: { url: `${sink.url}/broken` } },
          routes: [{ provider: 'releasestore', to: ['slow', 'broken'] }],
        }),
        handlers: new EventHandlerRegistry(),
        forwarder,
        maxAttempts: ATTEMPTS,
        logger: silent,
        guard: buggy,
      });
      const id = await newEvent('releasestore');
      const failed = await processor.process({ eventId: id }).catch((error: unknown) => error);
      // Released only after `slow` answered: the job's retry cannot send beside it.
      expect(slowEnded).toBe(true);
      expect(failed).toMatchObject({ name: 'DeliveryFailedError', final: false });
      expect(await row(id)).toMatchObject({ status: 'FAILED', last_error: 'the run failed inside the worker: an unforeseen state' });
      expect(slow.requestsFor(id)).toHaveLength(1);
      // Its delivery recorded with the release: the retry does not send it again.
      expect(await deliveryRows(id)).toEqual([{ attempt: 1, succeeded: true }]);
    } finally {
      await slow.stop();
    }
  });

  it('not written (PostgreSQL refusing it), leaves the claim as it was and the run\'s own error goes on', async () => {
    const { faulty, faults } = faultyPool(db.pool);
    const store = new ProcessingStore(faulty, { liveClaimWindowMs: liveClaimWindowMs(LOCK_MS) });
    const id = await newEvent('releasestore');
    faults.finishFaults = 1;
    faults.releaseRefused = true;
    await expect(processorWith(store).process({ eventId: id })).rejects.toBeInstanceOf(TypeError);
    // As before the release: the claim stays until it is stale (another claim after the window, or the reconciler).
    expect(await row(id)).toMatchObject({ status: 'PROCESSING', attempts: 1 });
    expect(await store.heldByLiveRun(id, 0, 'c0ffee00-0000-4000-8000-000000000000')).toBe(true);
  });
});
