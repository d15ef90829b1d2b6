import type { Pool } from 'pg';
import { ADVISORY_LOCKS, withAdvisoryLock } from '../../shared/database/advisory-lock.js';
import type { Logger } from '../../shared/logging/logger.js';
import { eventsRemovedByRetention } from '../../shared/metrics/metrics.js';
import { repeating, ScheduledPasses } from './scheduled-passes.js';
import { expireTombstones } from './tombstone-expiry.js';

export interface RetentionOptions {
  pool: Pool;
  /** COMPLETED events last updated longer ago than this are deleted with their attempts; 0 disables. */
  completedDays: number;
  /**
   * The tombstones of deleted events (their replay keys) older than this are deleted; 0 or absent keeps them forever.
   * RETENTION_TOMBSTONE_DAYS: see the README's retention section for why they last this long.
   */
  tombstoneDays?: number;
  intervalMs: number;
  /**
   * Delay before the first pass; by default 5–30 s at random (never more than `intervalMs`). Soon, because a worker
   * that lives less than an interval (scaled in, rolled out) would otherwise never delete anything; at random, so
   * that a fleet started together does not contend for the lock at once.
   */
  firstDelayMs?: number;
  logger: Logger;
  batchSize?: number;
}

// One statement, so one transaction: an event's row and its tombstone (its replay key: see the EventTombstones
// migration) never both exist nor are both missing, in any snapshot; the ingest's insert relies on that. Events
// without a replay key leave none: their providers' signed timestamps bound a replay, and a retry of theirs comes
// within the 3 days RETENTION_COMPLETED_DAYS is at least. A key tombstoned already keeps its first tombstone.
// An event is deleted only as the batch found it (its status and `updated_at`, which every write of an event sets):
// the batch is picked from the statement's snapshot, and a replay that moves one of its events to PENDING (answered
// 202, its job queued) can commit before the DELETE reaches that row (the batch waits on another row's lock, or takes
// long over its events' attempts). Under READ COMMITTED the DELETE then evaluates its condition again on the row as
// the replay left it, which no longer matches, and leaves it; `gone`, hence the tombstones, holds only rows deleted.
// (Compared in the join, not as a filter of their own: the plan stays the batch's ids, then each row by primary key.)
// Oldest first: a range of the (status, updated_at, id) index that stops at the batch. Picked in no order, with many
// events due (retention enabled on a full table, RETENTION_COMPLETED_DAYS lowered, passes failing for a while) the pick
// was planned as a sequential scan stopping at the batch's count, which read past every young event sitting before the
// due ones in the heap (the space earlier passes freed is reused): the first and last batch of a pass read the whole
// table (every batch, on a table too small for PostgreSQL to synchronise its sequential scans).
// An event's later replay keys (webhook_event_replay_keys: a PayPal retry's transmission id) are tombstoned with it;
// read in the statement's snapshot, they are still there while the cascade of the DELETE removes them.
const DELETE_COMPLETED = {
  name: 'retention-delete-completed-v5',
  text: `WITH gone AS (
           DELETE FROM webhook_events WHERE (id, status, updated_at) IN (
             SELECT id, status, updated_at FROM webhook_events
              WHERE status = 'COMPLETED' AND updated_at < now() - make_interval(days => $1)
              ORDER BY updated_at, id
              LIMIT $2)
           RETURNING id, provider, replay_key
         ), tombstones AS (
           INSERT INTO webhook_event_tombstones (provider, replay_key, event_id)
           SELECT provider, replay_key, id FROM gone WHERE replay_key IS NOT NULL
           UNION ALL
           SELECT k.provider, k.replay_key, k.event_id FROM webhook_event_replay_keys k JOIN gone ON k.event_id = gone.id
           ON CONFLICT DO NOTHING
         )
         SELECT count(*)::int AS deleted FROM gone`,
};

const FIRST_DELAY_MIN_MS = 5000;
const FIRST_DELAY_JITTER_MS = 25_000;

/**
 * Deletes old COMPLETED events (and, by cascade, their delivery attempts) in small batches so it never holds
 * long locks, leaving each one's replay key behind as a tombstone, so that a delivery re-sent later (a captured
 * GitHub body, signed without a timestamp) is still a duplicate; tombstones expire after `tombstoneDays`
 * ({@link expireTombstones}). DEAD_LETTER events are kept until an operator replays them. Every worker runs the
 * timer; a PostgreSQL advisory lock lets one pass run at a time (another process's pass at the same moment returns
 * at once).
 */
export class Retention {
  /**
   * Its `stopping`, set by stop(): a pass in progress ends after its current batch. A pass over a large backlog runs for minutes; a
   * draining worker must not wait for it (SHUTDOWN_TIMEOUT_MS would force exit 1), and the next pass, in this or
   * another worker, deletes the rest.
   */
  private readonly passes: ScheduledPasses;

  constructor(private readonly options: RetentionOptions) {
    const firstDelayMs = options.firstDelayMs ?? Math.min(options.intervalMs, FIRST_DELAY_MIN_MS + Math.random() * FIRST_DELAY_JITTER_MS);
    this.passes = new ScheduledPasses({
      delaysMs: repeating(firstDelayMs, options.intervalMs),
      pass: () => this.runOnce(),
      onError: (error) => options.logger.warn('retention pass failed', { error }),
    });
  }

  /** The first pass after `firstDelayMs`, then one `intervalMs` after each pass ends (passes never overlap). */
  start(): void {
    // Nothing to do only when both are kept forever: with events kept (0), tombstones written earlier still expire.
    if (this.options.completedDays <= 0 && (this.options.tombstoneDays ?? 0) <= 0) return;
    this.passes.start();
  }

  stop(): Promise<void> {
    return this.passes.stop();
  }

  /** Deletes what is due; returns the count of events deleted (undefined when another process holds the lock). */
  async runOnce(): Promise<number | undefined> {
    return withAdvisoryLock(this.options.pool, ADVISORY_LOCKS.retention, async (client) => {
      let total = 0;
      try {
        // RETENTION_COMPLETED_DAYS 0 keeps every event (0 days would be every completed event).
        while (!this.passes.stopping && this.options.completedDays > 0) {
          const { rows } = await client.query<{ deleted: number }>({
            ...DELETE_COMPLETED,
            values: [this.options.completedDays, this.options.batchSize ?? 1000],
          });
          const deleted = rows[0]?.deleted ?? 0;
          // Each batch commits on its own: counted as it commits, so a pass that fails on a later batch (a statement
          // timeout behind a row lock, a lost connection) still counts the events its earlier batches deleted.
          if (deleted > 0) eventsRemovedByRetention.inc(deleted);
          total += deleted;
          if (!deleted) break;
        }
      } finally {
        // Logged whether the pass ends well or not (the caller logs the failure after this line).
        if (total > 0) {
          this.options.logger.info('retention deleted completed events', { deleted: total, olderThanDays: this.options.completedDays });
        }
      }
      const expired = await expireTombstones({
        client,
        days: this.options.tombstoneDays ?? 0,
        batchSize: this.options.batchSize ?? 1000,
        stopping: () => this.passes.stopping,
      });
      if (expired > 0) {
        this.options.logger.info('retention deleted expired tombstones', { deleted: expired, olderThanDays: this.options.tombstoneDays });
      }
      return total;
    });
  }
}
