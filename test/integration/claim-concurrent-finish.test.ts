/**
 * A claim that takes over a run gone quiet (its claim and heartbeat older than the live-claim window: its worker
 * stalled) can meet that run's finish at the same moment: the run woke up, its deliveries answered, and it writes its
 * end while the other job's claim is on its way. When the finish locks the row first, the claim waits for it and then,
 * PostgreSQL re-checking its conditions on the row as the finish left it (FAILED: claimable), takes the event. The
 * destinations that already have it (`delivered`) were read in the same statement, from its snapshot, taken before
 * the finish committed: the attempts the finish recorded were not in it, so the claim's run sent the event again to
 * the destinations that had just taken it, though PostgreSQL recorded that they had.
 *
 * The race is made deterministic with a row lock held by the test: the finish, then the claim, queue behind it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type pg from 'pg';
import type { DeliveryResult } from '../../services/worker/delivery/delivery-result.js';
import { liveClaimWindowMs } from '../../services/worker/processing/claim-heartbeat.js';
import { ProcessingStore } from '../../services/worker/processing/processing-store.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';

const LOCK_MS = 30_000;
const ATTEMPTS = 5;
let db: TestDatabase;
/** Two workers: the one whose run went quiet, and the one whose job takes it over. */
let quietWorker: ProcessingStore;
let otherWorker: ProcessingStore;
let counter = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  quietWorker = new ProcessingStore(db.pool, { liveClaimWindowMs: liveClaimWindowMs(LOCK_MS) });
  otherWorker = new ProcessingStore(db.pool, { liveClaimWindowMs: liveClaimWindowMs(LOCK_MS) });
});

afterAll(async () => {
  await db?.drop();
});

async function newEvent(): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     VALUES ('stripe', $1, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING') RETURNING id`,
    [`evt_concurrent_finish_${counter++}`],
  );
  return rows[0]!.id;
}

const result = (destination: string, succeeded: boolean): DeliveryResult =>
  succeeded
    ? { destination, succeeded, result: 'success', statusCode: 200, error: null, durationMs: 5 }
    : { destination, succeeded, result: 'http_error', statusCode: 500, error: 'HTTP 500', durationMs: 5 };

/** The statements of this test's database waiting on a row lock. */
async function waitingOnLocks(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
  );
  return rows[0]!.n;
}

describe('a claim taking over a quiet run while that run writes its end', () => {
  it('knows the destinations the run delivered to, and does not send to them again', async () => {
    const id = await newEvent();
    const quiet = (await quietWorker.claim(id, 0, ATTEMPTS))!;
    // The run's claim and heartbeat a minute old (its worker stalled), its claim time as the finish will find it.
    const { rows } = await db.pool.query<{ at: string }>(
      `UPDATE webhook_events SET updated_at = updated_at - interval '60 seconds', claim_heartbeat_at = claim_heartbeat_at - interval '60 seconds'
        WHERE id = $1 RETURNING updated_at::text AS at`,
      [id],
    );
    const run = { ...quiet, claimedAt: rows[0]!.at };

    const locker: pg.PoolClient = await db.pool.connect();
    let locked = true;
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM webhook_events WHERE id = $1 FOR UPDATE', [id]);
      // The run wakes up: billing took the event, crm failed; its finish waits for the row.
      const finished = quietWorker.finish(run, [result('billing', true), result('crm', false)], 'FAILED', 'crm: HTTP 500');
      await waitFor('the finish waiting for the row', async () => (await waitingOnLocks()) >= 1);
      // The job handed out again (its lock lapsed) claims the event: its statement starts now, and waits behind.
      const claimed = otherWorker.claim(id, 0, ATTEMPTS);
      await waitFor('the claim waiting for the row', async () => (await waitingOnLocks()) >= 2);
      await locker.query('COMMIT');
      locked = false;

      expect(await finished).toBe(true);
      // The claim takes the event (the retry of the failed attempt goes on at once) knowing that billing has it:
      // its run sends to crm only.
      expect(await claimed).toMatchObject({ attempts: 2, delivered: ['billing'], deadLettered: false });
      const { rows: now } = await db.pool.query('SELECT status, attempts FROM webhook_events WHERE id = $1', [id]);
      expect(now[0]).toEqual({ status: 'PROCESSING', attempts: 2 });
    } finally {
      if (locked) await locker.query('ROLLBACK').catch(() => undefined);
      locker.release();
    }
  });
});
