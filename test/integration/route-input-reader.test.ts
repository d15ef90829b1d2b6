import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RouteInputReader } from '../../services/worker/routing/route-input-reader.js';
import { createTestDatabase, withAdminClient, type TestDatabase } from '../support/test-database.js';

// Filters and transforms read the payload in the middle of a processing attempt: a connection lost there (a killed
// session, a failover) is read again, as the claim and finish are, not the event's failed attempt.

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

describe('RouteInputReader', () => {
  it('reads again on a fresh connection when the pooled ones were killed', async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, headers, status)
       VALUES ('readco', 'evt_reader_1', 'shaped.thing', '{"n": 3}'::jsonb, '{"n": 3}'::bytea, 'application/json', '{"x-kept":"1"}'::jsonb, 'PENDING')
       RETURNING id`,
    );
    // Idle pooled connections, then every one of the database's sessions ended.
    await Promise.all([1, 2, 3, 4].map(() => db.pool.query('SELECT pg_sleep(0.05)')));
    const killed = await withAdminClient((admin) => admin.query<{ n: number }>('SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1', [db.name]));
    expect(killed.rows[0]!.n).toBeGreaterThan(0);

    await expect(new RouteInputReader(db.pool).read(rows[0]!.id)).resolves.toEqual({ payload: { n: 3 }, headers: { 'x-kept': '1' } });
  });
});
