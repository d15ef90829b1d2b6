import type { Pool, PoolClient } from 'pg';
import { ADVISORY_LOCKS, withAdvisoryLock } from '../../shared/database/advisory-lock.js';
import { isConnectionError } from '../../shared/database/database-errors.js';
import type { Logger } from '../../shared/logging/logger.js';
import { RateLimitedLog } from '../../shared/logging/rate-limited-log.js';
import { reconcilerRequeued } from '../../shared/metrics/metrics.js';
import { RequeueError, type EventQueue } from '../../shared/queue/event-queue.js';
import { isRedisConnectionError } from '../../shared/queue/redis-connection-error.js';
import type { ReconcilerTurns, StaleCursor } from './reconciler-turns.js';
import { repeating, ScheduledPasses } from './scheduled-passes.js';

export interface ReconcilerOptions {
  pool: Pool;
  queue: EventQueue;
  intervalMs: number;
  /** An event untouched this long (a PROCESSING one: its claim's heartbeat too), with no live job, is enqueued again. */
  staleMs: number;
  /** Events read (and checked in Redis, in one round trip) at a time. */
  batchSize?: number;
  /** Batches a pass reads at most; the next pass goes on from where this one stopped. */
  maxBatchesPerPass?: number;
  logger: Logger;
  /**
   * Turns and the cursor shared by every worker (see {@link ReconcilerTurns}): the timer's pass then runs only when no
   * other worker's started within `intervalMs`, and goes on from where the last pass stopped. Without: each process
   * passes every interval from a cursor of its own.
   */
  turns?: ReconcilerTurns;
}

// The oldest stale events after the cursor, one branch per status so that each reads its status's rows in order from
// (status, updated_at, id) and stops at the batch: an IN list over the three statuses read every stale row and sorted
// them, on every pass, for as long as a backlog lasted. The status is a sub-select, not a literal: the planner then
// cannot prove the partial console indexes' `status <> 'COMPLETED'` from it, so it cannot pick them (and sort the
// whole backlog) when statistics gathered before the backlog say the status is rare; the index still uses the value.
// A PROCESSING event is stale only when its claim's heartbeat is too (`claim_heartbeat_at`: the worker running the
// claim refreshes it while the run lasts, claim-heartbeat.ts), i.e. when greatest(claim time, heartbeat) is older than
// the stale age: a live run whose job Redis lost (its data gone) while it waited minutes for a slow destination's slot
// was enqueued again, and that job's claim took it over. The heartbeat is a filter on the rows the index walk reads
// (at most the runs in progress), so the walk's order and cursor stay those of `updated_at`.
const STALE_BRANCH = (status: string) =>
  `(SELECT id, status, replays, traceparent, updated_at FROM webhook_events
     WHERE status = (SELECT '${status}'::text) AND updated_at < now() - make_interval(secs => $1::float8 / 1000)
       AND (updated_at, id) > ($3::timestamptz, $4::uuid)${
         status === 'PROCESSING' ? `
       AND (claim_heartbeat_at IS NULL OR claim_heartbeat_at < now() - make_interval(secs => $1::float8 / 1000))` : ''
       }
     ORDER BY updated_at, id LIMIT $2)`;
const STALE_EVENTS = `SELECT id, status, replays, traceparent, updated_at::text AS cursor_at
  FROM (${['PENDING', 'FAILED', 'PROCESSING'].map(STALE_BRANCH).join(' UNION ALL ')}) stale
 ORDER BY stale.updated_at, stale.id LIMIT $2`;
const START: StaleCursor = { updatedAt: '-infinity', id: '00000000-0000-0000-0000-000000000000' };
// The candidates as they are now, by primary key (at most a batch of ids): see Reconciler.stillAsRead.
const CURRENT_STATE = `SELECT id, status, updated_at::text AS cursor_at FROM webhook_events WHERE id = ANY($1::uuid[])`;

type StaleRow = { id: string; status: string; replays: number; traceparent: string | null; cursor_at: string };

/**
 * Finds events stranded without a job (the enqueue failed, Redis was down, a crash between commit and
 * enqueue, a job lost with its worker) and enqueues them again. Every worker runs the timer; the turns kept in Redis
 * ({@link ReconcilerTurns}) make it one pass an interval across the workers, and a PostgreSQL advisory lock lets one
 * pass run at a time.
 *
 * A pass walks the stale events oldest first, batch after batch, and the next pass goes on from where it stopped,
 * starting over at the oldest once it reaches the newest. Stale events with live jobs (a backlog waiting for workers,
 * events held for a destination) do not hide the stranded ones behind them, and a Redis outage's worth of stranded
 * events is enqueued again at up to `batchSize × maxBatchesPerPass` a pass, not one batch.
 */
export class Reconciler {
  private cursor: StaleCursor = START;
  /** Its `stopping`, set by stop(): a pass in progress ends after its current batch (a drain does not wait for 20). */
  private readonly passes: ScheduledPasses;
  /**
   * Passes that failed because Redis is away: every pass of an outage does (RECONCILER_INTERVAL_MS, 15 s by default),
   * and each wrote a line. Logged as one outage: the first at once, then one line a minute with the count.
   */
  private readonly redisAway: RateLimitedLog;
  /**
   * Passes that failed because PostgreSQL is unreachable (refused, reset, timed out: isConnectionError), which the
   * pass meets first: logged as one outage as well, apart from Redis's so that each outage has its own first line
   * and count. A statement PostgreSQL refuses for any other reason is a line each.
   */
  private readonly databaseAway: RateLimitedLog;

