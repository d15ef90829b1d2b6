import type { DataSource } from 'typeorm';
import type { Logger } from '../shared/logging/logger.js';
import type { QueueJobCounts } from '../shared/queue/event-queue.js';
import type { OverviewView } from './admin-views.js';
import { OverviewInvalidations } from './overview-invalidations.js';

const MINUTE = 60_000;
/** The longest window the overview shows, and how long the queue samples are kept. */
export const OVERVIEW_MAX_HOURS = 24;
/** Minutes this close to now may still gain rows (a transaction that commits late); they are always read again. */
const SETTLING_MINUTES = 2;

interface MinuteCounts {
  received: number;
  completed: number;
  deadLettered: number;
}

/** The busiest the queue was in one minute (the largest of the samples taken in it). */
interface QueueMinute {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  /** waiting + active + delayed of one sample: the largest of the minute's (not the sum of the largests above). */
  depth: number;
}

export interface OverviewOptions {
  dataSource: DataSource;
  /** The job queue (an EventQueue). */
  queue: { counts(): Promise<QueueJobCounts> };
  logger: Logger;
  /** How often the queue is sampled for its history (default 15 s). */
  sampleIntervalMs?: number;
  /** How long one answer is reused (default 5 s): several consoles open cost one query. */
  cacheMs?: number;
}

/**
 * The overview's numbers: received, completed and dead-lettered events per minute from PostgreSQL, and queue
 * depth per minute from samples this process takes of BullMQ (every pod sees the same queue; a restarted pod's
 * history starts again).
 *
 * Cheap to refresh: minutes older than the last two are final once read and kept in memory, so after the first
 * answer each refresh counts only the last few minutes of rows, on the received_at and (status, updated_at)
 * indexes. "Completed" and "dead-lettered" count events by the time they reached that status.
 *
 * Final, except after a replay: the events it takes out of COMPLETED or DEAD_LETTER no longer count where they
 * finished. Each refresh first looks for replays recorded since the last ({@link OverviewInvalidations}) and reads
 * again from the earliest minute they changed. So the overview shows a replay at once in the process that made it
 * ({@link forgetAnswers}), and in any other within its answer cache (`cacheMs`, 5 s). Retention changes nothing
 * here: it deletes COMPLETED events over RETENTION_COMPLETED_DAYS (a whole number, at least 3) old, outside the
 * 24-hour window.
 */
export class Overview {
  private readonly minutes = new Map<number, MinuteCounts>();
  /** The cache holds every minute from here on (up to `finalBefore`). */
  private coveredFrom = Number.POSITIVE_INFINITY;
  /** Minutes before this are final in the cache. */
  private finalBefore = Number.NEGATIVE_INFINITY;
  private readonly queueMinutes = new Map<number, QueueMinute>();
  private readonly startedAt = Date.now();
  private latestQueue: { at: number; counts: QueueJobCounts } | undefined;
  private sampler?: NodeJS.Timeout;
  private answers = new Map<number, { at: number; value: Promise<OverviewView> }>();
  private readonly invalidations: OverviewInvalidations;

  constructor(private readonly options: OverviewOptions) {
    this.invalidations = new OverviewInvalidations(options.dataSource);
  }

  /** Starts sampling the queue (one counts call per interval; never keeps the process alive). */
  start(): this {
    if (this.sampler) return this;
    void this.sampleQueue();
    this.sampler = setInterval(() => void this.sampleQueue(), this.options.sampleIntervalMs ?? 15_000);
    this.sampler.unref();
    return this;
  }

  close(): void {
    clearInterval(this.sampler);
    this.sampler = undefined;
  }

  /**
   * Drops the answers kept for reuse, so the next view is built afresh (it then reads again the minutes a replay
   * changed): called after a replay in this process, whose operator expects to see it at once.
   */
  forgetAnswers(): void {
    this.answers.clear();
  }

  /** The last `hours` (1–24) per minute, the current minute last. */
  view(hours: number): Promise<OverviewView> {
    const cacheMs = this.options.cacheMs ?? 5000;
    const cached = this.answers.get(hours);
    if (cached && Date.now() - cached.at < cacheMs) return cached.value;
    const value = this.build(hours);
    this.answers.set(hours, { at: Date.now(), value });
    value.catch(() => this.answers.delete(hours));
    return value;
  }

