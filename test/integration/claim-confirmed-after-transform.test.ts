/**
 * When a delivery confirms its claim (one statement) before it is sent: when it comes late after its claim (the
 * processor's confirmClaimAfterMs, half the live-claim window: sooner, no other claim can have taken the event), and
 * when its claim is marked waiting (the statement clears the mark before a send). A route's transform can take long
 * (up to TRANSFORM_TIMEOUT_MS, after its turn behind the process's other transforms), as a wait for a destination's
 * slot can, and a worker can stall anywhere: one that stalled past its job lock may have lost the event to another
 * worker's claim, and that worker sends it too. What takes that long is late, whatever it waited for; a delivery on
 * time, transformed or behind a slot, sends no statement on its way (unless it clears its claim's mark).
 *
 * The interleavings are made, not waited for: the test holds a transform, an admission, a claim's answer or a
 * destination's answer until it lets it go, and claims the event as the other worker's run meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import winston from 'winston';
import { destinationRequestsWaiting } from '../../services/shared/metrics/destination-metrics.js';
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
import { NextHeld } from '../support/next-held.js';
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
  readonly claimAnswers = new NextHeld();

  override async claim(...args: Parameters<ProcessingStore['claim']>): ReturnType<ProcessingStore['claim']> {
    const claimed = await super.claim(...args);
    await this.claimAnswers.pass();
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
  readonly admissions = new NextHeld();

  override async admit(...args: Parameters<DestinationGuard['admit']>): ReturnType<DestinationGuard['admit']> {
    await this.admissions.pass();
    return super.admit(...args);
  }
}

/** How long after its claim a delivery confirms it in the late processors (the worker's is 1/5 of its lock). */
const CONFIRM_AFTER_MS = 1000;
/** The bound of the processors whose deliveries are on time: none of these tests comes near it. */
const ON_TIME_MS = 600_000;

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
let heldGuard: HeldGuard;
let late: EventProcessor;
let onTime: EventProcessor;
let lateGuarded: EventProcessor;
let lateUnguarded: EventProcessor;
/** Answers the test holds back, by event id and path, until it lets them go. */
const heldAnswers = new Map<string, Promise<void>>();
const sink = new HttpSink((request) => ({ status: 200, until: heldAnswers.get(`${String(request.headers['webhook-id'])} ${request.path}`) }));
/** Holds the sink's answer to the event's request on `path` until the returned function is called. */
function holdAnswer(id: string, path: string): () => void {
  let release!: () => void;
  heldAnswers.set(`${id} ${path}`, new Promise<void>((resolve) => (release = resolve)));
  return release;
}
/** An event whose delivery holds `narrow`'s one slot until `releaseOccupier` is called. */
async function occupyNarrow(processor: EventProcessor) {
  const occupier = await newEvent('narrow.plain');
  const releaseOccupier = holdAnswer(occupier, '/narrow');
  const occupied = processor.process({ eventId: occupier });
  await waitFor("the occupier holding narrow's slot", () => sink.requestsFor(occupier).length === 1);
  return { occupier, occupied, releaseOccupier };
}

/** An event to `plain` and `narrow`: its plain delivery in flight (until `releasePlain`), its narrow one waiting. */
async function pairedNarrowWaiting(processor: EventProcessor) {
  const id = await newEvent('narrow.paired');
  const releasePlain = holdAnswer(id, '/plain');
  const run = processor.process({ eventId: id });
  await waitFor('the plain delivery in flight', () => sink.requestsFor(id).length === 1);
  await waitFor("the narrow delivery waiting for the occupier's slot", async () => (await waitingFor('narrow')) === 1);
  return { id, run, releasePlain };
}
const waitingFor = async (destination: string) =>
  (await destinationRequestsWaiting.get()).values.find((value) => value.labels.destination === destination)?.value ?? 0;

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
      { provider: 'claimco', events: ['narrow.paired'], to: ['narrow', 'plain'] },
    ],
  });
  store = new CountingStore(db.pool);
  const processor = (options: Partial<EventProcessorOptions> & Pick<EventProcessorOptions, 'confirmClaimAfterMs'>) =>
    new EventProcessor({ store, routes, handlers: new EventHandlerRegistry(), forwarder, maxAttempts: 3, logger: silent, ...options });
  guarded = processor({ guard, confirmClaimAfterMs: ON_TIME_MS });
  onTime = processor({ confirmClaimAfterMs: ON_TIME_MS });
  heldGuard = new HeldGuard(guardOptions);
  late = processor({ guard: heldGuard, confirmClaimAfterMs: CONFIRM_AFTER_MS });
  lateGuarded = processor({ guard, confirmClaimAfterMs: CONFIRM_AFTER_MS });
  lateUnguarded = processor({ confirmClaimAfterMs: CONFIRM_AFTER_MS });
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

describe('a delivery whose route transforms the payload, its claim taken by another run while the transform ran late', () => {
  it.each([
    ['without a destination guard', () => lateUnguarded],
    ['with a destination guard', () => lateGuarded],
  ])('%s: sends nothing, and leaves the event to the run holding it', async (_, processorOf) => {
    const transform = routes.holdNextTransform();
    const id = await newEvent('reshaped.requested');
    const run = processorOf().process({ eventId: id });
    await transform.started();
    // This worker stalled past its job lock: BullMQ handed the job to another worker, whose run claimed the event.
    const other = (await new ProcessingStore(db.pool).claim(id))!;
    // The stall: longer than the processor's confirmClaimAfterMs.
    await new Promise((resolve) => setTimeout(resolve, CONFIRM_AFTER_MS + 50));
    transform.release();

    // Before any confirmation, it was sent anyway (beside the other run's delivery: a duplicate), its finish refused.
    expect(await run).toBe('skipped');
    expect(sink.requestsFor(id)).toEqual([]);
    expect(await rowOf(id)).toMatchObject({ status: 'PROCESSING', attempts: 2, claim_token: other.claimToken });
    expect(store.confirms.get(id)).toBe(1);
  });
});