  constructor(private readonly options: ReconcilerOptions) {
    this.redisAway = new RateLimitedLog((fields) => options.logger.warn('reconciler pass failed', fields));
    this.databaseAway = new RateLimitedLog((fields) => options.logger.warn('reconciler pass failed', fields));
    this.passes = new ScheduledPasses({
      delaysMs: repeating(options.intervalMs, options.intervalMs),
      pass: () => this.runIfTurn(),
      onError: (error) => {
        if (isRedisConnectionError(error)) this.redisAway.note({ error });
        else if (isConnectionError(error)) this.databaseAway.note({ error });
        else options.logger.warn('reconciler pass failed', { error });
      },
    });
  }

  start(): void {
    this.passes.start();
  }

  async stop(): Promise<void> {
    await this.passes.stop();
    this.redisAway.flush();
    this.databaseAway.flush();
  }

  /** The timer's pass: only when it is this worker's turn (see {@link ReconcilerOptions.turns}); undefined when not. */
  async runIfTurn(): Promise<number | undefined> {
    const { turns, intervalMs } = this.options;
    if (turns && !(await turns.take(intervalMs))) return undefined;
    return this.runOnce();
  }

  /** One pass; returns how many events were enqueued (undefined when another process holds the lock). */
  async runOnce(): Promise<number | undefined> {
    const batchSize = this.options.batchSize ?? 500;
    const maxBatches = this.options.maxBatchesPerPass ?? 20;
    const { turns } = this.options;
    return withAdvisoryLock(this.options.pool, ADVISORY_LOCKS.reconciler, async (client) => {
      let requeued = 0;
      let examined = 0;
      // Read under the lock: the pass that held it last kept where it stopped.
      if (turns) this.cursor = (await turns.cursor()) ?? this.cursor;
      try {
        for (let batch = 0; batch < maxBatches && !this.passes.stopping; batch++) {
          const { rows } = await client.query<StaleRow>(STALE_EVENTS, [this.options.staleMs, batchSize, this.cursor.updatedAt, this.cursor.id]);
          examined += rows.length;
          // A live job of the event's current replay round (waiting, delayed for a retry, running) means nothing is
          // stranded; one of an earlier round will not claim it.
          const live = await this.options.queue.hasLiveJob(rows.map((row) => ({ eventId: row.id, replays: row.replays })));
          const unchanged = await this.stillAsRead(client, rows.filter((_, index) => !live[index]));
          // Redis refusing some of the batch's adds still took the others: those are counted (and logged below) before
          // the pass fails, and the next pass, from this batch again (the cursor is kept only past a batch done), adds
          // the rest and skips these (their jobs are live).
          let enqueued: boolean[];
          let refusal: RequeueError | undefined;
          try {
            enqueued = await this.options.queue.requeueMany(
              unchanged.map((row) => ({ eventId: row.id, replays: row.replays, traceparent: row.traceparent ?? undefined })),
            );
          } catch (error) {
            if (!(error instanceof RequeueError)) throw error;
            ({ added: enqueued } = refusal = error);
          }
          for (const [index, row] of unchanged.entries()) {
            if (!enqueued[index]) continue;
            requeued++;
            reconcilerRequeued.inc({ status: row.status });
          }
          if (refusal) throw refusal.cause;
          const last = rows.at(-1);
          const walkedToTheEnd = rows.length < batchSize || !last;
          this.cursor = walkedToTheEnd ? START : { updatedAt: last.cursor_at, id: last.id };
          await turns?.keep(this.cursor);
          if (walkedToTheEnd) break;
        }
      } finally {
        // Said whether the pass ends well or not (the caller logs the failure after this line): each batch's events are
        // enqueued, and counted, as the batch goes, so a pass that fails on a later batch has enqueued its earlier ones.
        if (requeued > 0) this.options.logger.info('reconciler enqueued stranded events', { requeued, examined });
      }
      return requeued;
    });
  }

  /**
   * The rows among `rows` (read from PostgreSQL before their jobs were looked up in Redis) that PostgreSQL still holds
   * as they were read. A worker writes an event's end before BullMQ removes its job, so an event whose job finished
   * between the two reads is stale in the first and jobless in the second, yet not stranded: its status and
   * `updated_at` (which every write of an event sets) have changed since. Enqueuing it added a useless job and counted
   * it in webhook_reconciler_requeued_total, the signal operators read as "enqueues were lost". One read by primary
   * key of at most a batch of ids, and only of those with no live job (none, usually).
   */
  private async stillAsRead(client: PoolClient, rows: StaleRow[]): Promise<StaleRow[]> {
    if (rows.length === 0) return [];
    const { rows: current } = await client.query<{ id: string; status: string; cursor_at: string }>(CURRENT_STATE, [rows.map((row) => row.id)]);
    const now = new Map(current.map((row) => [row.id, row]));
    return rows.filter((row) => {
      const found = now.get(row.id);
      return found !== undefined && found.status === row.status && found.cursor_at === row.cursor_at;
    });
  }
}
