import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import winston from 'winston';
import { DestinationControl } from '../../services/admin/destination-control.js';
import { DestinationPauses } from '../../services/shared/destinations/destination-pauses.js';
import { DestinationStateStore } from '../../services/shared/destinations/destination-state.js';
import { promoteHeldJobs } from '../../services/shared/destinations/held-events.js';
import { EVENT_JOB_NAME } from '../../services/shared/queue/event-job.js';
import { DestinationGuard } from '../../services/worker/delivery/destination-guard.js';
import { HttpForwarder } from '../../services/worker/delivery/http-forwarder.js';
import { EventWorker } from '../../services/worker/event-worker.js';
import { EventHandlerRegistry } from '../../services/worker/processing/event-handlers.js';
import { EventProcessor } from '../../services/worker/processing/event-processor.js';
import { ProcessingStore } from '../../services/worker/processing/processing-store.js';
import type { RoutesFile } from '../../services/worker/routing/routes-file.js';
import { RoutesWithHeldTransforms } from '../support/held-transforms.js';
import { HttpSink } from '../support/http-sink.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { WORKER_CONFIRM_CLAIM_AFTER_MS } from '../support/worker-claim-bound.js';

// A delivery is admitted (not paused, circuit closed) before its route's JSONata transform builds the message, which
// can take up to a second (TRANSFORM_TIMEOUT_MS) and waits its turn behind the process's other transforms. What
// admitted it may change meanwhile: it is asked again once the message is built, before anything is sent, as a
// delivery that waited for a slot is once it holds one.
//
// The interleaving is made, not waited for: the test holds a transform before it evaluates (the delivery admitted,
// its message not built yet), changes the destination's state, then lets the transform go on.

const QUEUE = 'destination-checked-after-transform';
// Long enough that nothing comes back by itself within the test: a circuit's cooldown, a probe's lease.
const BREAKER = { failureThreshold: 1, cooldownMs: 600_000 };
const PROBE_LEASE_MS = 600_000;
const TRANSFORM = '{ "id": $id, "amount": amount, "kind": "reshaped-" & $eventType }';

/** The state store, counting the rechecks the worker asks for (each one round trip to Redis). */
class CountingStateStore extends DestinationStateStore {
  rechecks = 0;

  override recheck(...args: Parameters<DestinationStateStore['recheck']>): ReturnType<DestinationStateStore['recheck']> {
    this.rechecks++;
    return super.recheck(...args);
  }
}

const routesFile = (sinkUrl: string): RoutesFile => ({
  destinations: {
    pausable: { url: `${sinkUrl}/pausable` },
    breaking: { url: `${sinkUrl}/breaking`, circuitBreaker: BREAKER },
    probed: { url: `${sinkUrl}/probed`, circuitBreaker: BREAKER },
    broken: { url: `${sinkUrl}/broken` },
    reshaped: { url: `${sinkUrl}/reshaped` },
    plain: { url: `${sinkUrl}/plain` },
  },
  routes: [
    { provider: 'transformco', events: ['pause.*'], transform: TRANSFORM, to: ['pausable'] },
    { provider: 'transformco', events: ['circuit.*'], transform: TRANSFORM, to: ['breaking'] },
    { provider: 'transformco', events: ['probe.*'], transform: TRANSFORM, to: ['probed'] },
    // Fails on every payload (a string added to a number).
    { provider: 'transformco', events: ['broken.*'], transform: 'amount + "x"', to: ['broken'] },
    { provider: 'transformco', events: ['reshaped.*'], transform: TRANSFORM, to: ['reshaped'] },
    { provider: 'transformco', events: ['plain.*'], to: ['plain'] },
  ],
});

const silent = winston.createLogger({ silent: true });
let db: TestDatabase;
let ns: TestQueueNamespace;
let connection: Redis;
let stateRedis: Redis;
let queue: Queue;
let sink: HttpSink;
let state: CountingStateStore;
let guard: DestinationGuard;
let control: DestinationControl;
let forwarder: HttpForwarder;
let worker: EventWorker;
let routes: RoutesWithHeldTransforms;

