import type { Pool } from 'pg';
import { ADVISORY_LOCKS, withAdvisoryLock } from '../../shared/database/advisory-lock.js';
import type { Logger } from '../../shared/logging/logger.js';
import { reconcilerRequeued } from '../../shared/metrics/metrics.js';
import type { EventQueue } from '../../shared/queue/event-queue.js';

export interface ReconcilerOptions {
  pool: Pool;
  queue: EventQueue;
  intervalMs: number;
  /** An event untouched this long, with no live job, is enqueued again. */
  staleMs: number;
  batchSize?: number;
  logger: Logger;
}

/**
 * Finds events stranded without a job (the enqueue failed, Redis was down, a crash between commit and
 * enqueue, a job lost with its worker) and enqueues them again. Every worker runs the timer; a PostgreSQL
 * advisory lock lets one pass run at a time.
 */
export class Reconciler {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(private readonly options: ReconcilerOptions) {}

  start(): void {
    const tick = () => {
      this.running = this.runOnce()
        .catch((error: unknown) => this.options.logger.warn('reconciler pass failed', { error }))
        .finally(() => {
          this.running = undefined;
          if (this.timer) this.timer = setTimeout(tick, this.options.intervalMs).unref();
        });
    };
    this.timer = setTimeout(tick, this.options.intervalMs).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass; returns how many events were enqueued (undefined when another process holds the lock). */
  async runOnce(): Promise<number | undefined> {
    return withAdvisoryLock(this.options.pool, ADVISORY_LOCKS.reconciler, async () => {
      const { rows } = await this.options.pool.query<{ id: string; status: string; traceparent: string | null }>(
        `SELECT id, status, traceparent FROM webhook_events
          WHERE status IN ('PENDING', 'FAILED', 'PROCESSING') AND updated_at < now() - make_interval(secs => $1::float8 / 1000)
          ORDER BY updated_at LIMIT $2`,
        [this.options.staleMs, this.options.batchSize ?? 500],
      );
      let requeued = 0;
      for (const row of rows) {
        // A live job (waiting, delayed for a retry, running) means nothing is stranded.
        if (await this.options.queue.requeue({ eventId: row.id, traceparent: row.traceparent ?? undefined })) {
          requeued++;
          reconcilerRequeued.inc({ status: row.status });
        }
      }
      if (requeued > 0) this.options.logger.info('reconciler enqueued stranded events', { requeued, examined: rows.length });
      return requeued;
    });
  }
}
