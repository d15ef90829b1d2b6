/**
 * What retention leaves of the events it deletes (webhook_event_tombstones: their replay keys, with the event id),
 * and how long: RETENTION_TOMBSTONE_DAYS after the deletion, or forever with 0.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createLogger } from '../../services/shared/logging/logger.js';
import { Retention } from '../../services/worker/maintenance/retention.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';

let db: TestDatabase;
const logger = createLogger('retention-tombstones-test');

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

beforeEach(async () => {
  await db.pool.query('DELETE FROM webhook_events');
  await db.pool.query('DELETE FROM webhook_event_tombstones');
});

/** A COMPLETED event last updated `ageDays` ago; returns its id. */
async function completedEvent(provider: string, externalId: string, replayKey: string | null, ageDays: number): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, replay_key, updated_at)
     VALUES ($1, $2, 'e', '{}', '\\x7b7d', 'application/json', 'COMPLETED', $3, now() - make_interval(days => $4)) RETURNING id`,
    [provider, externalId, replayKey, ageDays],
  );
  return rows[0]!.id;
}

/** `count` tombstones of provider `provider` written `ageDays` ago. */
async function tombstones(provider: string, count: number, ageDays: number): Promise<void> {
  await db.pool.query(
    `INSERT INTO webhook_event_tombstones (provider, replay_key, event_id, deleted_at)
     SELECT $1, 'sha256:' || n || '-' || $3::int, gen_random_uuid(), now() - make_interval(days => $3::int) FROM generate_series(1, $2::int) n`,
    [provider, count, ageDays],
  );
}

const tombstoneCounts = async () =>
  Object.fromEntries(
    (await db.pool.query<{ provider: string; n: number }>('SELECT provider, count(*)::int AS n FROM webhook_event_tombstones GROUP BY provider')).rows.map(
      (row) => [row.provider, row.n],
    ),
  );

describe('retention tombstones', () => {
  it('keeps the replay key of each deleted event that had one, with the event id; events without one leave nothing', async () => {
    const github = await completedEvent('github', 'delivery-1', 'sha256:aa', 40);
    const paypal = await completedEvent('paypal', 'WH-1', 'transmission:t-1', 40);
    await completedEvent('stripe', 'evt_1', null, 40);
    const young = await completedEvent('github', 'delivery-2', 'sha256:bb', 10);

    expect(await new Retention({ pool: db.pool, completedDays: 30, tombstoneDays: 365, intervalMs: 3_600_000, logger }).runOnce()).toBe(3);

    const { rows } = await db.pool.query('SELECT provider, replay_key, event_id FROM webhook_event_tombstones ORDER BY provider');
    expect(rows).toEqual([
      { provider: 'github', replay_key: 'sha256:aa', event_id: github },
      { provider: 'paypal', replay_key: 'transmission:t-1', event_id: paypal },
    ]);
    expect((await db.pool.query('SELECT id FROM webhook_events')).rows).toEqual([{ id: young }]);
  });

  it('deletes tombstones older than tombstoneDays, in batches, and keeps the younger ones', async () => {
    await tombstones('old', 25, 400);
    await tombstones('young', 5, 300);
    const retention = new Retention({ pool: db.pool, completedDays: 30, tombstoneDays: 365, intervalMs: 3_600_000, logger, batchSize: 10 });
    expect(await retention.runOnce()).toBe(0);
    expect(await tombstoneCounts()).toEqual({ young: 5 });
  });

  it('with completed events kept (completedDays 0) still expires old tombstones, and deletes no event', async () => {
    // Tombstones of a time retention ran, then RETENTION_COMPLETED_DAYS set to 0: RETENTION_TOMBSTONE_DAYS still
    // holds (no pass ran at all, so they were kept forever).
    await tombstones('old', 4, 400);
    await tombstones('young', 2, 300);
    const kept = await completedEvent('github', 'delivery-kept', 'sha256:cc', 4000);
    const retention = new Retention({ pool: db.pool, completedDays: 0, tombstoneDays: 365, intervalMs: 3_600_000, firstDelayMs: 0, logger });
    retention.start();
    try {
      await waitFor('the old tombstones to expire', async () => JSON.stringify(await tombstoneCounts()) === JSON.stringify({ young: 2 }), { timeoutMs: 10_000 });
    } finally {
      await retention.stop();
    }
    expect((await db.pool.query('SELECT id FROM webhook_events')).rows).toEqual([{ id: kept }]);
  });

  it('keeps every tombstone with tombstoneDays 0 (or unset)', async () => {
    await tombstones('ancient', 3, 5000);
    expect(await new Retention({ pool: db.pool, completedDays: 30, tombstoneDays: 0, intervalMs: 3_600_000, logger }).runOnce()).toBe(0);
    expect(await new Retention({ pool: db.pool, completedDays: 30, intervalMs: 3_600_000, logger }).runOnce()).toBe(0);
    expect(await tombstoneCounts()).toEqual({ ancient: 3 });
  });
});
