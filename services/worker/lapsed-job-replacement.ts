import { ErrorCode, Queue, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { eventJobId } from '../shared/queue/event-job.js';
import { jobLiveness } from '../shared/queue/job-liveness.js';
import type { WorkerJobData } from './processing/unrecorded-run.js';

/**
 * BullMQ's refusals of a job's move (a delay, a retry) by a worker that no longer holds the job: the job is gone (the
 * worker it was handed to completed it), its lock lapsed or is another worker's, or it is no longer active.
 */
const NOT_HELD = new Set<number>([ErrorCode.JobNotExist, ErrorCode.JobLockNotExist, ErrorCode.JobNotInState, ErrorCode.JobLockMismatch]);

/** Whether `error` is BullMQ refusing a move because the job is no longer this worker's (see {@link NOT_HELD}). */
export function isJobNoLongerHeld(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' && NOT_HELD.has(code);
}

/**
 * Queues an event's next run anew when the run that ended it no longer holds its job.
 *
 * A job's lock lapses while its run goes on when the worker cannot renew it for WORKER_LOCK_DURATION_MS (Redis
 * unreachable from that worker, an event-loop stall). BullMQ's stalled check then hands the job out again; the run
 * that gets it finds the first run alive in PostgreSQL (its claim and heartbeat), skips it and completes the job. When
 * the first run then ends with a retry or a wait, BullMQ refuses to delay a job it no longer holds, and the event
 * (FAILED or PENDING) had no job left: it waited for the reconciler (RECONCILER_STALE_MS and up to an interval more)
 * instead of its backoff. The replacement is the job it would have been: same id (the event's round's,
 * {@link eventJobId}: the reconciler's live-job check sees it, and an add beside a live job of that id is a no-op),
 * same data (with what a run could not write, see UnrecordedRun), same attempts, backoff and removal options.
 * Nothing runs twice: the old job is finished or runs the event itself, and the claim's token and heartbeat still
 * keep two runs off one event.
 */
export class LapsedJobReplacement {
  /** Made on first use: the case is rare, and most workers never need it. */
  private queue?: Queue<WorkerJobData>;

  constructor(private readonly options: { connection: Redis; queueName: string; prefix: string }) {}

  /**
   * Adds `job`'s event's job again, to run at `until` (ms since the epoch); false when a worker holds a job of that id
   * (it runs the event; an add would be ignored). A finished one of that id is removed first, as the reconciler does.
   * So is a live one no worker holds: the job this run held, its lock lapsed and nobody took it since (still active,
   * or put back in the queue by the stalled check, which BullMQ does, to run at once). Left, it ran the event's next
   * attempt as soon as a worker was free, its backoff or Retry-After ignored, its wait for a destination cut short,
   * and counted a stall of the job (the third fails it). The remove refuses a job whose lock a worker holds.
   */
  async replace(job: Job<WorkerJobData>, until: number): Promise<boolean> {
    const queue = this.queueOf();
    const jobId = eventJobId(job.data.eventId, job.data.replays);
    const [liveness] = await jobLiveness(this.options.connection, queue, [jobId]);
    if (liveness === 'live' && (await queue.remove(jobId)) !== 1) return false;
    if (liveness === 'finished') await queue.remove(jobId);
    const { attempts, backoff, removeOnComplete, removeOnFail } = job.opts;
    const opts: JobsOptions = { attempts, backoff, removeOnComplete, removeOnFail, jobId, delay: Math.max(0, Math.round(until - Date.now())) };
    // Stamped with the delay's end, as a delayed job is: the queue-wait gauge counts from there (job-ready-time.ts).
    await queue.add(job.name, { ...job.data, readyAt: Math.round(until) }, opts);
    return true;
  }

  async close(): Promise<void> {
    await this.queue?.close();
  }

  private queueOf(): Queue<WorkerJobData> {
    if (!this.queue) {
      // On the worker's connection (not closed with the queue: it is shared); its version was checked by the worker.
      this.queue = new Queue<WorkerJobData>(this.options.queueName, { connection: this.options.connection, prefix: this.options.prefix, skipVersionCheck: true });
      // Connection errors are the worker's to report (it listens on the same connection); a failed add rejects.
      this.queue.on('error', () => undefined);
    }
    return this.queue;
  }
}
