/**
 * Since when an event has waited for each destination it waits for (`held_for`): `held_since_by_destination`, and
 * `held_since` the earliest of them (for workers and readers older than that column). Read per destination by the
 * console, the admin API (`waiting.oldestSince`) and webhook_destination_oldest_waiting_age_seconds (what
 * WebhookDestinationHeldTooLong fires on). A destination's wait goes on while it stays in the event's wait, and starts
 * when it joins. With one time per event, one destination's wait was told for all: first an event held an hour by a
 * paused destination, then also by another destination's open circuit, counted an hour for that one at once; then
 * (the time started anew when one joined) the paused destination looked seconds old, and its alert waited an hour more.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { DestinationControl } from '../../services/admin/destination-control.js';
import { DestinationPauses, pauseSnapshot } from '../../services/shared/destinations/destination-pauses.js';
import { DestinationStateStore } from '../../services/shared/destinations/destination-state.js';
import { heldSummaries, promoteHeldJobs } from '../../services/shared/destinations/held-events.js';
import { eventJobId } from '../../services/shared/queue/event-job.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { DestinationStateGauges } from '../../services/shared/metrics/destination-protection-metrics.js';
import { registry } from '../../services/shared/metrics/metrics.js';
import type { DeliveryResult } from '../../services/worker/delivery/delivery-result.js';
import { ProcessingStore, type ClaimedEvent } from '../../services/worker/processing/processing-store.js';
import { claimIdentity, type RunEnd } from '../../services/worker/processing/unrecorded-run.js';
import { find, parseExposition } from '../observability/support/prometheus-text.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

let db: TestDatabase;
let store: ProcessingStore;
let ns: TestQueueNamespace;
let redis: Redis;
let counter = 0;

/** A destination name of this test's own: heldSummaries reads every event of the database. */
const named = (label: string) => `${label}-${counter++}`;

async function newEvent(): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     VALUES ('heldco', $1, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING') RETURNING id`,
    [`evt_held_since_${counter++}`],
  );
  return rows[0]!.id;
}

const delivered = (destination: string): DeliveryResult => ({ destination, succeeded: true, result: 'success', statusCode: 200, error: null, durationMs: 5 });

/** One attempt that only waited for `heldFor` (the others it sent to, `sent`), its attempt given back. */
async function waits(id: string, heldFor: string[], sent: string[] = []): Promise<ClaimedEvent> {
  const claimed = (await store.claim(id))!;
  expect(await store.finish(claimed, sent.map(delivered), 'PENDING', `waiting: ${heldFor.join(', ')}`, { giveBackAttempt: true, heldFor })).toBe(true);
  return claimed;
}

/** The same wait written by the job's next run (refinish: the run's own finish was not written), under a new claim. */
async function refinishedWaits(id: string, heldFor: string[], sent: string[] = []): Promise<void> {
  const claimed = (await store.claim(id))!;
  const end: RunEnd = { status: 'PENDING', lastError: `waiting: ${heldFor.join(', ')}`, results: sent.map(delivered), giveBackAttempt: true, heldFor, waitMs: 1000 };
  expect(await store.refinish(claimIdentity(claimed), end, randomUUID())).toBe(true);
}

/** The event's wait (for each destination it waits for) as if it had begun `interval` earlier. */
const waitedLonger = (id: string, interval = '1 hour') =>
  db.pool.query(
    `UPDATE webhook_events
        SET held_since = held_since - $2::interval,
            held_since_by_destination = (SELECT jsonb_object_agg(key, to_jsonb(value::timestamptz - $2::interval))
                                           FROM jsonb_each_text(held_since_by_destination))
      WHERE id = $1`,
    [id, interval],
  );

/** A new event that has waited an hour for `heldFor`. */
async function waitingAnHour(heldFor: string[]): Promise<string> {
  const id = await newEvent();
  await waits(id, heldFor);
  await waitedLonger(id, '1 hour');
  return id;
}

/** How long the event has waited, in seconds, as its row says. */
const heldFor = async (id: string) =>
  (await db.pool.query<{ age: number }>('SELECT extract(epoch FROM now() - held_since)::float8 AS age FROM webhook_events WHERE id = $1', [id])).rows[0]!.age;

