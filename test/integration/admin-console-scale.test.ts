import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';
import { DestinationSummary } from '../../services/admin/destination-summary.js';
import { EventAdminService } from '../../services/admin/event-admin-service.js';
import { encodeCursor } from '../../services/admin/event-cursor.js';
import { Overview } from '../../services/admin/overview.js';
import { createDataSource } from '../../services/shared/database/data-source.js';
import { ConsoleIndexes1764500300000 } from '../../services/shared/database/migrations/1764500300000-console-indexes.js';
import { StaleWalkIndex1764500500000 } from '../../services/shared/database/migrations/1764500500000-stale-walk-index.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import type { EventQueue } from '../../services/shared/queue/event-queue.js';
import { recordQueryPlans, type QueryPlanRecorder } from '../support/query-plans.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { insertConsoleScaleEvents } from './support/console-scale-events.js';

/**
 * The console's queries stay cheap as the table grows: with 200,000 events (and as many delivery attempts), every
 * query the admin API issues for the console is run under EXPLAIN ANALYZE and must read an index, never the whole
 * table, and touch about as many rows as it returns (a page, a capped count, the overview's window).
 */

const EVENTS = 200_000;
let db: TestDatabase;
let dataSource: DataSource;
let recorder: QueryPlanRecorder;

/** Runs each query issued by `action` under EXPLAIN ANALYZE; returns, per query, the scans and the rows they read. */
async function plansOf(action: () => Promise<unknown>) {
  const plans = await recorder.plansOf(action);
  expect(plans.length).toBeGreaterThan(0);
  return plans;
}

const noSeqScan = (plans: { scans: string[] }[]) => {
  for (const plan of plans) for (const scan of plan.scans) expect(scan).not.toMatch(/^Seq Scan/);
};

beforeAll(async () => {
  db = await createTestDatabase();
  // 200,000 events over the last 7 days: 99% completed, 0.5% dead letters, a provider with 0.1% of the events.
  await insertConsoleScaleEvents(db.pool, EVENTS);
  await db.pool.query(
    `INSERT INTO delivery_attempts (event_id, destination, attempt, succeeded, status_code, duration_ms, at)
     SELECT id, CASE WHEN external_id LIKE '%1' THEN 'crm' ELSE 'billing' END, 1, external_id NOT LIKE '%7', 200, 12, received_at + interval '100 ms'
       FROM webhook_events ORDER BY received_at`,
  );
  await db.pool.query('VACUUM ANALYZE webhook_events');
  await db.pool.query('VACUUM ANALYZE delivery_attempts');
  dataSource = await createDataSource({ url: db.url, poolSize: 2, applicationName: 'console-scale-test' }).initialize();
  recorder = recordQueryPlans(dataSource, db.pool);
}, 180_000);

afterAll(async () => {
  await dataSource?.destroy();
  await db?.drop();
});

