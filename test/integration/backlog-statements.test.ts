import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createLogger } from '../../services/shared/logging/logger.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import type { DeliveryResult } from '../../services/worker/delivery/delivery-result.js';
import { Reconciler } from '../../services/worker/maintenance/reconciler.js';
import { ProcessingStore, type ClaimedEvent } from '../../services/worker/processing/processing-store.js';
import { describeScan, rowsRead, scansOf, type PlanNode } from '../support/query-plans.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace } from '../support/test-redis.js';

/**
 * A worker's statements cost the same whatever the backlog: after an outage (or with KEDA at zero workers)
 * tens of thousands of events wait, and the table's statistics, last gathered when nearly every row was COMPLETED,
 * say that almost none do. The planner then believed the partial "unfinished" console indexes to be nearly empty
 * and read the whole backlog through them on every statement, to find the batch's few rows: each claim and each
 * finish cost O(backlog), a drain O(backlog²). The reconciler's pass read every stale event to pick the oldest batch.
 *
 * Every statement the store sends runs under auto_explain (ANALYZE, at NOTICE level, so this test reads the plans
 * of the very executions), for enough rounds that PostgreSQL also tries its generic plan for the named statements.
 */

const BACKLOG = 20_000;
const BATCH = 25;
const ROUNDS = 8;

/** The statements (of those auto_explain saw) that read more than `limit` rows of `webhook_events`. */
const overReading = (statements: { query: string; plan: PlanNode }[], limit: number) =>
  statements
    .map(({ query, plan }) => {
      const scans = scansOf(plan).filter((node) => node['Relation Name'] === 'webhook_events' || node['Index Name']?.startsWith('ix_webhook_events') || node['Index Name'] === 'webhook_events_pkey');
      return { statement: query.trim().slice(0, 40), read: rowsRead(scans), through: scans.map(describeScan) };
    })
    .filter(({ read }) => read > limit);

let db: TestDatabase;
let explained: pg.Pool;
const plans: { query: string; plan: PlanNode }[] = [];

const delivered: DeliveryResult = { destination: 'sink', succeeded: true, result: 'success', statusCode: 200, error: null, durationMs: 1 };

beforeAll(async () => {
  db = await createTestDatabase();
  // The statistics are gathered while every row is COMPLETED; then the backlog appears, and (autovacuum off for this
  // table) nothing tells the planner.
  await db.pool.query('ALTER TABLE webhook_events SET (autovacuum_enabled = false)');
  await db.pool.query(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     SELECT 'stripe', 'evt_backlog_' || n, 'invoice.paid', jsonb_build_object('id', 'evt_backlog_' || n),
            convert_to('{"id":"evt_backlog_' || n || '"}', 'UTF8'), 'application/json', 'COMPLETED'
       FROM generate_series(1, $1::int) AS n`,
    [BACKLOG],
  );
  await db.pool.query('ANALYZE webhook_events');
  // Half waiting, half PROCESSING (claimed by workers that died, say): the claim and the finish guard on both.
  await db.pool.query(`UPDATE webhook_events SET status = CASE WHEN random() < 0.5 THEN 'PENDING' ELSE 'PROCESSING' END`);

  explained = new pg.Pool({
    connectionString: db.url,
    max: 2,
    options:
      '-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 -c auto_explain.log_analyze=on ' +
      '-c auto_explain.log_format=json -c auto_explain.log_level=notice',
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

describe('with a backlog the statistics do not know of', () => {
  it('claims and finishes a batch reading about the batch, not the backlog', async () => {
    const store = new ProcessingStore(explained);
    const { rows } = await db.pool.query<{ id: string }>('SELECT id FROM webhook_events ORDER BY random() LIMIT $1', [BATCH * ROUNDS]);
    for (let round = 0; round < ROUNDS; round++) {
      const ids = rows.slice(round * BATCH, (round + 1) * BATCH).map((row) => row.id);
      const claimed = (await Promise.all(ids.map((id) => store.claim(id)))) as ClaimedEvent[];
      expect(claimed.every((event) => event !== undefined)).toBe(true);
      expect(await Promise.all(claimed.map((event) => store.finish(event, [delivered], 'COMPLETED', null)))).toEqual(ids.map(() => true));
    }

    const statements = plans.filter(({ query }) => /UPDATE webhook_events/.test(query));
    const claims = statements.filter(({ query }) => /claim_token = j\.token/.test(query));
    const finishes = statements.filter(({ query }) => /INSERT INTO delivery_attempts/.test(query));
    expect(claims.length).toBeGreaterThanOrEqual(ROUNDS);
    expect(finishes.length).toBeGreaterThanOrEqual(ROUNDS);
    // A batch's rows, give or take; without the fix each statement read all 20,000.
    expect(overReading([...claims, ...finishes], 4 * BATCH)).toEqual([]);
  });

  it('a reconciler pass reads its batches, not every stale event', async () => {
    const ns = createQueueNamespace();
    const connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
    const logger = createLogger('backlog-statements-test');
    const queue = new EventQueue({ connection, name: 'webhook-events', prefix: ns.prefix, attempts: 3, backoffMs: 1000, logger });
    try {
      plans.length = 0;
      const reconciler = new Reconciler({ pool: explained, queue, intervalMs: 60_000, staleMs: 0, batchSize: BATCH, maxBatchesPerPass: 2, logger });
      expect(await reconciler.runOnce()).toBe(2 * BATCH);
      const passes = plans.filter(({ query }) => /updated_at < now\(\) - make_interval/.test(query)); // the stale-event reads
      expect(passes).toHaveLength(2);
      // Each of the three status branches stops at the batch; before, the pass read all 20,000 stale events.
      expect(overReading(passes, 4 * BATCH)).toEqual([]);
    } finally {
      await queue.close();
      connection.disconnect();
      await ns.cleanup();
    }
  });
});
