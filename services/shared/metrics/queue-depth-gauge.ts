import client from 'prom-client';
import type { QueueJobCounts } from '../queue/event-queue.js';
import { readySince, type JobTimes } from '../queue/job-ready-time.js';
import { registry } from './metrics.js';

/** The oldest waiting job as BullMQ returns it (`Queue.getWaiting(0, 0)`: oldest first). */
export type WaitingJobTimes = JobTimes;

/** Anything that can count the queue's jobs by state (an {@link EventQueue}). */
export interface QueueCountSource {
  counts(): Promise<QueueJobCounts>;
  /** The BullMQ queue itself, when the oldest waiting job's age can be read (an EventQueue's `queue`). */
  readonly queue?: { getWaiting(start?: number, end?: number): Promise<WaitingJobTimes[]> };
}

interface QueueSnapshot {
  counts: QueueJobCounts;
  /** Since when the oldest waiting job has been ready to run (ms since the epoch); undefined: nothing waits or unknown. */
  oldestWaitingSince?: number;
}

export const QUEUE_JOBS_METRIC = 'webhook_queue_jobs';
export const QUEUE_OLDEST_WAITING_AGE_METRIC = 'webhook_queue_oldest_waiting_age_seconds';

/**
 * `webhook_queue_jobs{queue,state}`, the autoscaler's input, and `webhook_queue_oldest_waiting_age_seconds{queue}`,
 * read from BullMQ when Prometheus scrapes. Every pod reports the same shared queue, so dashboards and KEDA
 * aggregate them with `max`, never `sum`. Reads are cached briefly and bounded by a timeout: a scrape never
 * blocks on Redis or hammers it (one counts script, plus one LRANGE and one HGETALL for the oldest job).
 */
export class QueueDepthGauge {
  private cached?: { at: number; snapshot: QueueSnapshot };
  private inFlight?: Promise<QueueSnapshot | undefined>;

  constructor(
    private readonly queueName: string,
    private readonly source: QueueCountSource,
    private readonly cacheMs = 1000,
    private readonly timeoutMs = 1000,
  ) {
    const self = this;
    // One gauge per process; a second service instance in the same process (tests) takes it over.
    registry.removeSingleMetric(QUEUE_JOBS_METRIC);
    registry.removeSingleMetric(QUEUE_OLDEST_WAITING_AGE_METRIC);
    new client.Gauge({
      name: QUEUE_JOBS_METRIC,
      help: 'Jobs in the BullMQ queue by state (the same value from every pod: aggregate with max)',
      labelNames: ['queue', 'state'] as const,
      registers: [registry],
      async collect() {
        const snapshot = await self.read();
        this.reset();
        if (!snapshot) return; // Redis unreachable: no sample rather than a misleading zero.
        for (const [state, value] of Object.entries(snapshot.counts)) this.set({ queue: self.queueName, state }, value);
      },
    });
    if (source.queue) {
      new client.Gauge({
        name: QUEUE_OLDEST_WAITING_AGE_METRIC,
        help:
          'Seconds the oldest waiting job has waited for a worker since it became ready: since it was added, its delay ended ' +
          '(a hold for a destination, a backoff, a Retry-After) or it was promoted (a resume); 0 when nothing waits ' +
          '(the same value from every pod: aggregate with max)',
        labelNames: ['queue'] as const,
        registers: [registry],
        async collect() {
          const snapshot = await self.read();
          this.reset();
          if (!snapshot) return;
          const since = snapshot.oldestWaitingSince;
          this.set({ queue: self.queueName }, since === undefined ? 0 : Math.max(0, (Date.now() - since) / 1000));
        },
      });
    }
  }

  private async read(): Promise<QueueSnapshot | undefined> {
    if (this.cached && Date.now() - this.cached.at < this.cacheMs) return this.cached.snapshot;
    this.inFlight ??= Promise.race([
      this.load(),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), this.timeoutMs).unref()),
    ])
      .then((snapshot) => {
        if (snapshot) this.cached = { at: Date.now(), snapshot };
        return snapshot;
      })
      .catch(() => undefined)
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  private async load(): Promise<QueueSnapshot> {
    const [counts, oldest] = await Promise.all([
      this.source.counts(),
      this.source.queue ? this.source.queue.getWaiting(0, 0).then((jobs) => jobs[0]) : Promise.resolve(undefined),
    ]);
    // From when it became ready, not from when it was added or last ran: a job held through a long pause and promoted
    // by the resume has only just started to wait for a worker.
    const oldestWaitingSince = oldest ? readySince(oldest) : undefined;
    return { counts, oldestWaitingSince };
  }
}