describe('with 200,000 events, every console query reads an index and about what it returns', () => {
  const logger = createLogger('console-scale-test');
  const queue = { counts: async () => ({ waiting: 0, active: 0, delayed: 0, prioritized: 0, failed: 0 }) } as unknown as EventQueue;
  const events = () => new EventAdminService(recorder.dataSource, queue, logger);

  it.each([
    ['no filter', {}],
    ['dead letters', { status: 'DEAD_LETTER' as const }],
    ['failed', { status: 'FAILED' as const }],
    ['a rare provider', { provider: 'rare' }],
    ['a rare provider’s dead letters', { provider: 'rare', status: 'DEAD_LETTER' as const }],
    ['a rare event type', { eventType: 'invoice.paid.rare' }],
    // Stripe is 60% of the events: reading the time index and skipping the others (≈ 50 / 0.6 rows) is as good.
    ['a provider in an old time range', { provider: 'stripe', from: new Date(Date.now() - 6 * 86_400_000).toISOString(), to: new Date(Date.now() - 5 * 86_400_000).toISOString() }, 100],
    ['search by provider id', { q: 'evt_123456' }],
    ['search by event id', { q: '00000000-0000-4000-8000-000000000000' }],
  ])('list, first page and a later page: %s', async (_name, filter, maxRows = 60) => {
    const first = await plansOf(() => events().list({ ...filter, limit: 50 }));
    noSeqScan(first);
    expect(first[0]!.rowsRead).toBeLessThanOrEqual(maxRows);
    // A page deep into the list costs the same as the first.
    const deep = encodeCursor({ receivedAt: new Date(Date.now() - 3 * 86_400_000).toISOString().replace('Z', '000Z'), id: 'ffffffff-ffff-4fff-bfff-ffffffffffff' });
    const later = await plansOf(() => events().list({ ...filter, limit: 50, cursor: deep }));
    noSeqScan(later);
    expect(later[0]!.rowsRead).toBeLessThanOrEqual(maxRows);
  });

  it.each([
    ['no filter', {}],
    ['a rare provider', { provider: 'rare' }],
    ['the last hour', { from: new Date(Date.now() - 3_600_000).toISOString() }],
  ])('counts per status stop at the cap: %s', async (_name, filter) => {
    const plans = await plansOf(() => events().counts(filter));
    noSeqScan(plans);
    // Five statuses, each at most cap + 1 rows.
    expect(plans[0]!.rowsRead).toBeLessThanOrEqual(5 * 10_001);
    const { counts, more } = await events().counts(filter);
    if (Object.keys(filter).length === 0) {
      expect(more).toEqual(['COMPLETED']);
      expect(counts.COMPLETED).toBe(10_000);
      expect(counts.DEAD_LETTER).toBe(1000);
    }
  });

  it('facets skip through the indexes, one row per distinct value', async () => {
    const plans = await plansOf(() => events().facets());
    noSeqScan(plans);
    for (const plan of plans) expect(plan.rowsRead).toBeLessThanOrEqual(20);
    expect(await events().facets()).toEqual({ providers: ['acme', 'github', 'rare', 'stripe'], eventTypes: expect.arrayContaining(['push', 'invoice.paid.rare']) });
  });

  it('the overview reads its window, and a refresh only the last minutes', async () => {
    const overview = new Overview({ dataSource: recorder.dataSource, queue, logger, cacheMs: 0 });
    // Each view also looks for replays recorded since the last (a row per replay of the last minutes).
    const split = (plans: Awaited<ReturnType<typeof plansOf>>) => {
      const looks = plans.filter((plan) => /FROM overview_invalidations/.test(plan.sql));
      expect(looks).toHaveLength(1);
      expect(looks[0]!.rowsRead).toBeLessThanOrEqual(10);
      return plans.filter((plan) => !looks.includes(plan));
    };
    const first = split(await plansOf(() => overview.view(3)));
    noSeqScan(first);
    // 3 hours at one event per 3 s: 3,600 received, about as many completed; each read once.
    expect(first[0]!.rowsRead).toBeLessThanOrEqual(3 * 3700);
    const refresh = split(await plansOf(() => overview.view(3)));
    noSeqScan(refresh);
    expect(refresh[0]!.rowsRead).toBeLessThanOrEqual(3 * 3 * 20 + 10);
    const view = await overview.view(3);
    expect(view.received.reduce((a, b) => a + b, 0)).toBeGreaterThan(3500);
  });

  it('the destinations summary reads the last hour of attempts', async () => {
    const plans = await plansOf(() => new DestinationSummary(recorder.dataSource, { destinations: { billing: { url: 'http://b/' } }, routes: [] }, 0).view());
    noSeqScan(plans);
    // One hour at one attempt per 3 s is 1,200 rows; BRIN reads whole block ranges around them.
    for (const plan of plans) expect(plan.rowsRead).toBeLessThanOrEqual(40_000);
  });
});

describe('the console indexes migration', () => {
  it('builds each index valid, and builds again one a failed concurrent build left invalid', async () => {
    const valid = async () =>
      (
        await db.pool.query(
          `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE c.relname LIKE 'ix_webhook_events_%' OR c.relname LIKE 'ix_delivery_attempts_%' ORDER BY 1`,
        )
      ).rows as { name: string; valid: boolean }[];
    expect((await valid()).filter((index) => !index.valid)).toEqual([]);
    await db.pool.query(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ix_webhook_events_type_received'::regclass`);
    const runner = dataSource.createQueryRunner();
    try {
      await new ConsoleIndexes1764500300000().up(runner);
    } finally {
      await runner.release();
    }
    const after = await valid();
    expect(after.filter((index) => !index.valid)).toEqual([]);
    expect(after.map((index) => index.name)).toEqual(
      expect.arrayContaining([
        'ix_webhook_events_unfinished_received',
        'ix_webhook_events_unfinished_provider_received',
        'ix_webhook_events_provider_received',
        'ix_webhook_events_type_received',
        'ix_webhook_events_external_id',
        'ix_delivery_attempts_at_brin',
      ]),
    );
  });
});

describe('the stale-walk index migration', () => {
  const indexes = async () =>
    (
      await db.pool.query(
        `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE c.relname LIKE 'ix_webhook_events_status_updated%' ORDER BY 1`,
      )
    ).rows as { name: string; valid: boolean }[];
  const run = async (step: 'up' | 'down') => {
    const runner = dataSource.createQueryRunner();
    try {
      await new StaleWalkIndex1764500500000()[step](runner);
    } finally {
      await runner.release();
    }
  };

  it('replaces (status, updated_at) with (status, updated_at, id); down puts it back; an invalid build is redone', async () => {
    expect(await indexes()).toEqual([{ name: 'ix_webhook_events_status_updated_id', valid: true }]);
    await run('down');
    expect(await indexes()).toEqual([{ name: 'ix_webhook_events_status_updated', valid: true }]);
    await run('up');
    expect(await indexes()).toEqual([{ name: 'ix_webhook_events_status_updated_id', valid: true }]);
    // A concurrent build that failed half-way leaves an invalid index (and the old one in place): run again, it is rebuilt.
    await run('down');
    await db.pool.query(`CREATE INDEX ix_webhook_events_status_updated_id ON webhook_events (status, updated_at, id)`);
    await db.pool.query(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ix_webhook_events_status_updated_id'::regclass`);
    await run('up');
    expect(await indexes()).toEqual([{ name: 'ix_webhook_events_status_updated_id', valid: true }]);
  });
});
