import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';
import { EventAdminService } from '../../services/admin/event-admin-service.js';
import { createDataSource } from '../../services/shared/database/data-source.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import type { EventQueue } from '../../services/shared/queue/event-queue.js';
import { recordQueryPlans, type QueryPlanRecorder } from '../support/query-plans.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { insertConsoleScaleEvents } from './support/console-scale-events.js';

/**
 * GET /admin/events/counts, which the console polls every 4 s with the list's filters, must stay a capped count
 * (at most 10,001 rows per status) whatever filter is chosen. With a filter that matches a large share of the
 * table (the main provider, a common event type) the per-status subquery compares `status` to the unnest()'s
 * column, a generic value: the planner cannot use the partial (status <> 'COMPLETED') indexes and seq-scans the
 * whole table once per status, five times per poll, even for statuses that have no events at all.
 */

const EVENTS = 100_000;
let db: TestDatabase;
let dataSource: DataSource;
let recorder: QueryPlanRecorder;

beforeAll(async () => {
  db = await createTestDatabase();
  // The console-scale test's shape: 99% completed, 0.5% dead letters; stripe is 60% of the events.
  await insertConsoleScaleEvents(db.pool, EVENTS);
  await db.pool.query('VACUUM ANALYZE webhook_events');
  dataSource = await createDataSource({ url: db.url, poolSize: 2, applicationName: 'counts-scale-test' }).initialize();
  recorder = recordQueryPlans(dataSource, db.pool);
}, 180_000);

afterAll(async () => {
  await dataSource?.destroy();
  await db?.drop();
});

describe('counts with a filter that matches much of the table stay capped and read indexes', () => {
  const logger = createLogger('counts-scale-test');
  const queue = {} as unknown as EventQueue;

  it.each([
    ['the main provider', { provider: 'stripe' }],
    ['a common event type', { eventType: 'push' }],
  ])('counts: %s', async (_name, filter) => {
    const plans = await recorder.plansOf(() => new EventAdminService(recorder.dataSource, queue, logger).counts(filter));
    expect(plans).toHaveLength(1);
    // Five statuses, each at most cap + 1 rows (the console-scale test's own bound), never the whole table per status.
    expect({ scans: plans[0]!.scans, rowsRead: plans[0]!.rowsRead }).toEqual({
      scans: expect.not.arrayContaining([expect.stringMatching(/^Seq Scan/)]),
      rowsRead: expect.any(Number),
    });
    expect(plans[0]!.rowsRead).toBeLessThanOrEqual(5 * 10_001);
  });
});
