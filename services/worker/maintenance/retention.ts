import type { Pool } from 'pg';
import { ADVISORY_LOCKS, withAdvisoryLock } from '../../shared/database/advisory-lock.js';
import type { Logger } from '../../shared/logging/logger.js';
import { eventsRemovedByRetention } from '../../shared/metrics/metrics.js';

export interface RetentionOptions {
  pool: Pool;
  /** COMPLETED events last updated longer ago than this are deleted with their attempts; 0 disables. */
  completedDays: number;
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

const FIRST_DELAY_MIN_MS = 5000;
const FIRST_DELAY_JITTER_MS = 25_000;

/**
 * Deletes old COMPLETED events (and, by cascade, their delivery attempts) in small batches so it never holds
 * long locks. DEAD_LETTER events are kept until an operator replays them. Every worker runs the timer; a PostgreSQL
 * advisory lock lets one pass run at a time (another process's pass at the same moment returns at once).
 */
export class Retention {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  /**
   * Set by stop(): a pass in progress ends after its current batch. A pass over a large backlog runs for minutes; a
   * draining worker must not wait for it (SHUTDOWN_TIMEOUT_MS would force exit 1), and the next pass, in this or
   * another worker, deletes the rest.
   */
  private stopping = false;

  constructor(private readonly options: RetentionOptions) {}

  /** The first pass after `firstDelayMs`, then one `intervalMs` after each pass ends (passes never overlap). */
  start(): void {
    if (this.options.completedDays <= 0) return;
    this.stopping = false;
    const tick = () => {
      this.running = this.runOnce()
        .catch((error: unknown) => this.options.logger.warn('retention pass failed', { error }))
        .finally(() => {
          this.running = undefined;
          if (this.timer) this.timer = setTimeout(tick, this.options.intervalMs).unref();
        });
    };
    const firstDelayMs =
      this.options.firstDelayMs ?? Math.min(this.options.intervalMs, FIRST_DELAY_MIN_MS + Math.random() * FIRST_DELAY_JITTER_MS);
    this.timer = setTimeout(tick, firstDelayMs).unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Deletes what is due; returns the count (undefined when another process holds the lock). */
  async runOnce(): Promise<number | undefined> {
    return withAdvisoryLock(this.options.pool, ADVISORY_LOCKS.retention, async () => {
      let total = 0;
      while (!this.stopping) {
        const { rowCount } = await this.options.pool.query(
          `DELETE FROM webhook_events WHERE id IN (
             SELECT id FROM webhook_events
              WHERE status = 'COMPLETED' AND updated_at < now() - make_interval(days => $1)
              LIMIT $2)`,
          [this.options.completedDays, this.options.batchSize ?? 1000],
        );
        total += rowCount ?? 0;
        if (!rowCount) break;
      }
      if (total > 0) {
        eventsRemovedByRetention.inc(total);
        this.options.logger.info('retention deleted completed events', { deleted: total, olderThanDays: this.options.completedDays });
      }
      return total;
    });
  }
}
