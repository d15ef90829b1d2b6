import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPool } from '../../services/shared/database/create-pool.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { Reconciler } from '../../services/worker/maintenance/reconciler.js';
import { Retention } from '../../services/worker/maintenance/retention.js';
import { createEventQueueBed, type EventQueueBed } from '../support/event-queue-bed.js';
import { closePool, type TestDatabase } from '../support/test-database.js';

// Every maintenance pass holds one pooled client for its advisory lock for the whole pass and ran its batches on
// *other* clients of the same pool (withAdvisoryLock + pool.query). With a pool of 1 the batches could never get a
// connection: every pass failed after connectionTimeoutMillis ("timeout exceeded when trying to connect") and stranded
// events were never enqueued again, old events never deleted. A pass now runs on its lock's client alone, even in a
// pool of 1. (The configuration refuses DATABASE_POOL_SIZE under 3 for the roles that run the worker, since: the
// worker's claims, heartbeats and finishes need connections while the passes hold theirs.)

let bed: EventQueueBed | undefined;
let db: TestDatabase;
let queue: EventQueue;
const logger = createLogger('maintenance-pool-size-test');

beforeAll(async () => {
  bed = await createEventQueueBed(logger);
  ({ db, queue } = bed);
});

afterAll(async () => {
  await bed?.close();
});

async function insertEvent(status: string, ageSeconds: number): Promise<string> {
  const { rows } = await db.pool.query(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, updated_at, received_at)
     VALUES ('stripe', $1, 'invoice.paid', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', $2, now() - make_interval(secs => $3), now() - make_interval(secs => $3))
     RETURNING id`,
    [`evt_pool_${Math.random().toString(36).slice(2)}`, status, ageSeconds],
  );
  return rows[0].id;
}

describe('maintenance passes in a pool of one connection', () => {
  it('the reconciler enqueues a stranded event again with a pool of 1', async () => {
    const id = await insertEvent('PENDING', 3600);
    const pool = createPool({ url: db.url, size: 1, applicationName: 'pool-size-test' });
    try {
      const reconciler = new Reconciler({ pool, queue, intervalMs: 60_000, staleMs: 1000, logger });
      // Fails: rejects with "timeout exceeded when trying to connect" after 3 s.
      await expect(reconciler.runOnce()).resolves.toBe(1);
      expect(await queue.queue.getJobState(id)).toBe('waiting');
    } finally {
      await closePool(pool);
    }
  }, 20_000);

  it('retention deletes an old COMPLETED event with a pool of 1', async () => {
    const id = await insertEvent('COMPLETED', 40 * 24 * 3600);
    const pool = createPool({ url: db.url, size: 1, applicationName: 'pool-size-test' });
    try {
      const retention = new Retention({ pool, completedDays: 30, intervalMs: 60_000, logger });
      await expect(retention.runOnce()).resolves.toBe(1);
      const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM webhook_events WHERE id = $1', [id]);
      expect(rows[0].n).toBe(0);
    } finally {
      await closePool(pool);
    }
  }, 20_000);
});
