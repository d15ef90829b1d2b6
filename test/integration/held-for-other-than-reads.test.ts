/**
 * heldForOtherThan (the worker's pass over destinations no longer in ROUTES_FILE) found the destinations one query at
 * a time, each scanning held events until its first one held for a destination not found yet: the last query, which
 * finds none, read every held event, with millions held (a paused destination's backlog) 0.6-0.7 s a pass and the
 * whole table's pages. It now walks the distinct `held_for` values of an index (ix_webhook_events_held_for), one index
 * probe per value, whatever the number of events holding each.
 *
 * How many rows it reads is taken from EXPLAIN (ANALYZE) of each statement it runs, not from a clock.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { HELD_COUNT_CAP, heldForOtherThan, type HeldEventsSource } from '../../services/shared/destinations/held-events.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

jest.setTimeout(300_000);

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

/** `count` PENDING events held for `heldFor`, since `ageSeconds` ago. */
async function held(heldFor: string[], count: number, ageSeconds: number): Promise<void> {
  await db.pool.query(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, held_for, held_since)
     SELECT 'heldco', 'evt_other_' || array_to_string($1::text[], '+') || '_' || $3::int || '_' || n, 'thing.happened', '{}'::jsonb,
            '\\x7b7d'::bytea, 'application/json', 'PENDING', $1::text[], now() - make_interval(secs => $3::int)
       FROM generate_series(1, $2) n`,
    [heldFor, count, ageSeconds],
  );
}

interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Heap Fetches'?: number;
  Plans?: PlanNode[];
}

/** Rows of webhook_events the plan's scans went through (kept or filtered out, heap fetches of index-only scans). */
function rowsRead(node: PlanNode): number {
  const own = node['Relation Name'] === 'webhook_events'
    ? ((node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0)) * (node['Actual Loops'] ?? 1) + (node['Heap Fetches'] ?? 0)
    : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + rowsRead(child), 0);
}

/** A source that runs each statement under EXPLAIN (ANALYZE) first, adding up the rows it read. */
function measuringSource(): HeldEventsSource & { rowsRead: number; statements: number } {
  const source = {
    rowsRead: 0,
    statements: 0,
    async query<Row>(text: string, values: unknown[]): Promise<{ rows: Row[] }> {
      const { rows: plan } = await db.pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, values);
      source.rowsRead += rowsRead(plan[0]!['QUERY PLAN'][0].Plan);
      source.statements++;
      return db.pool.query(text, values) as unknown as Promise<{ rows: Row[] }>;
    },
  };
  return source;
}

describe('heldForOtherThan', () => {
  it('finds every destination held for outside the set, also those held only past the first 100,000, without reading the held events', async () => {
    await held(['still-paused'], HELD_COUNT_CAP, 3600);
    await held(['other-paused', 'still-paused'], 5_000, 3000);
    // Held only by events past the first 100,000 (and one alongside a configured destination).
    await held(['gone-one'], 2, 60);
    await held(['gone-two', 'still-paused'], 1, 30);
    await db.pool.query('ANALYZE webhook_events');

    const source = measuringSource();
    expect((await heldForOtherThan(source, new Set(['still-paused', 'other-paused']))).sort()).toEqual(['gone-one', 'gone-two']);
    // Fails without the fix: 315,007 (its three statements each scanned the held events, the last one all 105,003).
    expect(source.rowsRead).toBeLessThan(100);

    expect((await heldForOtherThan(measuringSource(), new Set(['still-paused', 'other-paused', 'gone-one', 'gone-two'])))).toEqual([]);
    expect((await heldForOtherThan(measuringSource(), []))).toEqual(expect.arrayContaining(['gone-one', 'gone-two', 'other-paused', 'still-paused']));
  });

  it('sees an event once its wait is cleared, and none when nothing is held', async () => {
    await db.pool.query(`UPDATE webhook_events SET held_for = NULL, held_since = NULL WHERE held_for @> ARRAY['gone-one']`);
    expect(await heldForOtherThan(measuringSource(), new Set(['still-paused', 'other-paused']))).toEqual(['gone-two']);
    await db.pool.query(`UPDATE webhook_events SET held_for = NULL, held_since = NULL WHERE held_for IS NOT NULL`);
    expect(await heldForOtherThan(measuringSource(), [])).toEqual([]);
  });
});