describe('a plain forward that waited for nothing, its worker stalled on its way to the slot', () => {
  it.each([
    // Found in CI (faults/worker-stall-slot-waiters): a delivery whose admission was under way when the worker stalled
    // found the slot free once it resumed, waited for nothing, and sent what the other worker had taken over.
    ['its admission held', 'plain.stalled', () => heldGuard.admissions.hold()],
    // The claim's time is when PostgreSQL wrote it, before its answer reached the run: a stall as the answer came in
    // counts towards the bound too (before, the bound counted from the answer: the delivery looked on time).
    ['its claim answered late: counted from when the claim was asked', 'plain.answered-late', () => store.claimAnswers.hold()],
  ])('%s: confirms its claim when it holds its slot, sends nothing once another run holds the event', async (_, eventType, hold) => {
    const held = hold();
    const id = await newEvent(eventType);
    const run = late.process({ eventId: id });
    await held.reached;
    const other = (await new ProcessingStore(db.pool).claim(id))!;
    // The stall: longer than the processor's confirmClaimAfterMs (the worker's is a fifth of its lock duration).
    await new Promise((resolve) => setTimeout(resolve, CONFIRM_AFTER_MS + 50));
    held.release();

    // Before, it was sent (nothing confirmed the claim).
    expect(await run).toBe('skipped');
    expect(sink.requestsFor(id)).toEqual([]);
    expect(await rowOf(id)).toMatchObject({ status: 'PROCESSING', claim_token: other.claimToken });
    expect(store.confirms.get(id)).toBe(1);
  });

  it('a late delivery whose claim still holds is sent, after one confirmation; one on time confirms nothing', async () => {
    const admission = heldGuard.admissions.hold();
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

describe('the claim confirmations of a delivery on time', () => {
  it('a plain forward sends none, nor does a transformed one', async () => {
    const plain = await newEvent('plain.forwarded');
    expect(await guarded.process({ eventId: plain })).toBe('completed');
    expect(sink.requestsFor(plain)).toHaveLength(1);
    expect(store.confirms.get(plain)).toBeUndefined();

    const reshaped = await newEvent('reshaped.forwarded');
    expect(await guarded.process({ eventId: reshaped })).toBe('completed');
    expect(JSON.parse(sink.requestsFor(reshaped)[0]!.body.toString('utf8'))).toEqual({ id: reshaped, amount: 1500 });
    // Before, 1: every transformed delivery confirmed its claim.
    expect(store.confirms.get(reshaped)).toBeUndefined();
  });

  it('a delivery that waited for a slot beside one of its claim still in flight sends none', async () => {
    const { occupier, occupied, releaseOccupier } = await occupyNarrow(onTime);

    // Its plain delivery in flight, its narrow one waiting: the claim is not only waiting, so it is not marked.
    const { id, run, releasePlain } = await pairedNarrowWaiting(onTime);
    releaseOccupier();
    expect(await occupied).toBe('completed');
    await waitFor('the narrow delivery sent', () => sink.requestsFor(id).length === 2);
    releasePlain();

    expect(await run).toBe('completed');
    expect(await rowOf(id)).toMatchObject({ status: 'COMPLETED', claim_waiting: false });
    // Before, 1: every delivery that waited for a slot confirmed its claim.
    expect(store.confirms.get(id)).toBeUndefined();
    expect(store.confirms.get(occupier)).toBeUndefined();
  });

  it('a transformed delivery that then waited alone for a slot (its claim marked) sends one, which clears the mark', async () => {
    const { occupier, occupied, releaseOccupier } = await occupyNarrow(onTime);

    const id = await newEvent('narrow.reshaped');
    const run = onTime.process({ eventId: id });
    // Transformed, then waiting for the slot (the claim marked waiting: its only delivery waits, nothing sent).
    await waitFor('the transformed delivery waiting for the slot', async () => (await rowOf(id)).claim_waiting);
    expect(store.confirms.get(id)).toBeUndefined();
    releaseOccupier();

    expect(await occupied).toBe('completed');
    expect(await run).toBe('completed');
    expect(sink.requestsFor(id)).toHaveLength(1);
    expect(await rowOf(id)).toMatchObject({ status: 'COMPLETED', claim_waiting: false });
    expect(store.confirms.get(id)).toBe(1);
    expect(store.confirms.get(occupier)).toBeUndefined();
  });
});

describe('a delivery that waited for a slot past the bound, beside one of its claim still in flight', () => {
  it('confirms its claim: sends nothing once another run holds the event', async () => {
    const { occupier, occupied, releaseOccupier } = await occupyNarrow(lateUnguarded);

    const { id, run, releasePlain } = await pairedNarrowWaiting(lateUnguarded);
    const other = (await new ProcessingStore(db.pool).claim(id))!;
    // The stall: longer than the processor's confirmClaimAfterMs.
    await new Promise((resolve) => setTimeout(resolve, CONFIRM_AFTER_MS + 50));
    releaseOccupier();
    expect(await occupied).toBe('completed');
    await waitFor('the narrow delivery confirmed', () => store.confirms.get(id) === 1);
    releasePlain();

    expect(await run).toBe('skipped');
    expect(sink.requestsFor(id).map((request) => request.path)).toEqual(['/plain']);
    expect(await rowOf(id)).toMatchObject({ status: 'PROCESSING', claim_token: other.claimToken });
    expect(store.confirms.get(id)).toBe(1);
  });
});
