import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createLogger } from '../../services/shared/logging/logger.js';
import { eventsRemovedByRetention } from '../../services/shared/metrics/metrics.js';
import { Retention } from '../../services/worker/maintenance/retention.js';
import { closePool, createTestDatabase, type TestDatabase } from '../support/test-database.js';

// Retention counts what a pass deleted (webhook_retention_deleted_total, and its "retention deleted completed events"
// log line) only when the whole pass ends well. Every batch commits on its own, so a pass that fails part-way (a batch
// cut off by statement_timeout behind a row lock, a connection reset, a failover) has deleted its earlier batches for
// good, yet the counter and the log say nothing of them: the operator sees "retention pass failed" and a counter
// that never moved, while thousands of events (and their attempts) are gone.

let db: TestDatabase;
const logger = createLogger('retention-metric-test');

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

const removedSoFar = async () => (await eventsRemovedByRetention.get()).values.reduce((sum, v) => sum + v.value, 0);

describe('webhook_retention_deleted_total', () => {
  it('counts the events a pass deleted even when a later batch of that pass fails', async () => {
    // 2,500 COMPLETED events 40 days old, oldest first (a batch of 1,000 reads them in that order).
    await db.pool.query(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, updated_at, received_at)
       SELECT 'stripe', 'evt_metric_' || n, 'invoice.paid', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'COMPLETED',
              now() - interval '40 days' + make_interval(secs => n), now() - interval '40 days' + make_interval(secs => n)
         FROM generate_series(1, 2500) AS n ORDER BY n`,
    );
    // The newest of them is locked by a transaction that outlasts the statement timeout (a replay, an operator's
    // UPDATE): the third batch waits for it and is cut off.
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query(`SELECT id FROM webhook_events WHERE external_id = 'evt_metric_2500' FOR UPDATE`);
    const pool = new pg.Pool({ connectionString: db.url, max: 3, statement_timeout: 1500 });
    const before = await removedSoFar();
    let outcome: unknown;
    try {
      const retention = new Retention({ pool, completedDays: 30, intervalMs: 60_000, logger, batchSize: 1000 });
      outcome = await retention.runOnce().catch((error: unknown) => error);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
      await closePool(pool);
    }
    expect(outcome).toBeInstanceOf(Error); // the pass failed on its third batch (statement timeout)
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM webhook_events`);
    const deleted = 2500 - rows[0].n;
    expect(deleted).toBe(2000); // two batches committed before the failure
    // Fails: the counter is still where it was (0 counted for 2,000 deleted).
    expect((await removedSoFar()) - before).toBe(deleted);
  }, 30_000);
});
