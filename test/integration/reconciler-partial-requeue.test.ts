import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../../services/shared/logging/logger.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { reconcilerRequeued } from '../../services/shared/metrics/metrics.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { Reconciler } from '../../services/worker/maintenance/reconciler.js';
import { createEventQueueBed, type EventQueueBed } from '../support/event-queue-bed.js';

// A reconciler batch whose adds Redis takes for some events and refuses for one: EventQueue.requeueMany rejected at
// the first refused add, so the reconciler counted none of the batch in webhook_reconciler_requeued_total (nor logged
// it), though the other events' jobs were in the queue. The refusal is Redis's own: the reconciler's connection logs
// in as an ACL user that may read every key but not write the job key of one event (its id starts with 'f'; no other
// key of the queue does).

let bed: EventQueueBed | undefined;
const aclUser = `reconciler-partial-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  bed = await createEventQueueBed(createLogger('reconciler-partial-requeue-test'));
});

afterAll(async () => {
  await bed?.connection.acl('DELUSER', aclUser).catch(() => undefined);
  await bed?.close();
});

const requeuedSoFar = async () => (await reconcilerRequeued.get()).values.reduce((sum, v) => sum + v.value, 0);

describe('a reconciler batch whose jobs Redis takes only in part', () => {
  it('counts and logs the jobs it added, still fails the pass, and the next pass adds the rest', async () => {
    const { db, ns, connection } = bed!;
    const ids = ['10000000-0000-4000-8000-000000000001', '20000000-0000-4000-8000-000000000002', 'f0000000-0000-4000-8000-000000000003'];
    await db.pool.query(
      `INSERT INTO webhook_events (id, provider, external_id, event_type, payload, raw_body, content_type, status, updated_at, received_at)
       SELECT id, 'stripe', 'evt_partial_' || n, 'invoice.paid', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING',
              now() - interval '1 hour', now() - interval '1 hour'
         FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)`,
      [ids],
    );
    const base = `${ns.prefix}:webhook-events:`;
    await connection.acl('SETUSER', aclUser, 'on', 'nopass', '+@all', '&*', '%R~*', `~${base}`, `~${base}[^f]*`);
    const lines: { message: string; fields: Record<string, unknown> }[] = [];
    const note = (message: string, fields: Record<string, unknown> = {}) => void lines.push({ message, fields });
    const logger = { info: note, warn: note, error: note, debug: () => undefined } as unknown as Logger;
    const restricted = new Redis(ns.redisUrl.replace('redis://', `redis://${aclUser}@`), { maxRetriesPerRequest: 1 });
    const queue = new EventQueue({ connection: restricted, name: 'webhook-events', prefix: ns.prefix, attempts: 3, backoffMs: 1000, logger });
    const before = await requeuedSoFar();
    let outcome: unknown;
    try {
      const reconciler = new Reconciler({ pool: db.pool, queue, intervalMs: 60_000, staleMs: 30_000, batchSize: 10, logger });
      outcome = await reconciler.runOnce().catch((error: unknown) => error);
    } finally {
      await queue.close().catch(() => undefined);
      restricted.disconnect();
    }
    const jobs = await bed!.queue.hasLiveJob(ids.map((eventId) => ({ eventId })));
    expect(jobs).toEqual([true, true, false]);
    // The refusal is not swallowed: the pass fails, and the caller logs it.
    expect(outcome).toBeInstanceOf(Error);
    expect(String((outcome as Error).message)).toMatch(/can't access|NOPERM/);
    // Fails without the fix: 0 (the batch's two added jobs were counted nowhere).
    expect((await requeuedSoFar()) - before).toBe(2);
    expect(lines.filter((line) => line.message === 'reconciler enqueued stranded events').map((line) => line.fields.requeued)).toEqual([2]);

    // Redis takes every add again: the next pass adds only the one left (the others have live jobs).
    const reconciler = new Reconciler({ pool: db.pool, queue: bed!.queue, intervalMs: 60_000, staleMs: 30_000, batchSize: 10, logger });
    expect(await reconciler.runOnce()).toBe(1);
    expect(await bed!.queue.hasLiveJob(ids.map((eventId) => ({ eventId })))).toEqual([true, true, true]);
    expect((await requeuedSoFar()) - before).toBe(3);
  });
});
