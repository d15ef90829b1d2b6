import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createLogger } from '../../services/shared/logging/logger.js';
import { reconcilerRequeued } from '../../services/shared/metrics/metrics.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { Reconciler } from '../../services/worker/maintenance/reconciler.js';
import { createEventQueueBed, type EventQueueBed } from '../support/event-queue-bed.js';
import { closePool, type TestDatabase } from '../support/test-database.js';

// The reconciler reads the stale events from PostgreSQL first and asks Redis about their jobs afterwards. A job is
// removed from Redis (removeOnComplete) only after its event's end is written to PostgreSQL, so an event whose job
// finishes between the two reads looks stranded: its row (read before) is stale, its job (read after) is gone. The
// reconciler then adds a job for an event that is COMPLETED and counts it in webhook_reconciler_requeued_total and in
// "reconciler enqueued stranded events", the recovery signal operators read as "enqueues were lost".
// Seen with the real worker (dist/services/main.js, SERVICE_ROLE=worker) draining a backlog of 20,000 stale PENDING
// events whose jobs were all queued (nothing stranded): webhook_reconciler_requeued_total{status="PENDING"} 88.

let bed: EventQueueBed | undefined;
let db: TestDatabase;
let queue: EventQueue;
const logger = createLogger('reconciler-race-test');

beforeAll(async () => {
  bed = await createEventQueueBed(logger);
  ({ db, queue } = bed);
});

afterAll(async () => {
  await bed?.close();
});

const requeuedSoFar = async () => (await reconcilerRequeued.get()).values.reduce((sum, v) => sum + v.value, 0);

describe('Reconciler and a job that finishes while the pass looks at its event', () => {
  it('does not enqueue (nor count as stranded) an event whose job completed between the stale read and the job check', async () => {
    const { rows } = await db.pool.query(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, updated_at, received_at)
       VALUES ('stripe', 'evt_race_1', 'invoice.paid', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING',
               now() - interval '1 minute', now() - interval '1 minute')
       RETURNING id`,
    );
    const id: string = rows[0].id;
    // A backlog: the event waited longer than RECONCILER_STALE_MS for a worker, its job is queued (live).
    await queue.requeueMany([{ eventId: id, replays: 0 }]);
    expect(await queue.queue.getJobState(id)).toBe('waiting');

    // The pass's pool: right after the stale read returns, a worker finishes the event as a worker does: its end in
    // PostgreSQL first, then BullMQ removes the completed job. Hooked on each of the pool's clients, since the pass
    // reads on the client holding its advisory lock (pool.query and pg-pool's callback calls pass through untouched).
    const pool = new pg.Pool({ connectionString: db.url, max: 3 });
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => Promise<pg.QueryResult>;
      (client as unknown as { query: unknown }).query = (...args: unknown[]) => {
        if (typeof args.at(-1) === 'function') return query(...args);
        return query(...args).then(async (result) => {
          if (typeof args[0] === 'string' && args[0].includes('UNION ALL') && result.rows.some((row) => row.id === id)) {
            await db.pool.query(`UPDATE webhook_events SET status = 'COMPLETED', updated_at = now() WHERE id = $1`, [id]);
            await queue.queue.remove(id);
          }
          return result;
        });
      };
    });
    const before = await requeuedSoFar();
    try {
      const reconciler = new Reconciler({ pool, queue, intervalMs: 60_000, staleMs: 30_000, logger });
      // Fails: 1 (the COMPLETED event is counted as stranded and a job is added for it).
      expect(await reconciler.runOnce()).toBe(0);
    } finally {
      await closePool(pool);
    }
    expect((await requeuedSoFar()) - before).toBe(0);
    expect(await queue.queue.getJobState(id)).toBe('unknown');
  });
});
