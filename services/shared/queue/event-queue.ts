import { context as otelContext, ROOT_CONTEXT } from '@opentelemetry/api';
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { MicroBatcher } from '../batching/micro-batcher.js';
import type { Logger } from '../logging/logger.js';
import { EVENT_JOB_NAME, eventJobId, type EventJobData } from './event-job.js';
import { jobLiveness, type JobLiveness } from './job-liveness.js';

/** Options for {@link EventQueue}. */
export interface EventQueueOptions {
  /** A fail-fast connection (`createRedisConnection(..., 'producer')`): enqueueing must never hang a request. */
  connection: Redis;
  name: string;
  prefix: string;
  /** Processing attempts in total before the event is dead-lettered. */
  attempts: number;
  /** Base of the exponential backoff between attempts. */
  backoffMs: number;
  logger: Logger;
}

/** Job counts by state, as the metrics and the autoscaler read them. */
export type QueueJobCounts = Record<'waiting' | 'active' | 'delayed' | 'prioritized' | 'failed', number>;

/**
 * The producer side of the BullMQ queue: one job per event and replay round, keyed by {@link eventJobId}, added in
 * batches.
 */
export class EventQueue {
  readonly queue: Queue<EventJobData>;
  /** Every event job's options (attempts, backoff): the worker reads its retry schedule from them. */
  readonly jobOptions: JobsOptions;
  private readonly batcher: MicroBatcher<EventJobData, void>;

  constructor(private readonly options: EventQueueOptions) {
    this.queue = new Queue<EventJobData>(options.name, {
      connection: options.connection,
      prefix: options.prefix,
      // Enqueue from HTTP requests: fail at once when Redis is down instead of waiting for it. The version
      // check would send INFO through the fail-fast connection at construction and, with Redis down at start,
      // leave the queue broken for good; the worker's connection checks the version instead.
      skipWaitingForReady: true,
      skipVersionCheck: true,
    });
    // BullMQ re-emits connection errors on the queue; they are expected during outages and logged by the caller.
    this.queue.on('error', () => undefined);
    this.jobOptions = {
      attempts: options.attempts,
      backoff: { type: 'exponential', delay: options.backoffMs, jitter: 0.5 },
      // A completed job is deleted as it completes: PostgreSQL is the record of what happened, Redis only holds work
      // to do. Keeping the last 1,000 cost every completion a sorted-set insert and a trim of the oldest (and its
      // hash) in BullMQ's finish script. A job added again for a finished event is harmless: its claim finds the
      // event finished and skips.
      removeOnComplete: true,
      removeOnFail: { count: 5000, age: 7 * 24 * 3600 },
    };
    this.batcher = new MicroBatcher<EventJobData, void>({
      maxBatchSize: 500,
      maxConcurrentFlushes: 2,
      flush: async (items) => {
        // Outside any trace: the batch holds many requests' events, and run in the first one's context its Redis
        // commands (one per job, hundreds under load) all landed in that request's trace and in no other. Each
        // event's trace has its own enqueue span instead (the ingress's webhook.enqueue).
        await otelContext.with(ROOT_CONTEXT, () =>
          this.queue.addBulk(items.map((data) => ({ name: EVENT_JOB_NAME, data, opts: { ...this.jobOptions, jobId: eventJobId(data.eventId, data.replays) } }))),
        );
        return items.map(() => undefined);
      },
    });
  }

  /**
   * Adds a job for a newly stored event. Rejects quickly when Redis is unavailable; the event then stays
   * PENDING in PostgreSQL and the reconciler enqueues it later.
   */
  enqueue(job: EventJobData): Promise<void> {
    return this.batcher.submit(job);
  }

  /**
   * Makes sure a job will run for `job.eventId` in round `job.replays`: a finished (completed/failed) job with the
   * same id is removed first, since BullMQ ignores an add whose jobId already exists. Returns false when a live job of
   * that round exists already. A job of an earlier round does not count: it will not claim the event (a replay while
   * that job was finishing gets a job of its own).
   */
  async requeue(job: EventJobData): Promise<boolean> {
    return (await this.requeueMany([job]))[0]!;
  }

  /**
   * Whether each event has a live job of its round (waiting, delayed, prioritized or active), in one round trip: what
   * {@link requeueMany} checks, for a caller that must look again at its events before it adds their jobs.
   */
  async hasLiveJob(jobs: EventJobData[]): Promise<boolean[]> {
    return (await this.livenessOf(jobs.map((job) => eventJobId(job.eventId, job.replays)))).map((liveness) => liveness === 'live');
  }

  /**
   * {@link requeue} for many events: their jobs' liveness in one round trip, then an add for each without a live job.
   * Every add is let end: when Redis refuses some, this rejects with a {@link RequeueError} once the others are done,
   * saying which jobs were added. Rejecting at the first refusal (as it did) left the caller knowing nothing of the
   * jobs added before or after it, so the reconciler counted none of them in webhook_reconciler_requeued_total.
   */
  async requeueMany(jobs: EventJobData[]): Promise<boolean[]> {
    const jobIds = jobs.map((job) => eventJobId(job.eventId, job.replays));
    const liveness = await this.livenessOf(jobIds);
    const outcomes = await Promise.allSettled(
      jobs.map(async (job, index) => {
        const jobId = jobIds[index]!;
        if (liveness[index] === 'live') return false;
        if (liveness[index] === 'finished') await this.queue.remove(jobId);
        // Round 0 is left out of the data, as the ingress leaves it out (and jobs queued before rounds were recorded).
        const { replays, ...roundZero } = job;
        const data: EventJobData = replays ? job : roundZero;
        await this.queue.add(EVENT_JOB_NAME, data, { ...this.jobOptions, jobId });
        return true;
      }),
    );
    const added = outcomes.map((outcome) => outcome.status === 'fulfilled' && outcome.value);
    const refused = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (refused.length > 0) throw new RequeueError(added, refused.length, refused[0]!.reason);
    return added;
  }

  private livenessOf(jobIds: string[]): Promise<JobLiveness[]> {
    return jobLiveness(this.options.connection, this.queue, jobIds);
  }

  /** Job counts by state (one round trip). */
  async counts(): Promise<QueueJobCounts> {
    const counts = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed');
    return {
      waiting: counts.waiting ?? 0,
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      prioritized: counts.prioritized ?? 0,
      failed: counts.failed ?? 0,
    };
  }

  /** Waits for batched adds in flight, then closes the queue (the connection belongs to the caller). */
  async close(): Promise<void> {
    await this.batcher.drain();
    await this.queue.close();
  }
}

/**
 * {@link EventQueue.requeueMany} ended with some adds refused: `added` says, job by job, which were added all the same
 * (false for a refused one and one with a live job), `refused` how many failed. Its message and `code` are the first
 * refusal's, so a caller that tells a Redis outage from other failures by them (isRedisConnectionError) still does.
 */
export class RequeueError extends Error {
  readonly code: unknown;
  constructor(
    readonly added: boolean[],
    readonly refused: number,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'RequeueError';
    this.code = (cause as { code?: unknown } | null)?.code;
  }
}
