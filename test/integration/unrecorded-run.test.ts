/**
 * A run whose finish (or claim) PostgreSQL did not take past the reconnects carries it with its job to the job's next
 * run (UnrecordedRun), which writes that finish first, under the old claim, and reports it as the run would have. Before,
 * that next run's claim (a new token) took the event for a run cut off: on the last attempt it dead-lettered an event
 * the destination had taken, before that it sent it a second time (test/faults/last-attempt-delivered-postgres-outage).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Pool, QueryConfig } from 'pg';
import winston from 'winston';
import { HttpForwarder } from '../../services/worker/delivery/http-forwarder.js';
import type { DeliveryResult } from '../../services/worker/delivery/delivery-result.js';
import { EventWaitingError } from '../../services/worker/processing/delivery-failed-error.js';
import { EventHandlerRegistry } from '../../services/worker/processing/event-handlers.js';
import { EventProcessor } from '../../services/worker/processing/event-processor.js';
import { ProcessingStore, type ClaimedEvent } from '../../services/worker/processing/processing-store.js';
import { claimIdentity, RunNotRecordedError, type RunEnd } from '../../services/worker/processing/unrecorded-run.js';
import { RouteTable } from '../../services/worker/routing/route-table.js';
import { HttpSink } from '../support/http-sink.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { WORKER_CONFIRM_CLAIM_AFTER_MS } from '../support/worker-claim-bound.js';

const LAST_ATTEMPT = 2;
let db: TestDatabase;
let store: ProcessingStore;
let counter = 0;

async function newEvent(provider = 'unrecorded'): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     VALUES ($1, $2, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING') RETURNING id`,
    [provider, `evt_unrecorded_${counter++}`],
  );
  return rows[0]!.id;
}

const row = async (id: string) =>
  (await db.pool.query('SELECT status, attempts, last_error FROM webhook_events WHERE id = $1', [id])).rows[0] as { status: string; attempts: number; last_error: string | null };
const attemptRows = async (id: string) => Number((await db.pool.query('SELECT count(*) FROM delivery_attempts WHERE event_id = $1', [id])).rows[0].count);

const delivered: DeliveryResult = { destination: 'crm', succeeded: true, result: 'success', statusCode: 200, error: null, durationMs: 3000 };
const completed: RunEnd = { status: 'COMPLETED', lastError: null, results: [delivered], giveBackAttempt: false, heldFor: [] };

/** The event claimed up to its last attempt, each claim after the first a takeover of the one before. */
async function lastAttemptClaimed(id: string): Promise<ClaimedEvent> {
  let claimed: ClaimedEvent | undefined;
  for (let n = 0; n < LAST_ATTEMPT; n++) claimed = await store.claim(id, 0, LAST_ATTEMPT);
  return claimed!;
}

beforeAll(async () => {
  db = await createTestDatabase();
  store = new ProcessingStore(db.pool);
});

afterAll(async () => {
  await db.drop();
});

describe("ProcessingStore.refinish: an earlier run's finish, written by the job's next run", () => {
  it('lands under the old claim of the last attempt, recording its deliveries once, however often it is sent', async () => {
    const id = await newEvent();
    const last = await lastAttemptClaimed(id);
    const next = randomUUID();
    expect(await store.refinish(claimIdentity(last), completed, next)).toBe(true);
    expect(await row(id)).toEqual({ status: 'COMPLETED', attempts: LAST_ATTEMPT, last_error: null });
    expect(await attemptRows(id)).toBe(1);
    // Sent again (its answer lost): still landed, nothing recorded twice.
    expect(await store.refinish(claimIdentity(last), completed, next)).toBe(true);
    expect(await attemptRows(id)).toBe(1);
    // A later run of the job still carrying it (its data not cleared): no longer applies, and its claim finds the end.
    expect(await store.refinish(claimIdentity(last), completed, randomUUID())).toBe(false);
    expect(await store.claim(id, 0, LAST_ATTEMPT)).toBeUndefined();
  });

  it('finds a finish that landed before its answer was lost as landed, without recording it again', async () => {
    const id = await newEvent();
    const last = await lastAttemptClaimed(id);
    expect(await store.finish(last, [delivered], 'COMPLETED', null)).toBe(true);
    expect(await store.refinish(claimIdentity(last), completed, randomUUID())).toBe(true);
    expect(await attemptRows(id)).toBe(1);
  });

  it('writes a give-back (PENDING, one attempt less): the next claim makes the last attempt, not a takeover', async () => {
    const id = await newEvent();
    const last = await lastAttemptClaimed(id);
    const waits: RunEnd = { status: 'PENDING', lastError: 'waiting: crm paused', results: [], giveBackAttempt: true, heldFor: ['crm'], waitMs: 1000 };
    expect(await store.refinish(claimIdentity(last), waits, randomUUID())).toBe(true);
    expect(await row(id)).toMatchObject({ status: 'PENDING', attempts: LAST_ATTEMPT - 1 });
    expect(await store.claim(id, 0, LAST_ATTEMPT)).toMatchObject({ attempts: LAST_ATTEMPT, deadLettered: false });
  });

  it('writes nothing once another claim took the event over', async () => {
    const id = await newEvent();
    const first = (await store.claim(id, 0, LAST_ATTEMPT))!;
    await store.claim(id, 0, LAST_ATTEMPT); // the reconciler's job, say
    expect(await store.refinish(claimIdentity(first), completed, randomUUID())).toBe(false);
    expect(await row(id)).toMatchObject({ status: 'PROCESSING', attempts: 2 });
    expect(await attemptRows(id)).toBe(0);
  });
});

