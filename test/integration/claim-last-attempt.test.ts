/**
 * A claim that takes an event over from a run that made its last attempt (JOB_ATTEMPTS) and never finished it (its
 * worker killed, out of memory, stalled past its job lock) ends the event DEAD_LETTER and sends nothing: before, it
 * counted one more attempt and sent the event again, so an event that brings its worker down was sent by every worker
 * it crash-looped, without end. Only a run that made an attempt counts: a takeover from a run that only waited for a
 * slot, or a claim after a drain gave its attempt back, is an attempt like any other.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Pool, QueryConfig } from 'pg';
import winston from 'winston';
import { eventsProcessed } from '../../services/shared/metrics/metrics.js';
import { HttpForwarder } from '../../services/worker/delivery/http-forwarder.js';
import { DeliveryFailedError } from '../../services/worker/processing/delivery-failed-error.js';
import { EventHandlerRegistry } from '../../services/worker/processing/event-handlers.js';
import { EventProcessor } from '../../services/worker/processing/event-processor.js';
import { ProcessingStore, WORKER_STOPPED_LAST_ATTEMPT } from '../../services/worker/processing/processing-store.js';
import { RouteTable } from '../../services/worker/routing/route-table.js';
import { HttpSink } from '../support/http-sink.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { WORKER_CONFIRM_CLAIM_AFTER_MS } from '../support/worker-claim-bound.js';

const LAST_ATTEMPT = 2;
let db: TestDatabase;
let store: ProcessingStore;
let counter = 0;

async function newEvent(provider = 'poisonco'): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     VALUES ($1, $2, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING') RETURNING id`,
    [provider, `evt_last_attempt_${counter++}`],
  );
  return rows[0]!.id;
}

const row = async (id: string) =>
  (await db.pool.query('SELECT status, attempts, last_error, held_for FROM webhook_events WHERE id = $1', [id])).rows[0] as {
    status: string;
    attempts: number;
    last_error: string | null;
    held_for: string[] | null;
  };

/** Claims `id` `times` times in a row, each a takeover of the one before (its worker died mid-attempt). */
async function claimedTimes(id: string, times: number, lastAttempt = LAST_ATTEMPT) {
  let claimed;
  for (let n = 0; n < times; n++) claimed = (await store.claim(id, 0, lastAttempt))!;
  return claimed!;
}

beforeAll(async () => {
  db = await createTestDatabase();
  store = new ProcessingStore(db.pool);
});

afterAll(async () => {
  await db.drop();
});

