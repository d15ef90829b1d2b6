/**
 * webhook_retention_tombstones_deleted_total: the tombstones (replay keys of deleted events) retention deleted once
 * older than RETENTION_TOMBSTONE_DAYS. Found: their expiry had no metric at all, only an info line at the end of a
 * pass that went well, so an operator could not see when re-sent deliveries of old events became new events again.
 * Counted batch by batch, as webhook_retention_deleted_total is: each batch commits on its own, so a pass that
 * fails part-way (a batch cut off by the statement timeout behind a row lock) still counts what it deleted.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createLogger } from '../../services/shared/logging/logger.js';
import { tombstonesExpiredByRetention } from '../../services/shared/metrics/metrics.js';
import { Retention } from '../../services/worker/maintenance/retention.js';
import { closePool, createTestDatabase, type TestDatabase } from '../support/test-database.js';

let db: TestDatabase;
const logger = createLogger('retention-tombstones-metric-test');

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

beforeEach(async () => {
  await db.pool.query('DELETE FROM webhook_event_tombstones');
});

/** `count` tombstones of `provider`, deleted `ageDays` ago plus n seconds (n = 1…count: oldest first). */
async function tombstones(provider: string, count: number, ageDays: number): Promise<void> {
  await db.pool.query(
    `INSERT INTO webhook_event_tombstones (provider, replay_key, event_id, deleted_at)
     SELECT $1, 'sha256:' || n, gen_random_uuid(), now() - make_interval(days => $3::int) + make_interval(secs => n)
       FROM generate_series(1, $2::int) n`,
    [provider, count, ageDays],
  );
}

const expiredSoFar = async () => (await tombstonesExpiredByRetention.get()).values.reduce((sum, v) => sum + v.value, 0);
const left = async () => (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_event_tombstones')).rows[0]!.n;

describe('webhook_retention_tombstones_deleted_total', () => {
  it('counts the expired tombstones a pass deleted, and not the younger ones it kept', async () => {
    await tombstones('old', 25, 400);
    await tombstones('young', 5, 300);
    const before = await expiredSoFar();
    const retention = new Retention({ pool: db.pool, completedDays: 0, tombstoneDays: 365, intervalMs: 3_600_000, logger, batchSize: 10 });
    await retention.runOnce();
    expect(await left()).toBe(5);
    expect((await expiredSoFar()) - before).toBe(25);
  });

  it('counts the tombstones deleted by the batches before one that failed', async () => {
    await tombstones('old', 25, 400);
    // The newest expired tombstone is locked by a transaction that outlasts the statement timeout: the third batch
    // (oldest first, 10 at a time) waits for it and is cut off.
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query(`SELECT 1 FROM webhook_event_tombstones WHERE provider = 'old' AND replay_key = 'sha256:25' FOR UPDATE`);
    const pool = new pg.Pool({ connectionString: db.url, max: 3, statement_timeout: 1500 });
    const before = await expiredSoFar();
    let outcome: unknown;
    try {
      const retention = new Retention({ pool, completedDays: 0, tombstoneDays: 365, intervalMs: 3_600_000, logger, batchSize: 10 });
      outcome = await retention.runOnce().catch((error: unknown) => error);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
      await closePool(pool);
    }
    expect(outcome).toBeInstanceOf(Error); // the third batch hit the statement timeout
    expect(await left()).toBe(5); // two batches committed before the failure
    expect((await expiredSoFar()) - before).toBe(20);
  }, 30_000);
});
