import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Logger } from '../../services/shared/logging/logger.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { reconcilerRequeued } from '../../services/shared/metrics/metrics.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { Reconciler } from '../../services/worker/maintenance/reconciler.js';
import { createEventQueueBed, type EventQueueBed } from '../support/event-queue-bed.js';
import { closePool } from '../support/test-database.js';

// A reconciler pass enqueues its batches one after another, each counted in webhook_reconciler_requeued_total as it is
// enqueued; its line "reconciler enqueued stranded events" was written only when the whole pass ended well. A pass that
// failed on a later batch (Redis gone mid-pass, a statement cut off) had enqueued its earlier batches for good, yet the
// log said only "reconciler pass failed": the operator reading the logs saw nothing of the events it did enqueue (as
// retention's line once said nothing of the batches it deleted before a failure).

let bed: EventQueueBed | undefined;

beforeAll(async () => {
  bed = await createEventQueueBed(createLogger('reconciler-failed-pass-test'));
});

afterAll(async () => {
  await bed?.close();
});

const requeuedSoFar = async () => (await reconcilerRequeued.get()).values.reduce((sum, v) => sum + v.value, 0);

describe('a reconciler pass that fails after enqueuing some batches', () => {
  it('still says what it enqueued', async () => {
    const { db, ns } = bed!;
    // Four stranded events, oldest first: two batches of two.
    await db.pool.query(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, updated_at, received_at)
       SELECT 'stripe', 'evt_failed_pass_' || n, 'invoice.paid', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING',
              now() - make_interval(secs => 3600 - n), now() - make_interval(secs => 3600 - n)
         FROM generate_series(1, 4) AS n ORDER BY n`,
    );
    const lines: { message: string; fields: Record<string, unknown> }[] = [];
    const note = (message: string, fields: Record<string, unknown> = {}) => void lines.push({ message, fields });
    const logger = { info: note, warn: note, error: note, debug: () => undefined } as unknown as Logger;
    const connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
    const queue = new EventQueue({ connection, name: 'webhook-events', prefix: ns.prefix, attempts: 3, backoffMs: 1000, logger });
    // Redis goes away once the pass has read its second batch from PostgreSQL (hooked on the pool's clients, since the
    // pass reads on the client holding its advisory lock).
    const pool = new pg.Pool({ connectionString: db.url, max: 3 });
    let staleReads = 0;
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => Promise<pg.QueryResult>;
      (client as unknown as { query: unknown }).query = (...args: unknown[]) => {
        if (typeof args.at(-1) === 'function') return query(...args);
        return query(...args).then((result) => {
          if (typeof args[0] === 'string' && args[0].includes('UNION ALL') && ++staleReads === 2) connection.disconnect();
          return result;
        });
      };
    });
    const before = await requeuedSoFar();
    let outcome: unknown;
    try {
      const reconciler = new Reconciler({ pool, queue, intervalMs: 60_000, staleMs: 30_000, batchSize: 2, maxBatchesPerPass: 5, logger });
      outcome = await reconciler.runOnce().catch((error: unknown) => error);
    } finally {
      await closePool(pool);
      await queue.close().catch(() => undefined);
    }
    expect(outcome).toBeInstanceOf(Error); // the second batch's job check: Redis gone
    expect((await requeuedSoFar()) - before).toBe(2); // the first batch was enqueued, and counted
    // Fails: no line says so (only the caller's "reconciler pass failed" would).
    expect(lines.filter((line) => line.message === 'reconciler enqueued stranded events').map((line) => line.fields.requeued)).toEqual([2]);
  });
});
