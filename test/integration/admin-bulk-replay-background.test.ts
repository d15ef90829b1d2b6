import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { DataSource } from 'typeorm';
import winston from 'winston';
import { EventAdminService } from '../../services/admin/event-admin-service.js';
import type { Logger } from '../../services/shared/logging/logger.js';
import { eventJobId, type EventJobData } from '../../services/shared/queue/event-job.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { Reconciler } from '../../services/worker/maintenance/reconciler.js';
import { createAdminStoreBed, type AdminStoreBed } from '../support/event-queue-bed.js';
import type { TestDatabase } from '../support/test-database.js';

/**
 * A status-wide replay (POST /admin/events/replay {"status"}) answers once PostgreSQL has committed its events as
 * PENDING; their jobs are added after the answer, 500 a round. A hundred thousand events' jobs took about 40 s to add,
 * past a proxy's timeout, with the request open all along. If the process stops first, the events are PENDING in
 * PostgreSQL and the reconciler enqueues them.
 *
 * The queue here is the real one behind a gate: its adds wait until the test opens it, so "answered before the jobs
 * were added" is an order of events, not a matter of timing.
 */

jest.setTimeout(60_000);
const silent = winston.createLogger({ silent: true });

let bed: AdminStoreBed | undefined;
let db: TestDatabase;
let dataSource: DataSource;
let queue: EventQueue;

/** The real queue, each requeueMany held until `open()`. */
class GatedQueue {
  readonly rounds: number[] = [];
  private opened!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.opened = resolve));
  constructor(private readonly real: EventQueue) {}
  open(): void {
    this.opened();
  }
  async requeueMany(jobs: EventJobData[]): Promise<boolean[]> {
    this.rounds.push(jobs.length);
    await this.gate;
    return this.real.requeueMany(jobs);
  }
  async requeue(job: EventJobData): Promise<boolean> {
    return (await this.requeueMany([job]))[0]!;
  }
}

/** Fails if `promise` has not settled within `ms`: what the old replay did while its jobs could not be added. */
const answeredWithin = <T>(promise: Promise<T>, ms: number, what: string) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms).unref())]);

const deadLetters = (provider: string, n: number) =>
  db.pool.query(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     SELECT $1, 'evt_bulk_' || $1 || '_' || g, 'invoice.paid', '{}', '\\x7b7d', 'application/json', 'DEAD_LETTER' FROM generate_series(1, $2::int) g`,
    [provider, n],
  );
const pendingOf = async (provider: string) =>
  (await db.pool.query(`SELECT count(*)::int AS n FROM webhook_events WHERE provider = $1 AND status = 'PENDING'`, [provider])).rows[0].n as number;
/** How many of `provider`'s events have a job of their current round in Redis. */
async function jobsOf(provider: string): Promise<number> {
  const { rows } = await db.pool.query<{ id: string; replays: number }>(`SELECT id, replays FROM webhook_events WHERE provider = $1`, [provider]);
  const exists = await Promise.all(rows.map(async (row) => (await queue.queue.getJob(eventJobId(row.id, row.replays))) !== undefined));
  return exists.filter(Boolean).length;
}

beforeAll(async () => {
  bed = await createAdminStoreBed(silent, 'bulk-replay-test');
  ({ db, dataSource, queue } = bed);
});

afterAll(async () => {
  await bed?.close();
});

describe('a status-wide replay', () => {
  it('answers once PostgreSQL committed its events as PENDING, and adds their jobs after, 500 a round', async () => {
    await deadLetters('stripe', 1200);
    const gated = new GatedQueue(queue);
    const events = new EventAdminService(dataSource, gated as unknown as EventQueue, silent);

    expect(await answeredWithin(events.replayAll('DEAD_LETTER', 'stripe'), 10_000, 'the replay')).toBe(1200);
    // Committed (another connection sees it), and no job added yet: the first round waits at the gate.
    expect(await pendingOf('stripe')).toBe(1200);
    expect(gated.rounds).toEqual([500]);
    expect(await jobsOf('stripe')).toBe(0);

    gated.open();
    await events.settled();
    expect(gated.rounds).toEqual([500, 500, 200]);
    expect(await jobsOf('stripe')).toBe(1200);
  });

  it('two identical replays at once, in batches of 5,000: each event is replayed once, by one of them', async () => {
    await deadLetters('acme', 12_000);
    const first = new EventAdminService(dataSource, queue, silent);
    const second = new EventAdminService(dataSource, queue, silent);
    const answers = await Promise.all([first.replayAll('DEAD_LETTER', 'acme'), second.replayAll('DEAD_LETTER', 'acme')]);
    await Promise.all([first.settled(), second.settled()]);
    expect(answers[0] + answers[1]).toBe(12_000);
    const { rows } = await db.pool.query(`SELECT status, replays, count(*)::int AS n FROM webhook_events WHERE provider = 'acme' GROUP BY 1, 2`);
    expect(rows).toEqual([{ status: 'PENDING', replays: 1, n: 12_000 }]);
    expect(await jobsOf('acme')).toBe(12_000);
    // Out of the way of the next test's reconciler pass (stale at once there, it would walk these first).
    await db.pool.query(`DELETE FROM webhook_events WHERE provider = 'acme'`);
  });

  it('stops adding jobs on close after the round in flight; the reconciler enqueues the rest', async () => {
    await deadLetters('github', 1200);
    const gated = new GatedQueue(queue);
    const lines: { message: string; meta: Record<string, unknown> }[] = [];
    const logger = { warn: (message: string, meta: Record<string, unknown>) => lines.push({ message, meta }), info: () => undefined } as unknown as Logger;
    const events = new EventAdminService(dataSource, gated as unknown as EventQueue, logger);

    expect(await answeredWithin(events.replayAll('DEAD_LETTER', 'github'), 10_000, 'the replay')).toBe(1200);
    const closed = events.close();
    gated.open();
    await closed;
    expect(gated.rounds).toEqual([500]);
    expect(await jobsOf('github')).toBe(500);
    expect(await pendingOf('github')).toBe(1200);
    expect(lines).toEqual([{ message: 'replay: events not enqueued; the reconciler will enqueue them', meta: expect.objectContaining({ events: 1200, leftAtShutdown: 700 }) }]);

    // What a worker's reconciler does with them (stale at once here; RECONCILER_STALE_MS in the service).
    const reconciler = new Reconciler({ pool: db.pool, queue, intervalMs: 60_000, staleMs: 0, logger: silent });
    expect(await reconciler.runOnce()).toBe(700);
    expect(await jobsOf('github')).toBe(1200);
  });
});