describe("a claim with an earlier run's token (its answer lost past the reconnects)", () => {
  it('continues that claim (same attempt) when it had landed, on the last attempt too', async () => {
    const id = await newEvent();
    await store.claim(id, 0, LAST_ATTEMPT);
    const token = randomUUID();
    const landed = (await store.claim(id, 0, LAST_ATTEMPT, token))!;
    expect(await store.claim(id, 0, LAST_ATTEMPT, token)).toMatchObject({ attempts: LAST_ATTEMPT, deadLettered: false, claimedAt: landed.claimedAt });
    expect((await row(id)).status).toBe('PROCESSING');
  });

  it('claims as any other once a finish moved the event on (a token left in a job whose data was not cleared)', async () => {
    const id = await newEvent();
    const token = randomUUID();
    const first = (await store.claim(id, 0, LAST_ATTEMPT, token))!;
    expect(await store.finish(first, [], 'FAILED', 'crm: 503')).toBe(true);
    expect(await store.claim(id, 0, LAST_ATTEMPT, token)).toMatchObject({ attempts: 2, deadLettered: false });
    expect((await row(id)).status).toBe('PROCESSING');
  });
});

describe('EventProcessor with a run PostgreSQL did not record', () => {
  const sink = new HttpSink();
  const forwarder = new HttpForwarder({ defaultTimeoutMs: 10_000, defaultMaxConcurrency: 8 });
  const processorWith = (processingStore: ProcessingStore) =>
    new EventProcessor({
      store: processingStore,
      confirmClaimAfterMs: WORKER_CONFIRM_CLAIM_AFTER_MS,
      routes: new RouteTable({ destinations: { crm: { url: `${sink.url}/crm` } }, routes: [{ provider: 'unrecordedproc', to: ['crm'] }] }),
      handlers: new EventHandlerRegistry(),
      forwarder,
      maxAttempts: LAST_ATTEMPT,
      logger: winston.createLogger({ silent: true }),
    });
  beforeAll(async () => void (await sink.start()));
  afterAll(async () => {
    await forwarder.close();
    await sink.stop();
  });

  it('carries the finish it could not write, and its next run writes it and reports it without sending again', async () => {
    const id = await newEvent('unrecordedproc');
    await store.claim(id, 0, LAST_ATTEMPT); // the first attempt, failed (its worker died)
    const unreachable = {
      query: async (config: QueryConfig) => {
        if (config.name?.startsWith('finish-event')) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
        return db.pool.query(config);
      },
    } as unknown as Pool;
    const carried = await processorWith(new ProcessingStore(unreachable))
      .process({ eventId: id })
      .catch((error: unknown) => error);
    expect(carried).toBeInstanceOf(RunNotRecordedError);
    const { unrecorded } = carried as RunNotRecordedError;
    expect(unrecorded).toMatchObject({ finish: { eventId: id, attempt: LAST_ATTEMPT }, end: { status: 'COMPLETED', results: [{ destination: 'crm', succeeded: true }] } });
    expect(sink.requests).toHaveLength(1);
    expect((await row(id)).status).toBe('PROCESSING');

    // The job data goes through Redis as JSON.
    const job = JSON.parse(JSON.stringify({ eventId: id, unrecorded }));
    expect(await processorWith(store).process(job)).toBe('completed');
    expect(sink.requests).toHaveLength(1);
    expect(await row(id)).toEqual({ status: 'COMPLETED', attempts: LAST_ATTEMPT, last_error: null });
    expect(await attemptRows(id)).toBe(1);
  });

  it('reports a written give-back as the wait it was', async () => {
    const id = await newEvent('unrecordedproc');
    const claimed = (await store.claim(id, 0, LAST_ATTEMPT))!;
    const end: RunEnd = { status: 'PENDING', lastError: 'waiting: crm paused', results: [], giveBackAttempt: true, heldFor: ['crm'], waitMs: 1234 };
    const outcome = await processorWith(store)
      .process({ eventId: id, unrecorded: { claimToken: claimed.claimToken, finish: claimIdentity(claimed), end } })
      .catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(EventWaitingError);
    expect(outcome).toMatchObject({ waitMs: 1234 });
    expect(await row(id)).toMatchObject({ status: 'PENDING', attempts: 0 });
  });
});
