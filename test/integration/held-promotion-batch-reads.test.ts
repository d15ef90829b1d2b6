/**
 * A promotion pass past its first read (a backlog past HELD_COUNT_CAP) reads the rest in batches by `held_since`. Each
 * batch read the held events still ahead of it, of every destination: PostgreSQL cannot look `$1 = ANY(held_for)` up
 * in an index, so it took the whole rest of ix_webhook_events_held (a bitmap) and sorted what it kept, or walked it
 * in order through the other destinations' events. A pass over N held events read about N²/batch rows; for a
 * destination holding few of them, every batch read all the rest. Each batch now reads its own rows: an ordered range
 * of ix_webhook_events_held_for per `held_for` value holding the destination, merged.
 *
 * How many rows each statement reads is taken from EXPLAIN (ANALYZE) of it, not from a clock.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { HELD_BATCH_MERGED_WAITS, promoteHeldJobs } from '../../services/shared/destinations/held-events.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { EVENT_JOB_NAME, eventJobId } from '../../services/shared/queue/event-job.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

jest.setTimeout(300_000);

let db: TestDatabase;
let ns: TestQueueNamespace;
let connection: Redis;
let queue: EventQueue;
const logger = createLogger('held-promotion-batch-reads-test');

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
  queue = new EventQueue({ connection, name: 'webhook-events', prefix: ns.prefix, attempts: 3, backoffMs: 1000, logger });
});

afterAll(async () => {
  await queue?.close();
  connection?.disconnect();
  await ns?.cleanup();
  await db?.drop();
});

/**
 * `count` events held for `heldFor`, one every `everyMs` from `fromSecondsAgo` on (so several destinations'
 * events interleave in `held_since`), every `failedEvery`th FAILED (not promoted); with `jobs`, each with a job
 * delayed ten minutes. Returns the PENDING ones' ids.
 */
async function held(
  heldFor: string[],
  count: number,
  { fromSecondsAgo, everyMs, jobs = false, failedEvery = 0 }: { fromSecondsAgo: number; everyMs: number; jobs?: boolean; failedEvery?: number },
): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string; status: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, held_for, held_since)
     SELECT 'heldco', 'evt_batch_' || array_to_string($1::text[], '+') || '_' || n, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea,
            'application/json', CASE WHEN $5::int > 0 AND n % $5::int = 0 THEN 'FAILED' ELSE 'PENDING' END, $1::text[],
            now() - make_interval(secs => $3::int) + n * make_interval(secs => $4::float8 / 1000)
       FROM generate_series(1, $2) n
     RETURNING id, status`,
    [heldFor, count, fromSecondsAgo, everyMs, failedEvery],
  );
  const ids = rows.filter((row) => row.status === 'PENDING').map((row) => row.id);
  if (jobs) {
    for (let i = 0; i < ids.length; i += 1000) {
      await queue.queue.addBulk(ids.slice(i, i + 1000).map((id) => ({ name: EVENT_JOB_NAME, data: { eventId: id }, opts: { jobId: eventJobId(id), delay: 600_000 } })));
    }
  }
  return ids;
}

async function delayedCount(ids: string[]): Promise<number> {
  let count = 0;
  for (let i = 0; i < ids.length; i += 1000) {
    const scores = await Promise.all(ids.slice(i, i + 1000).map((id) => connection.zscore(`${ns.prefix}:webhook-events:delayed`, eventJobId(id))));
    count += scores.filter((score) => score !== null).length;
  }
  return count;
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

/** A pool that runs each statement under EXPLAIN (ANALYZE) first, recording the rows it read. */
function measuringPool() {
  const statements: { text: string; rowsRead: number; rows: number }[] = [];
  return {
    statements,
    async query(text: string, values: unknown[]) {
      const { rows: plan } = await db.pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, values);
      const result = await db.pool.query(text, values);
      statements.push({ text, rowsRead: rowsRead(plan[0]!['QUERY PLAN'][0].Plan), rows: result.rows.length });
      return result;
    },
  };
}

describe("a promotion pass's batches past the first read", () => {
  it('each reads about its own rows, not the held events ahead of it, and the pass promotes each PENDING event once', async () => {
    // 'minor' holds a tenth of the held events, interleaved with 'major' (alone, and together with 'other') in held_since.
    const minor = await held(['minor'], 3_000, { fromSecondsAgo: 7200, everyMs: 1000, jobs: true, failedEvery: 50 });
    const both = await held(['major', 'minor'], 300, { fromSecondsAgo: 7200, everyMs: 10_000, jobs: true });
    await held(['major'], 24_000, { fromSecondsAgo: 7200, everyMs: 125 });
    await held(['major', 'other'], 3_000, { fromSecondsAgo: 7200, everyMs: 1000 });
    await db.pool.query('VACUUM ANALYZE webhook_events');

    const pool = measuringPool();
    const batchSize = 250;
    expect(await promoteHeldJobs(pool as never, queue.queue, 'minor', { firstBatchSize: 500, batchSize })).toBe(minor.length + both.length);
    expect(await delayedCount([...minor, ...both])).toBe(0);

    // The first read goes through every held event once (it orders by each event's own wait): not a batch.
    const batches = pool.statements.slice(1).filter((statement) => /ORDER BY .*held_since, .*id\s+LIMIT/s.test(statement.text));
    expect(batches.length).toBeGreaterThanOrEqual(Math.floor((minor.length + both.length) / batchSize));
    const worst = Math.max(...batches.map((batch) => batch.rowsRead));
    // Fails without the fix: "Expected: <= 750, Received: 9270" (batches read the held events ahead of them); now 256.
    expect(worst).toBeLessThanOrEqual(3 * batchSize);
  });

  it('with more held_for values holding the destination than a batch merges, the batches read as before and promote each event once', async () => {
    const many: string[] = [];
    for (let i = 0; i <= HELD_BATCH_MERGED_WAITS; i++) many.push(...(await held(['spread', `with-${i}`], 3, { fromSecondsAgo: 600, everyMs: 1000, jobs: true })));
    expect(await promoteHeldJobs(db.pool, queue.queue, 'spread', { firstBatchSize: 10, batchSize: 7 })).toBe(many.length);
    expect(await delayedCount(many)).toBe(0);
  });
});
