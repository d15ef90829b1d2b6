import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import winston from 'winston';
import { DestinationPauses } from '../../services/shared/destinations/destination-pauses.js';
import { DestinationStateStore } from '../../services/shared/destinations/destination-state.js';
import { promoteHeldJobs } from '../../services/shared/destinations/held-events.js';
import { EVENT_JOB_NAME } from '../../services/shared/queue/event-job.js';
import type { DeliveryResult } from '../../services/worker/delivery/delivery-result.js';
import { DestinationGuard } from '../../services/worker/delivery/destination-guard.js';
import { HttpForwarder } from '../../services/worker/delivery/http-forwarder.js';
import { EventWorker } from '../../services/worker/event-worker.js';
import { EventHandlerRegistry } from '../../services/worker/processing/event-handlers.js';
import { EventProcessor } from '../../services/worker/processing/event-processor.js';
import { ProcessingStore, type FinishedStatus } from '../../services/worker/processing/processing-store.js';
import { RouteTable } from '../../services/worker/routing/route-table.js';
import { readEventRow } from '../support/event-status.js';
import { HttpSink } from '../support/http-sink.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { WORKER_CONFIRM_CLAIM_AFTER_MS } from '../support/worker-claim-bound.js';

// An event that finds a half-open circuit's probe taken is put off: its run writes it PENDING (held for the
// destination), then its job is moved to the delayed set for the probe's lease or the cooldown, and a spread. The
// probe's holder, as it frees the probe (a probe that learnt nothing: its event failed before anything was sent),
// promotes the longest-waiting event whose job it finds delayed. When it looked between the put-off event's PENDING
// and its job's move, that job was not delayed yet: nothing was promoted, and the event waited out its whole delay
// (here the 10-minute lease) with the probe free. Now the job, once delayed, looks at the probe itself and is
// promoted when it is free.
//
// The interleaving is made, not waited for: the put-off event's finish (a ProcessingStore of the test's) frees the
// probe and waits for the holder's promotion before the run goes on to delay its job.

const QUEUE = 'probe-freed-while-putting-off';
// Long enough that a put-off event coming back by itself would be far past the test's deadline.
const BREAKER = { failureThreshold: 1, cooldownMs: 600_000 };
const PROBE_LEASE_MS = 600_000;

/** A store whose first finish writing a run's wait (PENDING) runs `afterWaitWritten` before the run goes on. */
class StoreWithWaitHook extends ProcessingStore {
  afterWaitWritten?: () => Promise<void>;

  override async finish(...args: Parameters<ProcessingStore['finish']>): Promise<boolean> {
    const landed = await super.finish(...args);
    const status: FinishedStatus = args[2];
    const hook = this.afterWaitWritten;
    if (landed && status === 'PENDING' && hook) {
      this.afterWaitWritten = undefined;
      await hook();
    }
    return landed;
  }
}

