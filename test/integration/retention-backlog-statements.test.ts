import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createLogger } from '../../services/shared/logging/logger.js';
import { Retention } from '../../services/worker/maintenance/retention.js';
import { describeScan, rowsRead, scansOf, type PlanNode } from '../support/query-plans.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

/**
 * Retention's batches cost a batch whatever the table holds. When many events are due at once (retention enabled on a
 * full table, RETENTION_COMPLETED_DAYS lowered, passes that failed for a while), the statistics say a large share of
 * the table is due, and the batch's pick (any `LIMIT` due rows, in no order) was planned as a sequential scan that stops
 * at the batch's count: it reads the heap from its start, where the young events that reused the space earlier passes
 * freed sit before the old ones, and read past all of them. On a table PostgreSQL synchronises sequential scans of
 * (larger than a quarter of shared_buffers, as here) a scan starts where the last stopped, so the first batch of a pass
 * and its last (which finds nothing) read the whole table; on a smaller one, every batch did. Oldest first, the batch is
 * a range of the (status, updated_at, id) index. (Half the table due, and the table large enough that the DELETE joins
 * the batch's rows by primary key, as it does on a production table.)
 *
 * Every statement the pass sends runs under auto_explain (ANALYZE, at NOTICE level), so this test reads the plans of
 * the very executions.
 */

const YOUNG = 200_000;
const DUE = 200_000;
const BATCH = 2000;

let db: TestDatabase;
let explained: pg.Pool;
const plans: { query: string; plan: PlanNode }[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query('ALTER TABLE webhook_events SET (autovacuum_enabled = false)');
  // The young events first in the heap (they took the space an earlier pass freed), the due ones after them.
  const insert = (prefix: string, count: number, days: number) =>
    db.pool.query(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, updated_at, received_at)
       SELECT 'stripe', $1 || n, 'invoice.paid', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'COMPLETED',
              now() - make_interval(days => $3::int), now() - make_interval(days => $3::int)
         FROM generate_series(1, $2::int) AS n`,
      [prefix, count, days],
    );
  await insert('evt_young_', YOUNG, 1);
  await insert('evt_due_', DUE, 60);
  await db.pool.query('ANALYZE webhook_events');

  explained = new pg.Pool({
    connectionString: db.url,
    max: 2,
    options:
      '-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 -c auto_explain.log_analyze=on ' +
      '-c auto_explain.log_format=json -c auto_explain.log_level=notice -c auto_explain.log_nested_statements=on',
  });
  explained.on('error', () => undefined);
  explained.on('connect', (client) =>
    client.on('notice', (notice) => {
      const json = notice.message?.replace(/^duration: [\d.]+ ms\s+plan:\s*/, '');
      if (!json || json === notice.message) return;
      const parsed = JSON.parse(json) as { 'Query Text': string; Plan: PlanNode };
      plans.push({ query: parsed['Query Text'], plan: parsed.Plan });
    }),
  );
});

afterAll(async () => {
  await explained?.end();
  await db?.drop();
});

describe('retention with many events due at once', () => {
  it('deletes them a batch at a time, each batch reading about a batch of rows, not the table', async () => {
    const retention = new Retention({ pool: explained, completedDays: 30, intervalMs: 60_000, batchSize: BATCH, logger: createLogger('retention-backlog-test') });
    expect(await retention.runOnce()).toBe(DUE);
    const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_events');
    expect(rows[0]!.n).toBe(YOUNG);

    const batches = plans.filter(({ query }) => /DELETE FROM webhook_events/.test(query));
    expect(batches).toHaveLength(DUE / BATCH + 1); // the last finds nothing
    const overReading = batches
      .map(({ plan }, index) => {
        const scans = scansOf(plan).filter((node) => node['Relation Name'] === 'webhook_events');
        return { batch: index + 1, read: rowsRead(scans), through: scans.map(describeScan) };
      })
      .filter(({ read }) => read > 3 * BATCH);
    // Fails: the first and the last batch read the whole table (Seq Scan on webhook_events).
    expect(overReading).toEqual([]);
  });
});
