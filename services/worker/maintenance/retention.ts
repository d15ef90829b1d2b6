import type { Pool } from 'pg';
import { ADVISORY_LOCKS, withAdvisoryLock } from '../../shared/database/advisory-lock.js';
import type { Logger } from '../../shared/logging/logger.js';
import { eventsRemovedByRetention } from '../../shared/metrics/metrics.js';

export interface RetentionOptions {
  pool: Pool;
  /** COMPLETED events last updated longer ago than this are deleted with their attempts; 0 disables. */
  completedDays: number;
  intervalMs: number;
  logger: Logger;
  batchSize?: number;
}

/**
 * Deletes old COMPLETED events (and, by cascade, their delivery attempts) in small batches so it never holds
 * long locks. DEAD_LETTER events are kept until an operator replays them. One worker at a time (advisory lock).
 */
export class Retention {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(private readonly options: RetentionOptions) {}

  start(): void {
    if (this.options.completedDays <= 0) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.runOnce()
        .catch((error: unknown) => this.options.logger.warn('retention pass failed', { error }))
        .finally(() => (this.running = undefined));
    }, this.options.intervalMs).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Deletes what is due; returns the count (undefined when another process holds the lock). */
  async runOnce(): Promise<number | undefined> {
    return withAdvisoryLock(this.options.pool, ADVISORY_LOCKS.retention, async () => {
      let total = 0;
      for (;;) {
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