/** How long the oldest event waiting for `destination` has waited, in seconds, as the admin API and the metric say. */
async function oldestWaitFor(destination: string): Promise<number> {
  const summary = (await heldSummaries(db.pool)).find((held) => held.destination === destination);
  return (Date.now() - summary!.oldestSince.getTime()) / 1000;
}

beforeAll(async () => {
  db = await createTestDatabase();
  store = new ProcessingStore(db.pool);
  ns = createQueueNamespace();
  redis = new Redis(ns.redisUrl);
});

afterAll(async () => {
  redis?.disconnect();
  await ns?.cleanup();
  await db?.drop();
});

describe('since when an event waits for each destination', () => {
  it('goes on while the event waits for the same destination, and starts anew for a destination that joins the wait', async () => {
    const id = await waitingAnHour(['paused']);
    // Still paused at the next look: the same wait.
    await waits(id, ['paused']);
    expect(await heldFor(id)).toBeGreaterThan(3500);

    // Resumed and delivered there; another destination's circuit is open now: its wait begins now.
    await waits(id, ['open'], ['paused']);
    expect(await heldFor(id)).toBeLessThan(60);
    expect(await oldestWaitFor('open')).toBeLessThan(60);
  });

  it('goes on when some of the destinations waited for took the event, not when one joins', async () => {
    const id = await waitingAnHour(['open', 'limited']);
    await waits(id, ['open'], ['limited']);
    expect(await oldestWaitFor('open')).toBeGreaterThan(3500);
    await waits(id, ['open', 'paused']);
    expect(await oldestWaitFor('paused')).toBeLessThan(60);
    expect(await oldestWaitFor('open')).toBeGreaterThan(3500);
  });

  it('is cleared when the event waits for nothing, and a later wait starts anew', async () => {
    const id = await waitingAnHour(['open']);
    const claimed = (await store.claim(id))!;
    expect(await store.finish(claimed, [], 'FAILED', 'crm: 503', { heldFor: [] })).toBe(true);
    await waits(id, ['open']);
    expect(await heldFor(id)).toBeLessThan(60);
  });

  it('follows the same rule in a finish written by the job\'s next run (refinish)', async () => {
    const id = await waitingAnHour(['paused']);
    await refinishedWaits(id, ['open'], ['paused']);
    expect(await heldFor(id)).toBeLessThan(60);
  });

  it('keeps the time of a destination that stays in the wait when another joins it; the one that joins starts then', async () => {
    const [paused, open] = [named('paused'), named('open')];
    const id = await waitingAnHour([paused]);
    // Paused for an hour; now another destination's circuit is open too.
    await waits(id, [paused, open]);
    expect(await oldestWaitFor(paused)).toBeGreaterThan(3500);
    expect(await oldestWaitFor(open)).toBeLessThan(60);
    // The event's own held_since is the earliest (what readers and workers older than the per-destination times read).
    expect(await heldFor(id)).toBeGreaterThan(3500);

    // Half an hour on, the paused destination is resumed and takes the event: the other's wait is its own half hour.
    await waitedLonger(id, '30 minutes');
    await waits(id, [open], [paused]);
    const openWait = await oldestWaitFor(open);
    expect(openWait).toBeGreaterThan(1700);
    expect(openWait).toBeLessThan(3500);
    expect(await heldFor(id)).toBeLessThan(3500);
  });

  it('keeps a destination\'s time in a finish written by the job\'s next run (refinish) too', async () => {
    const [paused, open] = [named('paused'), named('open')];
    const id = await waitingAnHour([paused]);
    await refinishedWaits(id, [paused, open]);
    expect(await oldestWaitFor(paused)).toBeGreaterThan(3500);
    expect(await oldestWaitFor(open)).toBeLessThan(60);
  });

  it('is what the admin API (waiting.oldestSince) and webhook_destination_oldest_waiting_age_seconds say', async () => {
    const [paused, open] = [named('paused'), named('open')];
    const id = await waitingAnHour([paused]);
    await waits(id, [paused, open]);

    const state = new DestinationStateStore(redis, `${ns.prefix}:webhook-events`);
    const queue = new Queue('webhook-events', { connection: redis, prefix: ns.prefix });
    try {
      const control = new DestinationControl({ state, pauses: new DestinationPauses(db.pool, state), pool: db.pool, queue, routes: undefined, logger: createLogger('test') });
      const states = await control.states([paused, open]);
      const ageOf = (name: string) => (Date.now() - Date.parse(states.get(name)!.waiting.oldestSince!)) / 1000;
      expect(states.get(paused)!.waiting.events).toBe(1);
      expect(ageOf(paused)).toBeGreaterThan(3500);
      expect(ageOf(open)).toBeLessThan(60);
    } finally {
      await queue.close();
    }

    new DestinationStateGauges({ names: [paused, open], withBreaker: new Set(), read: (names) => state.read(names), held: () => heldSummaries(db.pool), recordedPauses: async () => (await pauseSnapshot(db.pool)).names });
    const metrics = parseExposition(await registry.metrics());
    const gauge = (name: string) => find(metrics, 'webhook_destination_oldest_waiting_age_seconds', { destination: name })[0]!.value;
    expect(gauge(paused)).toBeGreaterThan(3500);
    expect(gauge(open)).toBeLessThan(60);
  });

  it('reads, and carries on, held_since of a row an older worker wrote (no per-destination times)', async () => {
    const [paused, open] = [named('paused'), named('open')];
    const id = await newEvent();
    await waits(id, [paused]);
    // As a worker older than held_since_by_destination leaves a row: held_for and held_since only.
    await db.pool.query(`UPDATE webhook_events SET held_since = now() - interval '1 hour', held_since_by_destination = NULL WHERE id = $1`, [id]);
    expect(await oldestWaitFor(paused)).toBeGreaterThan(3500);
    await waits(id, [paused, open]);
    expect(await oldestWaitFor(paused)).toBeGreaterThan(3500);
    expect(await oldestWaitFor(open)).toBeLessThan(60);
  });

  it('never overstates a wait after an older worker had a destination leave the wait and join it again', async () => {
    const [paused, open] = [named('paused'), named('open')];
    const id = await waitingAnHour([paused]);
    // An older worker (finish-event-attempts-v6) writes held_for and held_since, not held_since_by_destination: the
    // paused destination, resumed, took the event, which waits for the other (its time started anew then); later the
    // paused destination joins the wait again (started anew too). The hour-old time of its first wait stays behind.
    await db.pool.query(`UPDATE webhook_events SET held_for = $2, held_since = now() WHERE id = $1`, [id, [open]]);
    await db.pool.query(`UPDATE webhook_events SET held_for = $2, held_since = now() WHERE id = $1`, [id, [open, paused]]);
    expect(await oldestWaitFor(paused)).toBeLessThan(60);
    expect(await oldestWaitFor(open)).toBeLessThan(60);
    // Nor does this code's finish carry that time on.
    await waits(id, [open, paused]);
    expect(await oldestWaitFor(paused)).toBeLessThan(60);
    expect(await oldestWaitFor(open)).toBeLessThan(60);
  });

  it('orders the promotion of the events held for a destination by their time held for it, not by the event\'s earliest', async () => {
    const [paused, open] = [named('paused'), named('open')];
    // Held three hours (for `open`), for `paused` only the last half hour (it joined then): the event's held_since is
    // the earliest of its times, three hours ago.
    const joinedLate = await waitingAnHour([open]);
    await waitedLonger(joinedLate, '90 minutes');
    await waits(joinedLate, [open, paused]);
    await waitedLonger(joinedLate, '30 minutes');
    // Held an hour, for `paused`.
    const heldLonger = await waitingAnHour([paused]);

    const queue = new Queue('held-promotion', { connection: redis, prefix: ns.prefix });
    try {
      for (const id of [joinedLate, heldLonger]) await queue.add('process-event', { eventId: id }, { jobId: eventJobId(id), delay: 600_000 });
      // `paused` resumes and a pass promotes one event: the one held longest for `paused`, an hour against half an hour.
      expect(await promoteHeldJobs(db.pool, queue, paused, { limit: 1 })).toBe(1);
      const state = async (id: string) => queue.getJobState(eventJobId(id));
      expect([await state(heldLonger), await state(joinedLate)]).toEqual(['waiting', 'delayed']);
      // The next pass, unbounded, promotes the other (the first, no longer delayed, is left as it is).
      expect(await promoteHeldJobs(db.pool, queue, paused)).toBe(1);
      expect(await state(joinedLate)).toBe('waiting');
      // In the order workers take them (getWaiting: the next first): the event held longer for `paused` first.
      expect((await queue.getWaiting()).map((job) => job.id)).toEqual([eventJobId(heldLonger), eventJobId(joinedLate)]);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});
