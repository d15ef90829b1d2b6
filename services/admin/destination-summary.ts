import type { DataSource } from 'typeorm';
import type { DestinationInfo, DestinationRecent, DestinationsOverview, DestinationView } from './admin-views.js';
import type { DestinationControl } from './destination-control.js';
import { destinationInfos, type RoutingConfig } from './routing-view.js';

/** The window "recent" means, and its buckets. */
export const RECENT_WINDOW_MINUTES = 60;
export const RECENT_BUCKET_MINUTES = 5;

interface BucketRow {
  destination: string;
  bucket: number;
  attempts: string;
  succeeded: string;
  duration_sum: string;
  last_at: Date;
  last_ok: Date | null;
}

/**
 * Every destination with its delivery attempts of the last hour, read from `delivery_attempts` by time (a BRIN
 * index: the window is the table's last pages). Answers are reused for a few seconds.
 */
export class DestinationSummary {
  private cached?: { at: number; value: Promise<DestinationsOverview> };

  constructor(
    private readonly dataSource: DataSource,
    private readonly routes: RoutingConfig | undefined,
    private readonly cacheMs = 5000,
    private readonly control?: DestinationControl,
  ) {}

  async view(): Promise<DestinationsOverview> {
    const [overview, control] = await Promise.all([this.recent(), this.control?.overview(destinationInfos(this.routes).map((d) => d.name))]);
    if (!control) return overview;
    const { states, removedPaused } = control;
    return { ...overview, items: overview.items.map((item) => ({ ...item, state: states.get(item.name) ?? null })), removedPaused };
  }

  private recent(): Promise<DestinationsOverview> {
    if (this.cached && Date.now() - this.cached.at < this.cacheMs) return this.cached.value;
    const value = this.build();
    this.cached = { at: Date.now(), value };
    value.catch(() => {
      if (this.cached?.value === value) this.cached = undefined;
    });
    return value;
  }

  private async build(): Promise<DestinationsOverview> {
    const bucketMs = RECENT_BUCKET_MINUTES * 60_000;
    const bucketCount = RECENT_WINDOW_MINUTES / RECENT_BUCKET_MINUTES;
    // Whole buckets, the current one last, so the buckets of two refreshes line up.
    const currentBucket = Math.floor(Date.now() / bucketMs);
    const firstBucket = currentBucket - bucketCount + 1;
    const from = new Date(firstBucket * bucketMs);
    const [rows, failures] = await Promise.all([
      this.dataSource.query(
        `SELECT destination, floor(extract(epoch FROM at) * 1000 / $2)::int8 AS bucket, count(*) AS attempts,
                count(*) FILTER (WHERE succeeded) AS succeeded, sum(duration_ms) AS duration_sum,
                max(at) AS last_at, max(at) FILTER (WHERE succeeded) AS last_ok
           FROM delivery_attempts WHERE at >= $1 GROUP BY 1, 2`,
        [from, bucketMs],
      ) as Promise<BucketRow[]>,
      this.dataSource.query(
        `SELECT DISTINCT ON (destination) destination, at, status_code, error
           FROM delivery_attempts WHERE at >= $1 AND NOT succeeded ORDER BY destination, at DESC`,
        [from],
      ) as Promise<{ destination: string; at: Date; status_code: number | null; error: string | null }[]>,
    ]);

    const configured = destinationInfos(this.routes);
    const names = new Set(configured.map((destination) => destination.name));
    const unknown = [...new Set(rows.map((row) => row.destination).filter((name) => !names.has(name)))].sort();
    const infos: (DestinationInfo & { configured: boolean })[] = [
      ...configured.map((destination) => ({ ...destination, configured: true })),
      ...unknown.map((name) => ({ name, type: 'unknown', target: null, configured: false })),
    ];
    const items = infos.map((info): DestinationView => {
      const own = rows.filter((row) => row.destination === info.name);
      const buckets = Array.from({ length: bucketCount }, () => ({ attempts: 0, succeeded: 0 }));
      let attempts = 0;
      let succeeded = 0;
      let durationSum = 0;
      let lastAt: Date | null = null;
      let lastOk: Date | null = null;
      for (const row of own) {
        const bucket = buckets[Number(row.bucket) - firstBucket];
        if (bucket) {
          bucket.attempts += Number(row.attempts);
          bucket.succeeded += Number(row.succeeded);
        }
        attempts += Number(row.attempts);
        succeeded += Number(row.succeeded);
        durationSum += Number(row.duration_sum);
        if (!lastAt || row.last_at > lastAt) lastAt = row.last_at;
        if (row.last_ok && (!lastOk || row.last_ok > lastOk)) lastOk = row.last_ok;
      }
      const failure = failures.find((row) => row.destination === info.name);
      return {
        ...info,
        state: null,
        recent: {
          attempts,
          succeeded,
          failed: attempts - succeeded,
          successRate: attempts > 0 ? succeeded / attempts : null,
          avgDurationMs: attempts > 0 ? Math.round(durationSum / attempts) : null,
          lastAttemptAt: lastAt?.toISOString() ?? null,
          lastSuccessAt: lastOk?.toISOString() ?? null,
          lastFailure: failure ? { at: failure.at.toISOString(), statusCode: failure.status_code, error: failure.error } : null,
          buckets,
        },
      };
    });
    return { windowMinutes: RECENT_WINDOW_MINUTES, bucketMinutes: RECENT_BUCKET_MINUTES, from: from.toISOString(), items };
  }
}
