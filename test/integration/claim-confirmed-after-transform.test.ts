/**
 * A route's transform can take long (up to TRANSFORM_TIMEOUT_MS, after its turn behind the process's other
 * transforms), as a wait for a destination's slot can: a worker that stalled meanwhile past its job lock may have lost
 * the event to another worker's claim, and that worker sends it too. A transformed delivery confirms its claim before
 * it is sent, as one that waited for a slot does once it holds it: once, after both when it waited for both. A plain
 * forward that did not wait sends no statement on its way.
 *
 * The interleaving is made, not waited for: the test holds a transform before it evaluates, claims the event as the
 * other worker's run (its job handed out again), then lets the transform go on.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import winston from 'winston';
import { DestinationPauses } from '../../services/shared/destinations/destination-pauses.js';
import { DestinationStateStore } from '../../services/shared/destinations/destination-state.js';
import { promoteHeldJobs } from '../../services/shared/destinations/held-events.js';
import { DestinationGuard, type DestinationGuardOptions } from '../../services/worker/delivery/destination-guard.js';
import { HttpForwarder } from '../../services/worker/delivery/http-forwarder.js';
import { EventHandlerRegistry } from '../../services/worker/processing/event-handlers.js';
import { EventProcessor, type EventProcessorOptions } from '../../services/worker/processing/event-processor.js';
import { ProcessingStore, type ClaimedEvent } from '../../services/worker/processing/processing-store.js';
import { RoutesWithHeldTransforms } from '../support/held-transforms.js';
import { HttpSink } from '../support/http-sink.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const QUEUE = 'claim-confirmed-after-transform';
const TRANSFORM = '{ "id": $id, "amount": amount }';

/**
 * The store, counting the claim confirmations each event's deliveries ask for (each one statement); its next claim's
 * answer can be held back once the claim is written (a worker that stalls as the answer comes in).
 */
class CountingStore extends ProcessingStore {
  readonly confirms = new Map<string, number>();
  private answerGate?: { reached: () => void; go: Promise<void> };

  holdNextClaimAnswer(): { reached: Promise<void>; release: () => void } {
    let release!: () => void;
    let reached!: () => void;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    this.answerGate = { reached, go: new Promise<void>((resolve) => (release = resolve)) };
    return { reached: reachedPromise, release };
  }

  override async claim(...args: Parameters<ProcessingStore['claim']>): ReturnType<ProcessingStore['claim']> {
    const gate = this.answerGate;
    this.answerGate = undefined;
    const claimed = await super.claim(...args);
    if (gate) {
      gate.reached();
      await gate.go;
    }
    return claimed;
  }

  override stillHolds(event: ClaimedEvent): Promise<boolean> {
    this.confirms.set(event.id, (this.confirms.get(event.id) ?? 0) + 1);
    return super.stillHolds(event);
  }
}

/**
 * A guard whose next admission waits until the test lets it go: a worker's event loop that stalls while a delivery's
 * admission is under way (no slot waited for, no transform).
 */
class HeldGuard extends DestinationGuard {
  private gate?: { reached: () => void; go: Promise<void> };

  holdNextAdmission(): { reached: Promise<void>; release: () => void } {
    let release!: () => void;
    let reached!: () => void;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    this.gate = { reached, go: new Promise<void>((resolve) => (release = resolve)) };
    return { reached: reachedPromise, release };
  }

  override async admit(...args: Parameters<DestinationGuard['admit']>): ReturnType<DestinationGuard['admit']> {
    const gate = this.gate;
    this.gate = undefined;
    if (gate) {
      gate.reached();
      await gate.go;
    }
    return super.admit(...args);
  }
}

/** How long after its claim a delivery confirms it in the processor `late` (the worker's is 1/5 of its lock). */
const CONFIRM_AFTER_MS = 1000;

const silent = winston.createLogger({ silent: true });
let db: TestDatabase;
let ns: TestQueueNamespace;
let connection: Redis;
let stateRedis: Redis;
let queue: Queue;
let guard: DestinationGuard;
let store: CountingStore;
let routes: RoutesWithHeldTransforms;
let forwarder: HttpForwarder;
let guarded: EventProcessor;
let unguarded: EventProcessor;
let heldGuard: HeldGuard;
let late: EventProcessor;
/** The event whose delivery holds `narrow`'s one slot: answered only after a while. */
let occupier = '';
const sink = new HttpSink((request) => (request.headers['webhook-id'] === occupier ? { status: 200, delayMs: 1500 } : { status: 200 }));