describe('a claim taking over an event whose last attempt was made', () => {
  it('ends the event DEAD_LETTER, counting no attempt, and the run it took over can no longer finish it', async () => {
    const id = await newEvent();
    const last = await claimedTimes(id, LAST_ATTEMPT);
    expect(last).toMatchObject({ attempts: LAST_ATTEMPT, deadLettered: false });
    await db.pool.query(`UPDATE webhook_events SET held_for = '{narrow}', held_since = now() WHERE id = $1`, [id]);

    const takeover = (await store.claim(id, 0, LAST_ATTEMPT))!;
    expect(takeover).toMatchObject({ attempts: LAST_ATTEMPT, deadLettered: true });
    expect(await row(id)).toEqual({ status: 'DEAD_LETTER', attempts: LAST_ATTEMPT, last_error: WORKER_STOPPED_LAST_ATTEMPT, held_for: null });
    expect(await store.claim(id, 0, LAST_ATTEMPT)).toBeUndefined();
    expect(await store.finish(last, [], 'COMPLETED', null)).toBe(false);
  });

  it('claims as before when the run it takes over only waited for a slot (claim_waiting): that run made no attempt', async () => {
    const id = await newEvent();
    await store.markWaiting(await claimedTimes(id, LAST_ATTEMPT));
    expect(await store.claim(id, 0, LAST_ATTEMPT)).toMatchObject({ attempts: LAST_ATTEMPT, deadLettered: false });
    expect((await row(id)).status).toBe('PROCESSING');
  });

  it('claims as before after a drain gave the last attempt back (PENDING, one attempt less)', async () => {
    const id = await newEvent();
    const draining = await claimedTimes(id, LAST_ATTEMPT);
    expect(await store.finish(draining, [], 'PENDING', 'waiting: sink: not started, the worker is stopping', { giveBackAttempt: true })).toBe(true);
    expect(await store.claim(id, 0, LAST_ATTEMPT)).toMatchObject({ attempts: LAST_ATTEMPT, deadLettered: false });
  });

  it('dead-letters an event whose attempts already reach a JOB_ATTEMPTS lowered since, without another attempt', async () => {
    const id = await newEvent();
    await claimedTimes(id, 3, 8);
    expect(await store.claim(id, 0, LAST_ATTEMPT)).toMatchObject({ attempts: 3, deadLettered: true });
    expect(await row(id)).toMatchObject({ status: 'DEAD_LETTER', attempts: 3 });
  });

  it('counts the takeover as an attempt, as before, when the claim names no last attempt', async () => {
    const id = await newEvent();
    await claimedTimes(id, LAST_ATTEMPT);
    expect(await store.claim(id)).toMatchObject({ attempts: LAST_ATTEMPT + 1, deadLettered: false });
  });

  it('a re-sent claim whose first send dead-lettered the event (its answer lost) reports the dead letter again', async () => {
    let lost = 0;
    const losing = {
      query: async (config: QueryConfig) => {
        const result = await db.pool.query(config);
        if (config.name?.startsWith('claim-events') && lost++ === 0) throw new Error('Connection terminated unexpectedly');
        return result;
      },
    } as unknown as Pool;
    const id = await newEvent();
    await claimedTimes(id, LAST_ATTEMPT);
    expect(await new ProcessingStore(losing).claim(id, 0, LAST_ATTEMPT)).toMatchObject({ attempts: LAST_ATTEMPT, deadLettered: true });
    expect(lost).toBe(2);
    expect(await row(id)).toMatchObject({ status: 'DEAD_LETTER', attempts: LAST_ATTEMPT });
  });
});

describe('EventProcessor taking over an event whose last attempt was made', () => {
  it('sends nothing and reports a dead letter: a final DeliveryFailedError, counted in webhook_events_processed_total', async () => {
    const sink = await new HttpSink().start();
    const forwarder = new HttpForwarder({ defaultTimeoutMs: 10_000, defaultMaxConcurrency: 8 });
    const processor = new EventProcessor({
      store,
      confirmClaimAfterMs: WORKER_CONFIRM_CLAIM_AFTER_MS,
      routes: new RouteTable({ destinations: { sink: { url: `${sink.url}/sink` } }, routes: [{ provider: 'poisonproc', to: ['sink'] }] }),
      handlers: new EventHandlerRegistry(),
      forwarder,
      maxAttempts: LAST_ATTEMPT,
      logger: winston.createLogger({ silent: true }),
    });
    const deadLetters = async () =>
      (await eventsProcessed.get()).values.find((v) => v.labels.provider === 'poisonproc' && v.labels.status === 'dead_letter')?.value ?? 0;
    try {
      const id = await newEvent('poisonproc');
      await claimedTimes(id, LAST_ATTEMPT); // each run's worker died while sending
      const before = await deadLetters();
      const outcome = await processor.process({ eventId: id }).catch((error: unknown) => error);
      expect(outcome).toBeInstanceOf(DeliveryFailedError);
      expect(outcome).toMatchObject({ final: true, attempt: LAST_ATTEMPT, message: WORKER_STOPPED_LAST_ATTEMPT });
      expect(sink.requests).toHaveLength(0);
      expect(await deadLetters()).toBe(before + 1);
      expect(await row(id)).toMatchObject({ status: 'DEAD_LETTER', attempts: LAST_ATTEMPT });
    } finally {
      await forwarder.close();
      await sink.stop();
    }
  });
});
