import type { Job } from 'bullmq';
import type { EventJobData } from './event-job.js';

/**
 * When a job waiting in the queue became ready to run, which is what the queue-wait gauge
 * (`webhook_queue_oldest_waiting_age_seconds`) counts from: the wait for a worker, not the whole life of the job.
 *
 * BullMQ keeps when a job was added (`timestamp`) and when its last run started (`processedOn`), but not when a job
 * left the delayed set: promoting it (when its delay ends, or `promote()`) sets its `delay` back to 0. A job held for
 * a paused destination or an open circuit, waiting out a Retry-After, the database or a backoff, would count all
 * of that as waiting for a worker, and every resume after a long pause would fire the queue-wait alert. So whoever
 * delays or promotes a job stamps the time it is (or becomes) ready in its data, `readyAt`:
 * - the worker, when it delays a job itself (a destination wait, a Retry-After, the database): the delay's end;
 * - the worker, when BullMQ schedules a retry: the end of the backoff BullMQ chose;
 * - a resume or a closing circuit, when it promotes held jobs: the promotion.
 */
export interface JobTimes {
  /** When the job was added (ms since the epoch). */
  timestamp: number;
  /** When its last run started. */
  processedOn?: number;
  data?: Pick<EventJobData, 'readyAt'>;
}

/**
 * Since when `job`, now waiting, has been ready to run (ms since the epoch); undefined when it carries no time.
 * The latest of its add, its last run's start, and its stamp: a stamp older than the last run belongs to an earlier
 * wait. A stamp still in the future was overtaken by a promotion that did not stamp (a BullMQ UI, say): the job
 * waits, since some time after its last run started; that is what counts then (possibly more than it waited).
 */
export function readySince(job: JobTimes, now = Date.now()): number | undefined {
  const stamped = job.data?.readyAt;
  const stamp = typeof stamped === 'number' && stamped <= now ? stamped : 0;
  return Math.max(job.timestamp || 0, job.processedOn || 0, stamp) || undefined;
}

/**
 * Records in `job`'s data that it is (or will be) ready to run at `readyAt`. Best effort: the stamp only informs a
 * metric, so a failure (Redis away, the job already removed) is ignored and never fails the delay or promotion.
 */
export async function stampReadyAt(job: Job<EventJobData>, readyAt: number): Promise<void> {
  try {
    await job.updateData({ ...job.data, readyAt: Math.round(readyAt) });
  } catch {
    // The gauge then counts from the job's last run, as it would without the stamp.
  }
}
