import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { runWithContext } from '../shared/logging/request-context.js';
import type { Logger } from '../shared/logging/logger.js';
import type { EventJobData } from '../shared/queue/event-job.js';
import { DeliveryFailedError } from './processing/delivery-failed-error.js';
import type { EventProcessor } from './processing/event-processor.js';

export interface EventWorkerOptions {
  /** A connection with `maxRetriesPerRequest: null` (`createRedisConnection(..., 'worker')`). */
  connection: Redis;
  queueName: string;
  prefix: string;
  concurrency: number;
  /** A crashed worker's jobs come back after about this long (BullMQ's stalled-job check). */
  lockDurationMs: number;
  stalledIntervalMs: number;
  processor: EventProcessor;
  logger: Logger;
  /** Told how many jobs run after every change (drives the pod-deletion-cost annotation). */
  onActiveJobsChange?: (active: number) => void;
}

/** The BullMQ consumer: takes event ids off the queue and hands them to the {@link EventProcessor}. */
export class EventWorker {
  private readonly worker: Worker<EventJobData>;
  private active = 0;

  constructor(private readonly options: EventWorkerOptions) {
    this.worker = new Worker<EventJobData>(options.queueName, (job) => this.handle(job), {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      lockDuration: options.lockDurationMs,
      stalledInterval: options.stalledIntervalMs,
      // A job whose worker died twice is failed by BullMQ; the reconciler then re-enqueues its event.
      maxStalledCount: 2,
      autorun: false,
    });
    this.worker.on('error', (error) => options.logger.warn('worker connection error', { error }));
  }

  /** Starts taking jobs. */
  start(): void {
    void this.worker.run().catch((error: unknown) => this.options.logger.error('worker stopped unexpectedly', { error }));
  }

  /** Stops taking jobs and waits for the ones running to finish (`force` abandons them to the stalled check). */
  async close(force = false): Promise<void> {
    await this.worker.close(force);
  }

  /** Jobs running now. */
  get activeJobs(): number {
    return this.active;
  }

  private async handle(job: Job<EventJobData>): Promise<string> {
    this.setActive(+1);
    try {
      const isLastQueueAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      return await runWithContext({ eventId: job.data.eventId, correlationId: `job:${job.id}` }, () =>
        this.options.processor.process(job.data, isLastQueueAttempt),
      );
    } catch (error) {
      // A dead-lettered event is done: tell BullMQ not to retry even if the job had attempts left.
      if (error instanceof DeliveryFailedError && error.final) throw new UnrecoverableError(error.message);
      throw error;
    } finally {
      this.setActive(-1);
    }
  }

  private setActive(delta: number): void {
    this.active += delta;
    this.options.onActiveJobsChange?.(this.active);
  }
}
