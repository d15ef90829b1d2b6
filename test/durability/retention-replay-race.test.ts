/**
 * Retention deletes old COMPLETED events; an operator may replay an old COMPLETED event (one event, or
 * `{"status":"COMPLETED","confirm":true}`) at the same moment. The replay answers 202 and moves the event to PENDING
 * in a new round: that event must then be processed again, not deleted by a retention batch that chose it while it
 * was still COMPLETED.
 *
 * Real PostgreSQL and Redis. A retention batch takes time (1,000 events and their attempts); the test makes that
 * time deterministic by holding a share lock on another event of the same batch (as a slow disk or a long cascade
 * would), so the replay lands after the batch took its snapshot and before it reached the replayed row.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import winston from 'winston';
import { EventAdminService } from '../../services/admin/event-admin-service.js';
import { eventJobId } from '../../services/shared/queue/event-job.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { Retention } from '../../services/worker/maintenance/retention.js';
import { createAdminStoreBed, type AdminStoreBed } from '../support/event-queue-bed.js';
import type { TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';

jest.setTimeout(60_000);
const silent = winston.createLogger({ silent: true });

let bed: AdminStoreBed | undefined;
let db: TestDatabase;
let dataSource: DataSource;
let queue: EventQueue;

beforeAll(async () => {
  bed = await createAdminStoreBed(silent, 'retention-replay-race');
  ({ db, dataSource, queue } = bed);
});

afterAll(async () => {
  await bed?.close();
});

async function oldCompleted(externalId: string): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, updated_at)
     VALUES ('stripe', $1, 'invoice.paid', '{}', '\\x7b7d', 'application/json', 'COMPLETED', now() - interval '40 days') RETURNING id`,
    [externalId],
  );
  return rows[0]!.id;
}

describe('retention and a replay of the same old COMPLETED event', () => {
  it('never deletes an event the replay already moved to PENDING (answered 202, so it must be processed again)', async () => {
    // Twenty old events; every other one is held up (a share lock, as a slow disk or a long cascade would). The batch
    // visits its events in an order of the plan's choosing and waits at the first held one it reaches: the events it
    // has not reached yet are the ones still unlocked (it locks each as it deletes it), and one of those is replayed.
    // (Not a plan-order guess: a change to the statement's plan, or to how it hashes its batch, would make a guess
    // replay an event the batch already deleted.) All 10 unheld ones come before every held one 1 time in 184,756.
    const ids: string[] = [];
    for (let n = 0; n < 20; n++) ids.push(await oldCompleted(`evt_old_${n}`));
    const held = ids.filter((_, n) => n % 2 === 0);

    const blocker = new pg.Client({ connectionString: db.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT id FROM webhook_events WHERE id = ANY($1::uuid[]) FOR SHARE', [held]);

    const retention = new Retention({ pool: db.pool, completedDays: 30, intervalMs: 3_600_000, logger: silent });
    const pass = retention.runOnce();
    await waitFor(
      'the retention DELETE to wait on a held event',
      async () =>
        (
          await db.pool.query(
            `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' AND query LIKE '%DELETE FROM webhook_events%'`,
            [db.name],
          )
        ).rowCount === 1,
      { timeoutMs: 10_000, intervalMs: 20 },
    );
    // The events neither held nor reached yet by the batch (looked at under a lock that is given back at once).
    const probe = await db.pool.connect();
    let notReached: string[];
    try {
      await probe.query('BEGIN');
      const { rows } = await probe.query<{ id: string }>('SELECT id FROM webhook_events WHERE id = ANY($1::uuid[]) FOR UPDATE SKIP LOCKED', [ids]);
      notReached = rows.map((row) => row.id);
    } finally {
      await probe.query('ROLLBACK');
      probe.release();
    }
    expect(notReached.length).toBeGreaterThan(0);
    const replayed = notReached[0]!;

    // The operator replays one of them meanwhile: answered, PENDING, its new round's job queued.
    const admin = new EventAdminService(dataSource, queue, silent);
    const replay = admin.replay(replayed);
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('replay blocked: the retention batch holds the replayed event')), 5000).unref());
    expect(await Promise.race([replay, timeout])).toBe('replayed');
    const after = await db.pool.query<{ status: string; replays: number }>('SELECT status, replays FROM webhook_events WHERE id = $1', [replayed]);
    expect(after.rows).toEqual([{ status: 'PENDING', replays: 1 }]);
    expect(await queue.queue.getJob(eventJobId(replayed, 1))).toBeDefined();

    await blocker.query('COMMIT');
    await blocker.end();
    await pass;

    // The replayed event is PENDING (a job waits for it): retention, which deletes COMPLETED events only, must leave it.
    const { rows } = await db.pool.query<{ status: string }>('SELECT status FROM webhook_events WHERE id = $1', [replayed]);
    expect(rows).toEqual([{ status: 'PENDING' }]);
  });
});
