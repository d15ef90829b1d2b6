import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
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
});
