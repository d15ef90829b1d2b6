import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import winston from 'winston';
import { EventAdminService } from '../../services/admin/event-admin-service.js';
import type { Logger } from '../../services/shared/logging/logger.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { createAdminStoreBed, type AdminStoreBed } from '../support/event-queue-bed.js';

// A replay whose jobs Redis takes for some events and refuses for others: the warning said "up to <the whole round>"
// were not enqueued, though EventQueue.requeueMany says which were. The refusal is Redis's own, as in
// reconciler-partial-requeue: the admin's connection logs in as an ACL user that may read every key but not write the
// job key of one event (its id starts with 'f'; no other key the add writes does).

const silent = winston.createLogger({ silent: true });
let bed: AdminStoreBed | undefined;
const aclUser = `admin-partial-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  bed = await createAdminStoreBed(silent, 'admin-replay-partial-enqueue-test');
});

afterAll(async () => {
  await bed?.connection.acl('DELUSER', aclUser).catch(() => undefined);
  await bed?.close();
});

describe('a replay whose jobs Redis takes only in part', () => {
  it('says exactly how many events it left to the reconciler', async () => {
    const { db, ns, connection, dataSource } = bed!;
    const ids = ['10000000-0000-4000-8000-000000000001', '20000000-0000-4000-8000-000000000002', 'f0000000-0000-4000-8000-000000000003'];
    await db.pool.query(
      `INSERT INTO webhook_events (id, provider, external_id, event_type, payload, raw_body, content_type, status)
       SELECT id, 'stripe', 'evt_admin_partial_' || n, 'invoice.paid', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'DEAD_LETTER'
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
    try {
      const events = new EventAdminService(dataSource, queue, logger);
      expect((await events.replayIds(ids)).replayed).toBe(3);
    } finally {
      await queue.close().catch(() => undefined);
      restricted.disconnect();
    }
    expect(await bed!.queue.hasLiveJob(ids.map((eventId) => ({ eventId, replays: 1 })))).toEqual([true, true, false]);
    const warnings = lines.filter((line) => line.message === 'replay: events not enqueued; the reconciler will enqueue them');
    // Fails without the fix: 'up to 3'.
    expect(warnings.map((line) => line.fields.notEnqueued)).toEqual([1]);
    expect(String(warnings[0]!.fields.error)).toMatch(/NOPERM|can't access/);
  });
});
