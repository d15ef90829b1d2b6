import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { ADVISORY_LOCKS } from '../../services/shared/database/advisory-lock.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { Retention } from '../../services/worker/maintenance/retention.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';

const HOUR_MS = 3_600_000;

let db: TestDatabase;
let retention: Retention | undefined;
const logger = createLogger('retention-timer-test');

beforeAll(async () => {
  db = await createTestDatabase();
});

afterEach(async () => {
  await retention?.stop();
  retention = undefined;
});

afterAll(async () => {
  await db?.drop();
});

/** `count` COMPLETED events last updated `ageDays` ago, in one statement. */
async function insertCompleted(count: number, ageDays: number): Promise<void> {
  await db.pool.query(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, updated_at, received_at)
     SELECT 'stripe', 'evt_old_' || $3::text || '_' || n, 'invoice.paid', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'COMPLETED',
            now() - make_interval(days => $2), now() - make_interval(days => $2)
       FROM generate_series(1, $1::int) AS n`,
    [count, ageDays, Math.random().toString(36).slice(2)],
  );
}

/**
 * Holds an ACCESS EXCLUSIVE lock on webhook_events in a transaction of its own, so a pass's first DELETE waits until
 * `release()`: stop() is then called while the pass is certainly in its first batch.
 */
async function lockEventsTable() {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE');
  return {
    async release() {
      await client.query('COMMIT');
      await client.end();
    },
  };
}

const countEvents = async (): Promise<number> => (await db.pool.query('SELECT count(*)::int AS n FROM webhook_events')).rows[0].n;

describe('Retention timer', () => {
  it('runs its first pass soon after start, not one interval later', async () => {
    await db.pool.query('DELETE FROM webhook_events');
    await insertCompleted(5, 40);
    retention = new Retention({ pool: db.pool, completedDays: 30, intervalMs: HOUR_MS, firstDelayMs: 100, logger });
    retention.start();
    await waitFor('the first pass to delete the old events', async () => (await countEvents()) === 0, { timeoutMs: 5000 });
  });

  it('runs a pass every interval after the first', async () => {
    await db.pool.query('DELETE FROM webhook_events');
    await insertCompleted(3, 40);
    retention = new Retention({ pool: db.pool, completedDays: 30, intervalMs: 200, firstDelayMs: 0, logger });
    retention.start();
    await waitFor('the first pass', async () => (await countEvents()) === 0, { timeoutMs: 5000 });
    await insertCompleted(3, 40);
    await waitFor('a later pass', async () => (await countEvents()) === 0, { timeoutMs: 5000 });
  });

  it('stop() ends a pass after its current batch, and no delete runs once it resolved', async () => {
    await db.pool.query('DELETE FROM webhook_events');
    await insertCompleted(2000, 40); // 20 batches of 100
    retention = new Retention({ pool: db.pool, completedDays: 30, intervalMs: HOUR_MS, firstDelayMs: 0, batchSize: 100, logger });
    const table = await lockEventsTable();
    let stopped: Promise<void>;
    try {
      retention.start();
      await waitFor('the first batch to wait for the table', async () => {
        const { rows } = await db.pool.query(
          // The batch's statement deletes in a WITH (it writes the deleted events' tombstones in the same statement).
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%DELETE FROM webhook_events WHERE%'`,
        );
        return rows[0].n === 1;
      });
      stopped = retention.stop();
    } finally {
      await table.release();
    }
    await stopped;
    // The batch in progress finished; the 19 after it did not run (the whole pass would have left no row).
    expect(await countEvents()).toBe(1900);
    // The pass is over, not merely unawaited: it let go of its advisory lock, so it deletes nothing more.
    const client = await db.pool.connect(); // one session: a session-level lock is released where it was taken
    try {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [ADVISORY_LOCKS.retention]);
      expect(rows[0]?.locked).toBe(true);
      await client.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCKS.retention]);
    } finally {
      client.release();
    }
    expect(await countEvents()).toBe(1900);
  });
});