type Row = { status: string; attempts: number; held_for: string[] | null; last_error: string | null };
const rowOf = async (id: string): Promise<Row> =>
  (await db.pool.query<Row>('SELECT status, attempts, held_for, last_error FROM webhook_events WHERE id = $1', [id])).rows[0]!;
const requestsTo = (id: string, path: string) => sink.requestsFor(id).filter((request) => request.path === path);

let counter = 0;
/** Stores an event (PENDING) and queues its job, as the ingress would. */
async function ingest(eventType: string): Promise<string> {
  const payload = JSON.stringify({ amount: 1500 });
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     VALUES ('transformco', $1, $2, $3::jsonb, $4, 'application/json', 'PENDING') RETURNING id`,
    [`evt_after_transform_${counter++}`, eventType, payload, Buffer.from(payload)],
  );
  const id = rows[0]!.id;
  await queue.add(EVENT_JOB_NAME, { eventId: id }, { jobId: id, attempts: 3, backoff: { type: 'fixed', delay: 120_000 } });
  return id;
}

/** Waits for the event to wait for `destination` (PENDING, held for it), and returns its row. */
const waitingFor = (id: string, destination: string) =>
  waitFor(`event ${id} waiting for ${destination}`, async () => {
    const row = await rowOf(id);
    if (row.status === 'PENDING' && row.held_for?.includes(destination)) return row;
    // Thrown, so that a timeout names where the event stands (COMPLETED: it was sent).
    throw new Error(`${row.status} after ${row.attempts} attempts, ${requestsTo(id, `/${destination}`).length} requests received: ${row.last_error}`);
  });

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  sink = await new HttpSink().start();
  connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
  stateRedis = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
  queue = new Queue(QUEUE, { connection, prefix: ns.prefix });
  state = new CountingStateStore(stateRedis, `${ns.prefix}:${QUEUE}`);
  const pauses = new DestinationPauses(db.pool, state);
  const file = routesFile(sink.url);
  guard = new DestinationGuard({
    state,
    pauses,
    redis: stateRedis,
    probeLeaseMs: PROBE_LEASE_MS,
    promoteWaiting: (destination, limit) => promoteHeldJobs(db.pool, queue, destination, limit === undefined ? {} : { limit }),
    logger: silent,
  });
  // What the admin API's pause and resume run: answered once the pause is in PostgreSQL and in Redis.
  control = new DestinationControl({ state, pauses, pool: db.pool, queue, routes: file, logger: silent });
  forwarder = new HttpForwarder({ defaultTimeoutMs: 5000, defaultMaxConcurrency: 4, beforeSend: guard.beforeSend });
  routes = new RoutesWithHeldTransforms(file);
  const processor = new EventProcessor({
    store: new ProcessingStore(db.pool),
    confirmClaimAfterMs: WORKER_CONFIRM_CLAIM_AFTER_MS,
    routes,
    handlers: new EventHandlerRegistry(),
    forwarder,
    maxAttempts: 3,
    logger: silent,
    guard,
  });
  worker = new EventWorker({ connection, queueName: QUEUE, prefix: ns.prefix, concurrency: 2, lockDurationMs: 30_000, stalledIntervalMs: 30_000, processor, logger: silent });
  worker.start();
});

afterAll(async () => {
  await worker?.close(true);
  await guard?.close();
  await control?.close();
  await queue?.close();
  connection?.disconnect();
  stateRedis?.disconnect();
  await forwarder?.close();
  await sink?.stop();
  await db?.drop();
  await ns?.cleanup();
});

describe('a delivery whose route transforms the payload', () => {
  it('is not sent once its destination is paused while the transform runs: it waits (no attempt), and goes once on resume', async () => {
    const transform = routes.holdNextTransform();
    const id = await ingest('pause.requested');
    // Admitted (the destination was not paused), its message not built yet: the operator pauses the destination.
    await transform.started();
    expect(await control.pause('pausable')).toEqual({ changed: true });
    transform.release();

    expect(await waitingFor(id, 'pausable')).toMatchObject({ attempts: 0, last_error: 'waiting: pausable paused' });
    expect(sink.requestsFor(id)).toEqual([]);

    await control.resume('pausable');
    await waitFor(`event ${id} delivered after the resume`, async () => (await rowOf(id)).status === 'COMPLETED');
    const delivered = requestsTo(id, '/pausable');
    expect(delivered).toHaveLength(1);
    expect(JSON.parse(delivered[0]!.body.toString('utf8'))).toEqual({ id, amount: 1500, kind: 'reshaped-pause.requested' });
    expect(await rowOf(id)).toMatchObject({ attempts: 1, last_error: null });
  });

  it('is not sent once other deliveries opened the circuit while the transform ran: it waits without using an attempt', async () => {
    const transform = routes.holdNextTransform();
    const id = await ingest('circuit.tripped');
    await transform.started();
    // Another delivery's failure (any worker's) opens the circuit meanwhile.
    expect(await state.record('breaking', 'failure', BREAKER)).toBe('opened');
    transform.release();

    const row = await waitingFor(id, 'breaking');
    expect(row.attempts).toBe(0);
    expect(row.last_error).toMatch(/^waiting: breaking circuit open/);
    expect(sink.requestsFor(id)).toEqual([]);
  });

  it("as a half-open circuit's probe, is not sent once the destination is paused meanwhile, and frees the probe", async () => {
    // Open, its cooldown over: the next delivery admitted probes.
    expect(await state.record('probed', 'failure', BREAKER)).toBe('opened');
    await stateRedis.hset(state.circuitKey('probed'), 'openUntil', 0);
    const transform = routes.holdNextTransform();
    const id = await ingest('probe.sent');
    await transform.started();
    expect(await state.probeFree('probed')).toBe(false);
    expect(await control.pause('probed')).toEqual({ changed: true });
    transform.release();

    expect(await waitingFor(id, 'probed')).toMatchObject({ attempts: 0, last_error: 'waiting: probed paused' });
    expect(sink.requestsFor(id)).toEqual([]);
    // Not sent, so it tested nothing: once resumed, another delivery may probe at once.
    expect(await state.probeFree('probed')).toBe(true);
  });

  it('whose transform fails while its destination is paused is a failed attempt, as any failed transform', async () => {
    const transform = routes.holdNextTransform();
    const id = await ingest('broken.payload');
    await transform.started();
    expect(await control.pause('broken')).toEqual({ changed: true });
    transform.release();

    const row = await waitFor(`event ${id} FAILED`, async () => {
      const seen = await rowOf(id);
      return seen.status === 'FAILED' ? seen : undefined;
    });
    expect(row.attempts).toBe(1);
    expect(row.last_error).toContain('transform of routes.3 failed');
    expect(sink.requestsFor(id)).toEqual([]);
  });

  it('is checked once more, after its transform; a delivery without one is not (no second round trip to Redis)', async () => {
    const before = state.rechecks;
    const plain = await ingest('plain.forwarded');
    await waitFor(`event ${plain} delivered`, async () => (await rowOf(plain)).status === 'COMPLETED');
    expect(requestsTo(plain, '/plain')).toHaveLength(1);
    expect(state.rechecks).toBe(before);

    const reshaped = await ingest('reshaped.forwarded');
    await waitFor(`event ${reshaped} delivered`, async () => (await rowOf(reshaped)).status === 'COMPLETED');
    expect(requestsTo(reshaped, '/reshaped')).toHaveLength(1);
    expect(state.rechecks).toBe(before + 1);
  });
});
