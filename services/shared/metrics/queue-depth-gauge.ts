import client from 'prom-client';
import type { QueueJobCounts } from '../queue/event-queue.js';
import { registry } from './metrics.js';

/** Anything that can count the queue's jobs by state (an {@link EventQueue}). */
export interface QueueCountSource {
  counts(): Promise<QueueJobCounts>;
}

/**
 * `webhook_queue_jobs{queue,state}`, the autoscaler's input, read from BullMQ when Prometheus scrapes.
 * Every pod reports the same shared queue, so dashboards and KEDA aggregate it with `max`, never `sum`.
 * Reads are cached briefly and bounded by a timeout: a scrape never blocks on Redis or hammers it.
 */
export class QueueDepthGauge {
  private cached?: { at: number; counts: QueueJobCounts };
  private inFlight?: Promise<QueueJobCounts | undefined>;

  constructor(
    private readonly queueName: string,
    private readonly source: QueueCountSource,
    private readonly cacheMs = 1000,
    private readonly timeoutMs = 1000,
  ) {
    const self = this;
    // One gauge per process; a second service instance in the same process (tests) takes it over.
    registry.removeSingleMetric('webhook_queue_jobs');
    new client.Gauge({
      name: 'webhook_queue_jobs',
      help: 'Jobs in the BullMQ queue by state (the same value from every pod: aggregate with max)',
      labelNames: ['queue', 'state'] as const,
      registers: [registry],
      async collect() {
        const counts = await self.read();
        this.reset();
        if (!counts) return; // Redis unreachable: no sample rather than a misleading zero.
        for (const [state, value] of Object.entries(counts)) this.set({ queue: self.queueName, state }, value);
      },
    });
  }

  private async read(): Promise<QueueJobCounts | undefined> {
    if (this.cached && Date.now() - this.cached.at < this.cacheMs) return this.cached.counts;
    this.inFlight ??= Promise.race([
      this.source.counts(),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), this.timeoutMs).unref()),
    ])
      .then((counts) => {
        if (counts) this.cached = { at: Date.now(), counts };
        return counts;
      })
      .catch(() => undefined)
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }
}