const silent = winston.createLogger({ silent: true });
let db: TestDatabase;
let ns: TestQueueNamespace;
let connection: Redis;
let stateRedis: Redis;
let queue: Queue;
let sink: HttpSink;
let store: StoreWithWaitHook;
let state: DestinationStateStore;
let guard: DestinationGuard;
let forwarder: HttpForwarder;
let worker: EventWorker;
let routes: RouteTable;
/** The passes the guard ran to promote waiting events (the probe holder's), as they were started. */
const holderPromotions: Promise<number>[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  sink = await new HttpSink().start();
  connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
  stateRedis = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
  queue = new Queue(QUEUE, { connection, prefix: ns.prefix });
  state = new DestinationStateStore(stateRedis, `${ns.prefix}:${QUEUE}`);
  guard = new DestinationGuard({
    state,
    pauses: new DestinationPauses(db.pool, state),
    redis: stateRedis,
    probeLeaseMs: PROBE_LEASE_MS,
    promoteWaiting: (destination, limit) => {
      const pass = promoteHeldJobs(db.pool, queue, destination, limit === undefined ? {} : { limit });
      holderPromotions.push(pass);
      return pass;
    },
    logger: silent,
  });
  forwarder = new HttpForwarder({ defaultTimeoutMs: 5000, defaultMaxConcurrency: 4, beforeSend: guard.beforeSend });
  store = new StoreWithWaitHook(db.pool);
  routes = new RouteTable({
    destinations: { guarded: { url: `${sink.url}/guarded`, circuitBreaker: BREAKER } },
    routes: [{ provider: 'probeco', to: ['guarded'] }],
  });
  const processor = new EventProcessor({
    store,
    confirmClaimAfterMs: WORKER_CONFIRM_CLAIM_AFTER_MS,
    routes,
    handlers: new EventHandlerRegistry(),
    forwarder,
    maxAttempts: 3,
    logger: silent,
    guard,
  });
  worker = new EventWorker({ connection, queueName: QUEUE, prefix: ns.prefix, concurrency: 1, lockDurationMs: 30_000, stalledIntervalMs: 30_000, processor, logger: silent });
});

afterAll(async () => {
  await worker?.close(true);
  await guard?.close();
  await queue?.close();
  connection?.disconnect();
  stateRedis?.disconnect();
  await forwarder?.close();
  await sink?.stop();
  await db?.drop();
  await ns?.cleanup();
});

it('an event put off behind the probe, which was freed before its job was delayed, is promoted once delayed and probes', async () => {
  const destination = routes.allDestinations()[0]!;
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     VALUES ('probeco', 'evt_put_off', 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING') RETURNING id`,
  );
  const id = rows[0]!.id;

  // The circuit opened, its cooldown over; the probe is taken (the holder: this test, through the guard).
  expect(await state.record('guarded', 'failure', BREAKER)).toBe('opened');
  await stateRedis.hset(state.circuitKey('guarded'), 'openUntil', 0);
  const holder = await guard.admit(destination);
  expect(holder).toMatchObject({ go: true, probeToken: expect.any(String) });
  const probeToken = (holder as { probeToken: string }).probeToken;

  // Once the event is written PENDING behind the probe, and before its job is delayed: the holder's probe learnt
  // nothing (its event failed before anything was sent), which frees the probe and promotes the longest-waiting event.
  let promotedByHolder: number | undefined;
  store.afterWaitWritten = async () => {
    const learntNothing: DeliveryResult = { destination: 'guarded', succeeded: false, result: 'internal_error', statusCode: null, error: 'transform failed', durationMs: 0 };
    expect(await guard.record(destination, learntNothing, probeToken)).toEqual({ probeFailed: false });
    promotedByHolder = await waitFor("the probe holder's promotion of the waiting events", async () => holderPromotions[0]);
  };

  worker.start();
  await queue.add(EVENT_JOB_NAME, { eventId: id }, { jobId: id, attempts: 3, backoff: { type: 'fixed', delay: 20 } });

  // Before: PENDING "waiting: guarded circuit half-open (a probe is testing it)" for the 10-minute lease and more.
  const row = await waitFor(
    `event ${id} to be COMPLETED`,
    async () => {
      const seen = await readEventRow(db.pool, id);
      // Thrown, so that a timeout names where the event stands.
      if (seen?.status !== 'COMPLETED') throw new Error(`${seen?.status} after ${seen?.attempts} attempts: ${seen?.last_error}`);
      return seen;
    },
    { timeoutMs: 30_000 },
  );
  expect(row).toMatchObject({ attempts: 1, last_error: null });
  // The interleaving happened: the holder looked for the event while its job was not delayed yet, and found nothing.
  expect(promotedByHolder).toBe(0);
  // It probed: delivered once, and its success closed the circuit.
  expect(sink.requests).toHaveLength(1);
  expect((await state.read(['guarded'])).views[0]!.circuit!.state).toBe('closed');
});
