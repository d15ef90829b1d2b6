import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Pool, QueryConfig } from 'pg';
import { EventWriter, type NewEvent } from '../../services/ingress/ingest/event-writer.js';
import { ProcessingStore, type ClaimedEvent, type FinishedStatus, type FinishOptions } from '../../services/worker/processing/processing-store.js';
import type { DeliveryResult } from '../../services/worker/delivery/delivery-result.js';
import { waitFor } from '../support/wait-for.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

// The group-committed statements (one INSERT per batch of webhooks, one claim and one finish per batch of jobs)
// must decide every row exactly as one statement per row would.

let db: TestDatabase;
let writer: EventWriter;
let store: ProcessingStore;
let counter = 0;

const event = (externalId: string, body = `{"id":"${externalId}","type":"invoice.paid","n":1.50}`): NewEvent => ({
  provider: 'stripe',
  externalId,
  eventType: 'invoice.paid',
  payload: JSON.parse(body.replace(/^\uFEFF/, '')) as unknown,
  rawBody: Buffer.from(body),
  contentType: 'application/json',
  headers: { 'user-agent': 'test' },
  correlationId: null,
  traceId: null,
  traceparent: null,
  replayKey: null,
});
const delivered = (destination = 'sink'): DeliveryResult => ({ destination, succeeded: true, result: 'success', statusCode: 200, error: null, durationMs: 1 });
const row = async (id: string) =>
  (await db.pool.query('SELECT status, attempts, last_error, payload, raw_body FROM webhook_events WHERE id = $1', [id])).rows[0] as {
    status: string;
    attempts: number;
    last_error: string | null;
    payload: unknown;
    raw_body: Buffer;
  };

beforeAll(async () => {
  db = await createTestDatabase();
  writer = new EventWriter({ pool: db.pool });
  store = new ProcessingStore(db.pool);
});

afterAll(async () => {
  await writer.drain();
  await db.drop();
});