type Row = { status: string; attempts: number; claim_token: string | null; claim_waiting: boolean };
const rowOf = async (id: string): Promise<Row> =>
  (await db.pool.query<Row>('SELECT status, attempts, claim_token, claim_waiting FROM webhook_events WHERE id = $1', [id])).rows[0]!;

let counter = 0;
async function newEvent(eventType: string): Promise<string> {
  const payload = JSON.stringify({ amount: 1500 });
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     VALUES ('claimco', $1, $2, $3::jsonb, $4, 'application/json', 'PENDING') RETURNING id`,
    [`evt_confirm_after_transform_${counter++}`, eventType, payload, Buffer.from(payload)],
  );
  return rows[0]!.id;
}

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  await sink.start();
  connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
  stateRedis = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
  queue = new Queue(QUEUE, { connection, prefix: ns.prefix });
  const state = new DestinationStateStore(stateRedis, `${ns.prefix}:${QUEUE}`);
  const guardOptions: DestinationGuardOptions = {
    state,
    pauses: new DestinationPauses(db.pool, state),
    redis: stateRedis,
    probeLeaseMs: 600_000,
    promoteWaiting: (destination, limit) => promoteHeldJobs(db.pool, queue, destination, limit === undefined ? {} : { limit }),
    logger: silent,
  };
  guard = new DestinationGuard(guardOptions);
  forwarder = new HttpForwarder({ defaultTimeoutMs: 5000, defaultMaxConcurrency: 4, beforeSend: guard.beforeSend });
  routes = new RoutesWithHeldTransforms({
    destinations: {
      reshaped: { url: `${sink.url}/reshaped` },
      plain: { url: `${sink.url}/plain` },
      narrow: { url: `${sink.url}/narrow`, maxConcurrency: 1 },
    },
    routes: [
      { provider: 'claimco', events: ['reshaped.*'], transform: TRANSFORM, to: ['reshaped'] },
      { provider: 'claimco', events: ['plain.*'], to: ['plain'] },
      { provider: 'claimco', events: ['narrow.plain'], to: ['narrow'] },
      { provider: 'claimco', events: ['narrow.reshaped'], transform: TRANSFORM, to: ['narrow'] },
    ],
  });
  store = new CountingStore(db.pool);
  const processor = (options: Partial<EventProcessorOptions> = {}) =>
    new EventProcessor({ store, routes, handlers: new EventHandlerRegistry(), forwarder, maxAttempts: 3, logger: silent, ...options });
  guarded = processor({ guard });
  unguarded = processor();
  heldGuard = new HeldGuard(guardOptions);
  late = processor({ guard: heldGuard, confirmClaimAfterMs: CONFIRM_AFTER_MS });
});

afterAll(async () => {
  await guard?.close();
  await heldGuard?.close();
  await queue?.close();
  connection?.disconnect();
  stateRedis?.disconnect();
  await forwarder?.close();
  await sink.stop();
  await db?.drop();
  await ns?.cleanup();
});

describe('a delivery whose route transforms the payload, its claim taken by another run while the transform ran', () => {
  it.each([
    ['without a destination guard', () => unguarded],
    ['with a destination guard', () => guarded],
  ])('%s: sends nothing, and leaves the event to the run holding it', async (_, processorOf) => {
    const transform = routes.holdNextTransform();
    const id = await newEvent('reshaped.requested');
    const run = processorOf().process({ eventId: id });
    await transform.started();
    // This worker stalled past its job lock: BullMQ handed the job to another worker, whose run claimed the event.
    const other = (await new ProcessingStore(db.pool).claim(id))!;
    transform.release();

    // Before, it was sent anyway (beside the other run's delivery: a duplicate), its finish then refused.
    expect(await run).toBe('skipped');
    expect(sink.requestsFor(id)).toEqual([]);
    expect(await rowOf(id)).toMatchObject({ status: 'PROCESSING', attempts: 2, claim_token: other.claimToken });
  });
});

describe('a plain forward that waited for nothing, its worker stalled on its way to the slot', () => {
  // Found in CI (faults/worker-stall-slot-waiters): a delivery whose admission was under way when the worker stalled
  // found the slot free once it resumed, waited for nothing, and sent what the other worker had taken over.
  it('confirms its claim when it holds its slot late after the claim: sends nothing once another run holds the event', async () => {
    const admission = heldGuard.holdNextAdmission();
    const id = await newEvent('plain.stalled');
    const run = late.process({ eventId: id });
    await admission.reached;
    const other = (await new ProcessingStore(db.pool).claim(id))!;
    // The stall: longer than the processor's confirmClaimAfterMs (the worker's is a fifth of its lock duration).
    await new Promise((resolve) => setTimeout(resolve, CONFIRM_AFTER_MS + 50));
    admission.release();

    // Before, it was sent (no slot wait, no transform: nothing confirmed the claim).
    expect(await run).toBe('skipped');
    expect(sink.requestsFor(id)).toEqual([]);
    expect(await rowOf(id)).toMatchObject({ status: 'PROCESSING', claim_token: other.claimToken });
    expect(store.confirms.get(id)).toBe(1);
  });

  // The claim's time is when PostgreSQL wrote it, which is before its answer reached the run: a stall as the answer
  // came in counts towards the bound too.
  it('counts from when the claim was asked: one answered late sends nothing once another run holds the event', async () => {
    const answer = store.holdNextClaimAnswer();
    const id = await newEvent('plain.answered-late');
    const run = late.process({ eventId: id });
    await answer.reached;
    const other = (await new ProcessingStore(db.pool).claim(id))!;
    await new Promise((resolve) => setTimeout(resolve, CONFIRM_AFTER_MS + 50));
    answer.release();

    // Before, it was sent: the bound counted from the answer, so the delivery looked on time.
    expect(await run).toBe('skipped');
    expect(sink.requestsFor(id)).toEqual([]);
    expect(await rowOf(id)).toMatchObject({ status: 'PROCESSING', claim_token: other.claimToken });
    expect(store.confirms.get(id)).toBe(1);
  });

  it('a late delivery whose claim still holds is sent, after one confirmation; one on time confirms nothing', async () => {
    const admission = heldGuard.holdNextAdmission();
    const id = await newEvent('plain.slow');
    const run = late.process({ eventId: id });
    await admission.reached;
    await new Promise((resolve) => setTimeout(resolve, CONFIRM_AFTER_MS + 50));
    admission.release();
    expect(await run).toBe('completed');
    expect(sink.requestsFor(id)).toHaveLength(1);
    expect(store.confirms.get(id)).toBe(1);

    const onTime = await newEvent('plain.on-time');
    expect(await late.process({ eventId: onTime })).toBe('completed');
    expect(store.confirms.get(onTime)).toBeUndefined();
  });
});

describe('the claim confirmations of a delivery', () => {
  it('a plain forward that did not wait sends none; a transformed delivery one, after its transform', async () => {
    const plain = await newEvent('plain.forwarded');
    expect(await guarded.process({ eventId: plain })).toBe('completed');
    expect(sink.requestsFor(plain)).toHaveLength(1);
    expect(store.confirms.get(plain)).toBeUndefined();

    const reshaped = await newEvent('reshaped.forwarded');
    expect(await guarded.process({ eventId: reshaped })).toBe('completed');
    expect(JSON.parse(sink.requestsFor(reshaped)[0]!.body.toString('utf8'))).toEqual({ id: reshaped, amount: 1500 });
    expect(store.confirms.get(reshaped)).toBe(1);
  });

  it('a transformed delivery that then also waited for a slot confirms once, after the wait', async () => {
    occupier = await newEvent('narrow.plain');
    const occupied = unguarded.process({ eventId: occupier });
    await waitFor("the occupier holding narrow's slot", () => sink.requestsFor(occupier).length === 1);

    const id = await newEvent('narrow.reshaped');
    const run = unguarded.process({ eventId: id });
    // Transformed, then waiting for the slot (the claim marked waiting: its only delivery waits, nothing sent).
    await waitFor('the transformed delivery waiting for the slot', async () => (await rowOf(id)).claim_waiting);
    expect(store.confirms.get(id)).toBeUndefined();

    expect(await occupied).toBe('completed');
    expect(await run).toBe('completed');
    expect(sink.requestsFor(id)).toHaveLength(1);
    expect(await rowOf(id)).toMatchObject({ status: 'COMPLETED', claim_waiting: false });
    expect(store.confirms.get(id)).toBe(1);
    expect(store.confirms.get(occupier)).toBeUndefined();
  });
});