  private async build(hours: number): Promise<OverviewView> {
    const now = Date.now();
    const current = Math.floor(now / MINUTE) * MINUTE;
    const from = current - (hours * 60 - 1) * MINUTE;
    // Replays since the last look changed the minutes from the earliest their events had finished in: not final.
    const staleSince = await this.invalidations.staleSince();
    if (staleSince !== undefined) this.finalBefore = Math.min(this.finalBefore, Math.floor(staleSince / MINUTE) * MINUTE);
    const readFrom = from < this.coveredFrom ? from : Math.max(from, this.finalBefore);
    await this.read(readFrom, current + MINUTE);
    this.coveredFrom = Math.min(this.coveredFrom, readFrom);
    this.finalBefore = current - (SETTLING_MINUTES - 1) * MINUTE;
    this.prune(current);

    const count = hours * 60;
    const series = <T>(pick: (minute: number) => T) => Array.from({ length: count }, (_, index) => pick(from + index * MINUTE));
    const queueSeries = (key: keyof QueueMinute) => series((minute) => this.queueMinutes.get(minute)?.[key] ?? null);
    // A sample of this minute's, else one now: the background sampler's last may be from the minute before (it
    // samples every 15 s, later on a loaded machine), and reusing it left the current minute's point empty.
    const fresh = this.latestQueue && this.latestQueue.at >= current ? this.latestQueue.counts : await this.sampleQueue(current);
    return {
      from: new Date(from).toISOString(),
      to: new Date(current + MINUTE).toISOString(),
      stepSeconds: 60,
      received: series((minute) => this.minutes.get(minute)?.received ?? 0),
      completed: series((minute) => this.minutes.get(minute)?.completed ?? 0),
      deadLettered: series((minute) => this.minutes.get(minute)?.deadLettered ?? 0),
      queue: {
        current: fresh ?? null,
        sampledSince: new Date(this.startedAt).toISOString(),
        waiting: queueSeries('waiting'),
        active: queueSeries('active'),
        delayed: queueSeries('delayed'),
        depth: queueSeries('depth'),
      },
    };
  }

  /** Counts per minute for [start, end) from PostgreSQL, replacing what the cache had for those minutes. */
  private async read(start: number, end: number): Promise<void> {
    const rows: { kind: 'r' | 'c' | 'd'; minute: Date; n: string }[] = await this.options.dataSource.query(
      `SELECT 'r' AS kind, date_trunc('minute', received_at) AS minute, count(*) AS n
         FROM webhook_events WHERE received_at >= $1 AND received_at < $2 GROUP BY 2
       UNION ALL
       SELECT 'c', date_trunc('minute', updated_at), count(*)
         FROM webhook_events WHERE status = 'COMPLETED' AND updated_at >= $1 AND updated_at < $2 GROUP BY 2
       UNION ALL
       SELECT 'd', date_trunc('minute', updated_at), count(*)
         FROM webhook_events WHERE status = 'DEAD_LETTER' AND updated_at >= $1 AND updated_at < $2 GROUP BY 2`,
      [new Date(start), new Date(end)],
    );
    for (let minute = start; minute < end; minute += MINUTE) this.minutes.set(minute, { received: 0, completed: 0, deadLettered: 0 });
    for (const row of rows) {
      const entry = this.minutes.get(row.minute.getTime());
      if (!entry) continue;
      const n = Number(row.n);
      if (row.kind === 'r') entry.received = n;
      else if (row.kind === 'c') entry.completed = n;
      else entry.deadLettered = n;
    }
  }

  private prune(current: number): void {
    const oldest = current - OVERVIEW_MAX_HOURS * 60 * MINUTE;
    for (const minute of this.minutes.keys()) if (minute < oldest) this.minutes.delete(minute);
    for (const minute of this.queueMinutes.keys()) if (minute < oldest) this.queueMinutes.delete(minute);
    this.coveredFrom = Math.max(this.coveredFrom, oldest);
  }

  /**
   * One sample of the queue into its minute (`minute`: the view's current minute, which the sample is for even when
   * Redis answers after it ended); undefined when Redis does not answer within a second.
   */
  private async sampleQueue(minute?: number): Promise<QueueJobCounts | undefined> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const counts = await Promise.race([
        this.options.queue.counts(),
        new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), 1000);
        }),
      ]);
      if (!counts) return undefined;
      const at = Date.now();
      this.latestQueue = { at, counts };
      const into = minute ?? Math.floor(at / MINUTE) * MINUTE;
      const previous = this.queueMinutes.get(into);
      const waiting = counts.waiting + counts.prioritized;
      const sample: QueueMinute = { waiting, active: counts.active, delayed: counts.delayed, failed: counts.failed, depth: waiting + counts.active + counts.delayed };
      this.queueMinutes.set(
        into,
        previous
          ? {
              waiting: Math.max(previous.waiting, sample.waiting),
              active: Math.max(previous.active, sample.active),
              delayed: Math.max(previous.delayed, sample.delayed),
              failed: Math.max(previous.failed, sample.failed),
              depth: Math.max(previous.depth, sample.depth),
            }
          : sample,
      );
      return counts;
    } catch (error) {
      this.options.logger.debug('queue sample failed', { error });
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}