describe('EventWriter batches', () => {
  it('stores each body byte for byte and its payload as parsed, whether PostgreSQL or JavaScript parsed it', async () => {
    const id = () => `evt_batch_${counter++}`;
    const bodies = [
      `{"id":"${id()}","type":"a","n":1.0}`,
      `{"id":"${id()}","s":"caf\\u00e9 \\u0000"}`, // escapes: serialised by JavaScript (NUL sanitised)
      `\uFEFF{"id":"${id()}"}`, // BOM
      `  {"id":"${id()}"}`,
    ];
    const events = bodies.map((body) => {
      const e = event(JSON.parse(body.replace(/^\uFEFF/, '')).id, body);
      if (body.includes('\\u0000')) e.payload = { id: e.externalId, s: 'café \uFFFD' };
      return e;
    });
    const stored = await Promise.all(events.map((e) => writer.insert(e)));
    expect(stored.every((s) => !s.duplicate)).toBe(true);
    for (const [index, s] of stored.entries()) {
      const r = await row(s.id);
      expect(r.raw_body.equals(events[index]!.rawBody)).toBe(true);
      expect(r.payload).toEqual(events[index]!.payload);
    }
  });

  it('one row PostgreSQL refuses fails only its own request; its neighbours in the batch are stored', async () => {
    const good = [event(`evt_ok_${counter++}`), event(`evt_ok_${counter++}`)];
    const bad = { ...event(`evt_bad_${counter++}`), eventType: 'bad\u0000type' }; // text cannot hold NUL (22021)
    const results = await Promise.allSettled([writer.insert(good[0]!), writer.insert(bad), writer.insert(good[1]!)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    for (const r of [results[0], results[2]]) expect((await row((r as PromiseFulfilledResult<{ id: string }>).value.id)).status).toBe('PENDING');
  });

  it('a payload nested beyond what PostgreSQL parses (54001) fails only its own request, not its neighbours', async () => {
    // The verifiers refuse such a body first (PAYLOAD_TOO_DEEP); the writer must still not fail a batch for one row.
    const good = [event(`evt_ok_${counter++}`), event(`evt_ok_${counter++}`)];
    const deepId = `evt_deep_${counter++}`;
    const deep = event(deepId, `{"id":"${deepId}","x":${'['.repeat(30_000)}1${']'.repeat(30_000)}}`);
    const results = await Promise.allSettled([writer.insert(good[0]!), writer.insert(deep), writer.insert(good[1]!)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    for (const r of [results[0], results[2]]) expect((await row((r as PromiseFulfilledResult<{ id: string }>).value.id)).status).toBe('PENDING');
  });

  it('the same event twice in one batch: stored once, the second answered as its duplicate', async () => {
    const e = event(`evt_twice_${counter++}`);
    const [first, second] = await Promise.all([writer.insert(e), writer.insert({ ...e })]);
    expect(first!.duplicate).toBe(false);
    expect(second).toEqual({ ...first, duplicate: true });
  });
});

describe('ProcessingStore batches', () => {
  it('claims concurrent jobs in one statement; a duplicate job in the same batch finds nothing to claim', async () => {
    const [a, b] = await Promise.all([writer.insert(event(`evt_claim_${counter++}`)), writer.insert(event(`evt_claim_${counter++}`))]);
    const [claimA, claimADuplicate, claimB] = await Promise.all([store.claim(a!.id), store.claim(a!.id), store.claim(b!.id)]);
    expect(claimA).toMatchObject({ id: a!.id, attempts: 1, delivered: [] });
    expect(claimADuplicate).toBeUndefined();
    expect(claimB).toMatchObject({ id: b!.id, attempts: 1 });
    expect((await row(a!.id)).status).toBe('PROCESSING');
    // Finished events cannot be claimed again (a stale job).
    await store.finish(claimA!, [delivered()], 'COMPLETED', null);
    expect(await store.claim(a!.id)).toBeUndefined();
  });

  it('finishes concurrent attempts in one statement, each guarded on its own', async () => {
    const stored = await Promise.all([0, 1, 2].map(() => writer.insert(event(`evt_finish_${counter++}`))));
    const claimed = (await Promise.all(stored.map((s) => store.claim(s.id)))) as ClaimedEvent[];
    const results = await Promise.all([
      store.finish(claimed[0]!, [delivered()], 'COMPLETED', null),
      store.finish(claimed[0]!, [delivered()], 'COMPLETED', null), // the same attempt twice: the second finds it moved on
      store.finish(claimed[1]!, [{ ...delivered(), succeeded: false, result: 'http_error', statusCode: 500, error: 'HTTP 500' }], 'FAILED', 'sink: HTTP 500'),
      store.finish(claimed[2]!, [], 'COMPLETED', null),
    ]);
    expect(results).toEqual([true, false, true, true]);
    expect(await row(stored[0]!.id)).toMatchObject({ status: 'COMPLETED', last_error: null });
    expect(await row(stored[1]!.id)).toMatchObject({ status: 'FAILED', last_error: 'sink: HTTP 500' });
    expect((await row(stored[2]!.id)).status).toBe('COMPLETED');
    const { rows } = await db.pool.query('SELECT event_id, succeeded FROM delivery_attempts WHERE event_id = ANY($1::uuid[])', [stored.map((s) => s.id)]);
    expect(rows).toHaveLength(2); // the duplicate moved nothing, so it records nothing (as one statement per attempt would)
  });

  it('tells whether a claim still holds its event: not once another run claimed it (its lock lapsed) or finished it', async () => {
    const stored = await writer.insert(event(`evt_holds_${counter++}`));
    const stale = (await store.claim(stored.id))!;
    expect(await store.stillHolds(stale)).toBe(true);
    const current = (await store.claim(stored.id))!; // the job handed out again: PROCESSING is claimable
    expect(current.claimToken).not.toBe(stale.claimToken);
    // Both asked in one batch (one statement), each decided by its own token.
    expect(await Promise.all([store.stillHolds(stale), store.stillHolds(current)])).toEqual([false, true]);
    await store.finish(current, [delivered()], 'COMPLETED', null);
    expect(await store.stillHolds(current)).toBe(false);
  });

  it('an attempt PostgreSQL refuses fails only its own job', async () => {
    const stored = await Promise.all([0, 1].map(() => writer.insert(event(`evt_refuse_${counter++}`))));
    const claimed = (await Promise.all(stored.map((s) => store.claim(s.id)))) as ClaimedEvent[];
    const results = await Promise.allSettled([
      store.finish(claimed[0]!, [{ ...delivered(), durationMs: 2 ** 31 }], 'COMPLETED', null), // beyond int (22003)
      store.finish(claimed[1]!, [delivered()], 'COMPLETED', null),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
    expect((await row(stored[1]!.id)).status).toBe('COMPLETED');
  });

  it('an error text with a NUL byte (a binary error answer) is stored with U+FFFD in its place, not refused', async () => {
    // PostgreSQL text refuses NUL (22021): the whole finish failed on every try, the event stayed PROCESSING.
    const stored = await writer.insert(event(`evt_nul_error_${counter++}`));
    const claimed = (await store.claim(stored.id))!;
    const failed: DeliveryResult = { ...delivered(), succeeded: false, result: 'http_error', statusCode: 502, error: 'HTTP 502: up\u0000stream' };
    expect(await store.finish(claimed, [failed], 'FAILED', 'sink: HTTP 502: up\u0000stream')).toBe(true);
    expect(await row(stored.id)).toMatchObject({ status: 'FAILED', last_error: 'sink: HTTP 502: up\uFFFDstream' });
    const { rows } = await db.pool.query('SELECT error FROM delivery_attempts WHERE event_id = $1', [stored.id]);
    expect(rows).toEqual([{ error: 'HTTP 502: up\uFFFDstream' }]);
  });

  it('a finish whose session is killed mid-statement is sent again on a fresh connection: recorded once, never failed', async () => {
    const stored = await writer.insert(event(`evt_killed_finish_${counter++}`));
    const claimed = (await store.claim(stored.id))!;
    // Hold the event's row, so the finish statement waits where the test can find its session and kill it.
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM webhook_events WHERE id = $1 FOR UPDATE', [stored.id]);
      const finished = store.finish(claimed, [delivered()], 'COMPLETED', null);
      // Found by its start: pg_stat_activity keeps a statement's first 1 kB only (track_activity_query_size).
      const killed = await waitFor('the finish statement to wait on the row lock', async () => {
        const { rows } = await db.pool.query<{ killed: boolean }>(
          `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%UPDATE webhook_events e SET status = f.status%'`,
        );
        return rows.length > 0 ? rows[0]!.killed : undefined;
      });
      expect(killed).toBe(true);
      await holder.query('ROLLBACK');
      await expect(finished).resolves.toBe(true);
    } finally {
      holder.release();
    }
    expect((await row(stored.id)).status).toBe('COMPLETED');
    const { rows } = await db.pool.query('SELECT destination, attempt, succeeded FROM delivery_attempts WHERE event_id = $1', [stored.id]);
    expect(rows).toEqual([{ destination: 'sink', attempt: 1, succeeded: true }]);
  });

  it('a finish that committed but lost its answer is sent again: it is reported landed, and applied and recorded once', async () => {
    // The answer lost after the commit: the statement is sent again (FINISH_AGAIN), finds the claim gone, and must
    // neither apply the finish a second time nor report the event as moved on (the processed count follows it).
    let lost = 0;
    const losing = {
      query: async (config: QueryConfig) => {
        const result = await db.pool.query(config);
        if (config.name?.startsWith('finish-event-attempts') && lost++ === 0) throw new Error('Connection terminated unexpectedly');
        return result;
      },
    } as unknown as Pool;
    const losingStore = new ProcessingStore(losing);
    const cases: [FinishedStatus, FinishOptions, number][] = [
      ['COMPLETED', {}, 1],
      ['PENDING', { giveBackAttempt: true, heldFor: ['paused'] }, 0],
    ];
    for (const [status, options, attemptsAfter] of cases) {
      lost = 0;
      const stored = await writer.insert(event(`evt_lost_answer_${counter++}`));
      const claimed = (await losingStore.claim(stored.id))!;
      await expect(losingStore.finish(claimed, [delivered()], status, null, options)).resolves.toBe(true);
      expect(lost).toBe(2); // sent twice
      expect(await row(stored.id)).toMatchObject({ status, attempts: attemptsAfter });
      const { rows } = await db.pool.query('SELECT destination, attempt FROM delivery_attempts WHERE event_id = $1', [stored.id]);
      expect(rows).toEqual([{ destination: 'sink', attempt: 1 }]);
    }
  });

  it('a finish refused for its error texts is recorded once more with a note in their place, rather than failing its job', async () => {
    // Its deliveries went out: failing the job for the words of an error would send them again on every retry. Which
    // text PostgreSQL refuses is simulated: NUL, the one known, no longer reaches it.
    const refusing = {
      query: async (config: QueryConfig) => {
        if (config.name?.startsWith('finish-event-attempts') && JSON.stringify(config.values).includes('unstorable')) {
          throw Object.assign(new Error('invalid byte sequence for encoding "UTF8"'), { code: '22021' });
        }
        return db.pool.query(config);
      },
    } as unknown as Pool;
    const refusingStore = new ProcessingStore(refusing);
    const stored = await Promise.all([0, 1].map(() => writer.insert(event(`evt_unstorable_${counter++}`))));
    const claimed = (await Promise.all(stored.map((s) => refusingStore.claim(s.id)))) as ClaimedEvent[];
    const failed: DeliveryResult = { ...delivered('down'), succeeded: false, result: 'http_error', statusCode: 500, error: 'HTTP 500: unstorable' };
    const results = await Promise.all([
      refusingStore.finish(claimed[0]!, [delivered(), failed], 'FAILED', 'down: HTTP 500: unstorable'),
      refusingStore.finish(claimed[1]!, [delivered()], 'COMPLETED', null),
    ]);
    expect(results).toEqual([true, true]);
    const note = 'error text not stored: PostgreSQL refused it (SQLSTATE 22021)';
    expect(await row(stored[0]!.id)).toMatchObject({ status: 'FAILED', last_error: note });
    const { rows } = await db.pool.query('SELECT destination, succeeded, error FROM delivery_attempts WHERE event_id = $1 ORDER BY destination', [stored[0]!.id]);
    expect(rows).toEqual([
      { destination: 'down', succeeded: false, error: note },
      { destination: 'sink', succeeded: true, error: null },
    ]);
    expect((await row(stored[1]!.id)).status).toBe('COMPLETED');
  });
});
