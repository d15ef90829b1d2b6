import client from 'prom-client';
import { registry } from './metrics.js';

export const UNFINISHED_EVENTS_METRIC = 'webhook_events_unfinished';

/** Counting stops here: the gauge says "work is left", not how much (the queue gauges say that). */
export const UNFINISHED_EVENTS_CAP = 10_000;

/** What the gauge needs from PostgreSQL (a pg Pool). */
export interface UnfinishedEventsSource {
  query(config: { text: string; values?: unknown[]; query_timeout?: number }): Promise<{ rows: { n: number | string }[] }>;
}

/**
 * `webhook_events_unfinished{queue}`: events in PostgreSQL that still need a worker (PENDING, PROCESSING or
 * FAILED), counted up to {@link UNFINISHED_EVENTS_CAP}, read when Prometheus scrapes. It covers what the queue
 * gauges cannot see: events whose enqueue failed or whose job was lost wait for the reconciler, which only runs in
 * a worker. With KEDA's `minReplicas: 0` it is what wakes a worker for them (see the ScaledObject template).
 *
 * Every pod (ingress and worker) reports the same database, so aggregate with `max`. One indexed, bounded query
 * per scrape (ix_webhook_events_status_updated_id), cached briefly; PostgreSQL unreachable: no sample rather than a
 * misleading zero.
 */
export class UnfinishedEventsGauge {
  private cached?: { at: number; value: number };
  private inFlight?: Promise<number | undefined>;

  constructor(
    private readonly queueName: string,
    private readonly source: UnfinishedEventsSource,
    private readonly cacheMs = 2000,
    private readonly timeoutMs = 1000,
  ) {
    const self = this;
    // One gauge per process; a second service instance in the same process (tests) takes it over.
    registry.removeSingleMetric(UNFINISHED_EVENTS_METRIC);
    new client.Gauge({
      name: UNFINISHED_EVENTS_METRIC,
      help:
        `Events in PostgreSQL still to be processed (PENDING, PROCESSING or FAILED), counted up to ${UNFINISHED_EVENTS_CAP}: ` +
        'work that needs a worker (the same value from every pod: aggregate with max)',
      labelNames: ['queue'] as const,
      registers: [registry],
      async collect() {
        const value = await self.read();
        this.reset();
        if (value !== undefined) this.set({ queue: self.queueName }, value);
      },
    });
  }

  private async read(): Promise<number | undefined> {
    if (this.cached && Date.now() - this.cached.at < this.cacheMs) return this.cached.value;
    // Bounded twice: the scrape never waits longer than timeoutMs (not even for a pool connection), and the query
    // itself gives up after as long.
    this.inFlight ??= Promise.race([
      this.load(),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), this.timeoutMs).unref()),
    ])
      .then((value) => {
        if (value !== undefined) this.cached = { at: Date.now(), value };
        return value;
      })
      .catch(() => undefined)
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  private async load(): Promise<number> {
    const { rows } = await this.source.query({
      text: `SELECT count(*)::int AS n FROM (
               SELECT 1 FROM webhook_events WHERE status IN ('PENDING', 'PROCESSING', 'FAILED') LIMIT $1
             ) AS unfinished`,
      values: [UNFINISHED_EVENTS_CAP],
      query_timeout: this.timeoutMs,
    });
    return Number(rows[0]?.n ?? 0);
  }
}
