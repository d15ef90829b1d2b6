import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import winston from 'winston';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { Reconciler } from '../../services/worker/maintenance/reconciler.js';
import { ReconcilerTurns } from '../../services/worker/maintenance/reconciler-turns.js';
import { closePool, createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

// Every worker runs the reconciler's timer; the advisory lock only keeps passes from overlapping. With N workers (KEDA
// scales them out during a backlog, when every waiting event is stale and has a live job), N passes an interval each
// read up to 10,000 stale events and looked their jobs up, every worker from a cursor of its own. The turns shared in
// Redis make it one pass an interval across the workers, each going on from where the last stopped.

const logger = winston.createLogger({ silent: true });
let db: TestDatabase;
let ns: TestQueueNamespace;
let connection: Redis;
let queue: EventQueue;
let poolA: pg.Pool;
let poolB: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
  queue = new EventQueue({ connection, name: 'webhook-events', prefix: ns.prefix, attempts: 3, backoffMs: 1000, logger });
  poolA = new pg.Pool({ connectionString: db.url, max: 2 });
  poolB = new pg.Pool({ connectionString: db.url, max: 2 });
});

afterAll(async () => {
  await queue?.close();
  connection?.disconnect();
  if (poolA) await closePool(poolA);
  if (poolB) await closePool(poolB);
  await ns?.cleanup();
  await db?.drop();
});

/** Stale PENDING events with no job, oldest first (a second apart, so their order is their age). */
async function strandedEvents(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 0; n < count; n++) {
    const { rows } = await db.pool.query(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, updated_at, received_at)
       VALUES ('stripe', $1, 'invoice.paid', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING', now() - make_interval(secs => $2), now() - make_interval(secs => $2))
       RETURNING id`,
      [`evt_turns_${Date.now()}_${n}_${Math.random().toString(36).slice(2)}`, 600 - n],
    );
    ids.push(rows[0].id);
  }
  return ids;
}

const queued = async (ids: string[]) => Promise.all(ids.map(async (id) => (await queue.queue.getJobState(id)) !== 'unknown'));

describe('reconciler turns shared by the workers', () => {
  const turnsKey = () => `${ns.prefix}:webhook-events`;
  const reconciler = (pool: pg.Pool, options: Partial<ConstructorParameters<typeof Reconciler>[0]> = {}) =>
    new Reconciler({ pool, queue, intervalMs: 60_000, staleMs: 30_000, logger, turns: new ReconcilerTurns(connection, turnsKey()), ...options });

  it("one timer pass an interval across the workers: another worker's tick within the interval passes nothing", async () => {
    await db.pool.query('DELETE FROM webhook_events');
    await connection.del(`${turnsKey()}:reconciler:turn`, `${turnsKey()}:reconciler:cursor`);
    const first = await strandedEvents(2);
    expect(await reconciler(poolA).runIfTurn()).toBe(2);
    const later = await strandedEvents(2);
    // Worker B's tick, within A's interval: no pass (before: a pass of its own, which enqueued the two new ones).
    expect(await reconciler(poolB).runIfTurn()).toBeUndefined();
    expect(await queued(later)).toEqual([false, false]);
    expect(await queued(first)).toEqual([true, true]);
    // Once the interval is over, the next tick (on any worker) passes.
    await connection.del(`${turnsKey()}:reconciler:turn`);
    expect(await reconciler(poolB).runIfTurn()).toBe(2);
    expect(await queued(later)).toEqual([true, true]);
  });

  it('a pass goes on from where the last one stopped, on whichever worker that ran', async () => {
    await db.pool.query('DELETE FROM webhook_events');
    await connection.del(`${turnsKey()}:reconciler:turn`, `${turnsKey()}:reconciler:cursor`);
    const ids = await strandedEvents(6);
    const small = { batchSize: 2, maxBatchesPerPass: 1 };
    expect(await reconciler(poolA, small).runOnce()).toBe(2);
    expect(await queued(ids)).toEqual([true, true, false, false, false, false]);
    // B's first pass starts where A's stopped (before: at the oldest, whose two events have live jobs: 0 enqueued).
    expect(await reconciler(poolB, small).runOnce()).toBe(2);
    expect(await queued(ids)).toEqual([true, true, true, true, false, false]);
    expect(await reconciler(poolA, small).runOnce()).toBe(2);
    expect(await queued(ids)).toEqual([true, true, true, true, true, true]);
  });

  it('a cursor Redis holds that is not one (or none at all) starts the walk at the oldest', async () => {
    await db.pool.query('DELETE FROM webhook_events');
    const ids = await strandedEvents(2);
    for (const kept of ['not json', JSON.stringify({ updatedAt: "'; DROP TABLE x", id: '00000000-0000-0000-0000-000000000000' }), JSON.stringify({ updatedAt: '-infinity', id: 'x' })]) {
      await connection.set(`${turnsKey()}:reconciler:cursor`, kept);
      await queue.queue.obliterate({ force: true });
      expect(await reconciler(poolA).runOnce()).toBe(2);
      expect(await queued(ids)).toEqual([true, true]);
    }
  });
});
