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

    await expect(new RouteInputReader(db.pool).read(rows[0]!.id)).resolves.toEqual({ payload: { n: 3 }, holdsRoundedIntegers: false, headers: { 'x-kept': '1' } });
  });

  it('tells whether the payload holds integers beyond 2^53, which it parses as the nearest double', async () => {
    const insert = (externalId: string, payload: string) =>
      db.pool.query<{ id: string }>(
        `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, headers, status)
         VALUES ('readco', $1, 'shaped.thing', $2::jsonb, convert_to($2::text, 'UTF8'), 'application/json', '{}'::jsonb, 'PENDING') RETURNING id`,
        [externalId, payload],
      );
    const big = await insert('evt_reader_big', '{"account": 12345678901234567891, "id": "12345678901234567891"}');
    const safe = await insert('evt_reader_safe', '{"n": 9007199254740991, "id": "12345678901234567891"}');
    const reader = new RouteInputReader(db.pool);
    await expect(reader.read(big.rows[0]!.id)).resolves.toEqual({
      payload: { account: 12345678901234567000, id: '12345678901234567891' },
      holdsRoundedIntegers: true,
      headers: {},
    });
    await expect(reader.read(safe.rows[0]!.id)).resolves.toEqual({ payload: { n: 9007199254740991, id: '12345678901234567891' }, holdsRoundedIntegers: false, headers: {} });
  });
});
