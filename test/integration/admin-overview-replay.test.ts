import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';
import winston from 'winston';
import { EventAdminService } from '../../services/admin/event-admin-service.js';
import { Overview } from '../../services/admin/overview.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { createAdminStoreBed, type AdminStoreBed } from '../support/event-queue-bed.js';
import type { TestDatabase } from '../support/test-database.js';

/**
 * The overview keeps minutes older than the last two once read ("final"). A replay changes such minutes: the events
 * it takes out of COMPLETED or DEAD_LETTER no longer count where they finished. The overview in the process that
 * replayed shows it at once; one in another process (another ingress pod), within its answer cache.
 */

const silent = winston.createLogger({ silent: true });
const MINUTE = 60_000;

let bed: AdminStoreBed | undefined;
let db: TestDatabase;
let dataSource: DataSource;
let queue: EventQueue;

beforeAll(async () => {
  bed = await createAdminStoreBed(silent, 'overview-replay-test');
  ({ db, dataSource, queue } = bed);
});

afterAll(async () => {
  await bed?.close();
});

beforeEach(async () => {
  await db.pool.query('DELETE FROM webhook_events');
});

/** An event received `minutesAgo` + 1 minutes ago that reached `status` `minutesAgo` minutes ago. */
async function finishedEvent(status: 'COMPLETED' | 'DEAD_LETTER', minutesAgo: number): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, received_at, updated_at)
     VALUES ('stripe', $1, 'invoice.paid', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', $2,
             now() - make_interval(mins => $3 + 1), now() - make_interval(mins => $3))
     RETURNING id`,
    [`evt_overview_${Date.now()}_${Math.random()}`, status, minutesAgo],
  );
  return rows[0]!.id;
}

/** What the worker does with a replayed event: it completes, now. */
const completeNow = (id: string) => db.pool.query(`UPDATE webhook_events SET status = 'COMPLETED', updated_at = now() WHERE id = $1`, [id]);

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
/** The window's totals, and the minute (ms) each finish falls in. */
async function totals(overview: Overview) {
  const view = await overview.view(1);
  const from = Date.parse(view.from);
  const minutesOf = (series: number[]) => series.flatMap((n, index) => (n > 0 ? [from + index * MINUTE] : []));
  return { completed: sum(view.completed), deadLettered: sum(view.deadLettered), completedIn: minutesOf(view.completed) };
}

describe('the overview after a replay', () => {
  it('a dead letter replayed (and completed since) no longer counts as dead-lettered in its old minute: in the process that replayed, at once', async () => {
    const id = await finishedEvent('DEAD_LETTER', 10);
    const overview = new Overview({ dataSource, queue, logger: silent, cacheMs: 60_000 });
    const events = new EventAdminService(dataSource, queue, silent, { onReplayed: () => overview.forgetAnswers() });
    expect(await totals(overview)).toMatchObject({ completed: 0, deadLettered: 1 });

    expect(await events.replay(id)).toBe('replayed');
    await completeNow(id);
    const after = await totals(overview);
    expect(after).toMatchObject({ completed: 1, deadLettered: 0 });
    expect(after.completedIn).toEqual([Math.floor(Date.now() / MINUTE) * MINUTE]);
  });

  it('a COMPLETED event replayed (bulk, by status) counts once, in the minute it completed again: in another process too', async () => {
    const ids = [await finishedEvent('COMPLETED', 20), await finishedEvent('COMPLETED', 30)];
    // Another ingress pod's overview: no hook into this process's replays.
    const elsewhere = new Overview({ dataSource, queue, logger: silent, cacheMs: 0 });
    const events = new EventAdminService(dataSource, queue, silent);
    const before = await totals(elsewhere);
    expect(before.completed).toBe(2);

    expect(await events.replayAll('COMPLETED')).toBe(2);
    for (const id of ids) await completeNow(id);
    const after = await totals(elsewhere);
    expect(after.completed).toBe(2);
    expect(after.completedIn).toEqual([Math.floor(Date.now() / MINUTE) * MINUTE]);
  });

  it('a replay by id seen by another process: the old minute drops, what was not replayed stays', async () => {
    const replayed = await finishedEvent('DEAD_LETTER', 40);
    const kept = await finishedEvent('DEAD_LETTER', 40);
    const elsewhere = new Overview({ dataSource, queue, logger: silent, cacheMs: 0 });
    expect(await totals(elsewhere)).toMatchObject({ deadLettered: 2 });
    expect(await new EventAdminService(dataSource, queue, silent).replayIds([replayed])).toMatchObject({ replayed: 1 });
    expect(await totals(elsewhere)).toMatchObject({ completed: 0, deadLettered: 1 });
    expect((await db.pool.query('SELECT status FROM webhook_events WHERE id = $1', [kept])).rows[0].status).toBe('DEAD_LETTER');
  });

  it('each replay that moved events is recorded once; records older than the window are deleted by the next', async () => {
    await db.pool.query('DELETE FROM overview_invalidations');
    await db.pool.query(`INSERT INTO overview_invalidations (at, stale_from) VALUES (now() - interval '26 hours', now() - interval '27 hours')`);
    const events = new EventAdminService(dataSource, queue, silent);
    expect(await events.replayAll('DEAD_LETTER')).toBe(0); // nothing to replay: nothing recorded
    const id = await finishedEvent('DEAD_LETTER', 50);
    expect(await events.replay(id)).toBe('replayed');
    const { rows } = await db.pool.query<{ stale_from: Date }>('SELECT stale_from FROM overview_invalidations');
    expect(rows).toHaveLength(1);
    expect(Math.abs(rows[0]!.stale_from.getTime() - (Date.now() - 50 * MINUTE))).toBeLessThan(MINUTE);
  });
});
