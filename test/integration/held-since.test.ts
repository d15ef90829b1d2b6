/**
 * `held_since`: since when an event has waited for every destination it waits for (`held_for`), read per destination
 * by the console, the admin API (`waiting.oldestSince`) and webhook_destination_oldest_waiting_age_seconds (what
 * WebhookDestinationHeldTooLong fires on). It goes on while the event waits for the same destinations (or some of them
 * after others took it), and starts anew when a destination joins the wait. Before, it went on as long as the event
 * waited for anything: an event held an hour by a paused destination, then (resumed, delivered there) held by another
 * destination's open circuit, counted an hour of waiting for that one at once.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { heldSummaries } from '../../services/shared/destinations/held-events.js';
import type { DeliveryResult } from '../../services/worker/delivery/delivery-result.js';
import { ProcessingStore, type ClaimedEvent } from '../../services/worker/processing/processing-store.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

let db: TestDatabase;
let store: ProcessingStore;
let counter = 0;

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

/** The event's wait as if it began an hour ago. */
const anHourAgo = (id: string) => db.pool.query(`UPDATE webhook_events SET held_since = now() - interval '1 hour' WHERE id = $1`, [id]);

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
});

afterAll(async () => {
  await db.drop();
});

describe('held_since', () => {
  it('goes on while the event waits for the same destination, and starts anew for a destination that joins the wait', async () => {
    const id = await newEvent();
    await waits(id, ['paused']);
    await anHourAgo(id);
    // Still paused at the next look: the same wait.
    await waits(id, ['paused']);
    expect(await heldFor(id)).toBeGreaterThan(3500);

    // Resumed and delivered there; another destination's circuit is open now: its wait begins now.
    await waits(id, ['open'], ['paused']);
    expect(await heldFor(id)).toBeLessThan(60);
    expect(await oldestWaitFor('open')).toBeLessThan(60);
  });

  it('goes on when some of the destinations waited for took the event, not when one joins', async () => {
    const id = await newEvent();
    await waits(id, ['open', 'limited']);
    await anHourAgo(id);
    await waits(id, ['open'], ['limited']);
    expect(await oldestWaitFor('open')).toBeGreaterThan(3500);
    await waits(id, ['open', 'paused']);
    expect(await oldestWaitFor('paused')).toBeLessThan(60);
  });

  it('is cleared when the event waits for nothing, and a later wait starts anew', async () => {
    const id = await newEvent();
    await waits(id, ['open']);
    await anHourAgo(id);
    const claimed = (await store.claim(id))!;
    expect(await store.finish(claimed, [], 'FAILED', 'crm: 503', { heldFor: [] })).toBe(true);
    await waits(id, ['open']);
    expect(await heldFor(id)).toBeLessThan(60);
  });

  it('follows the same rule in a finish written by the job\'s next run (refinish)', async () => {
    const id = await newEvent();
    await waits(id, ['paused']);
    await anHourAgo(id);
    const claimed = (await store.claim(id))!;
    const identity = {
      eventId: id,
      provider: claimed.provider,
      eventType: claimed.eventType,
      replays: 0,
      attempt: claimed.attempts,
      claimedAt: claimed.claimedAt,
      claimToken: claimed.claimToken,
    };
    const end = { status: 'PENDING' as const, lastError: 'waiting: open', results: [delivered('paused')], giveBackAttempt: true, heldFor: ['open'], waitMs: 1000 };
    expect(await store.refinish(identity, end, randomUUID())).toBe(true);
    expect(await heldFor(id)).toBeLessThan(60);
  });
});
