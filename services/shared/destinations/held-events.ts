import { ErrorCode, type Job, type Queue } from 'bullmq';
import type { Pool } from 'pg';
import { eventJobId, type EventJobData } from '../queue/event-job.js';
import { stampReadyAt } from '../queue/job-ready-time.js';

/** Events waiting for one destination (paused, circuit open, rate limited). */
export interface HeldSummary {
  destination: string;
  events: number;
  /** Since when the longest-waiting of them has waited for this destination (not for others it waited for before). */
  oldestSince: Date;
}

/** Something that runs a query with parameters (a pg Pool, or TypeORM's DataSource through an adapter). */
export interface HeldEventsSource {
  query<Row>(text: string, values: unknown[]): Promise<{ rows: Row[] }>;
}

/**
 * SQL: since when the event of `row` (an alias of webhook_events) has waited for `destination` (an SQL expression
 * naming one of its `held_for`). Its own time in `held_since_by_destination`, written by the worker's finish: kept
 * while the destination stays in the wait, now() when it joins. `held_since` (the earliest of them) where the row has
 * none: written by a worker older than that column. And never earlier than `held_since`: an older worker rewrites
 * `held_for` and `held_since` but not the column, and starts `held_since` anew when a destination joins the wait, so
 * a time left there from before may be of an earlier wait of a destination that left and joined again. Then the wait
 * is understated (as the older worker had it), never overstated. This code's worker writes `held_since` as the
 * earliest of the times, so `greatest` leaves each as written.
 */
export const destinationHeldSince = (row: string, destination: string): string =>
  `greatest((${row}.held_since_by_destination ->> ${destination})::timestamptz, ${row}.held_since)`;

/** Largest number of events a scrape or an admin read counts per destination (the partial index bounds the rest). */
export const HELD_COUNT_CAP = 100_000;

/**
 * Events waiting per destination, from `webhook_events.held_for` (written by the worker's finish statement): the
 * partial index holds only waiting events, so this reads about as many rows as wait.
 */
export async function heldSummaries(source: HeldEventsSource): Promise<HeldSummary[]> {
  const { rows } = await source.query<{ destination: string; events: number; oldest: Date }>(
    `SELECT d AS destination, count(*)::int AS events, min(${destinationHeldSince('h', 'd')}) AS oldest
       FROM (SELECT held_for, held_since, held_since_by_destination FROM webhook_events WHERE held_for IS NOT NULL LIMIT $1) h,
            unnest(h.held_for) AS d
      GROUP BY d ORDER BY d`,
    [HELD_COUNT_CAP],
  );
  return rows.map((row) => ({ destination: row.destination, events: row.events, oldestSince: new Date(row.oldest) }));
}

/** Held events a promotion pass reads at a time ({@link promoteHeldJobs}). */
export const HELD_PROMOTION_BATCH = 50_000;

/**
 * Moves the delayed jobs of events waiting for `destination` into the queue's waiting line (behind the jobs waiting
 * there already: BullMQ's promote adds at the end the workers take from last), so they are tried as soon as a worker
 * reaches them rather than when their delay ends (after a resume, or when a probe closed the circuit). A job no longer delayed
 * (running, already promoted, gone) is left as it is: the event's delayed job or the reconciler brings it back.
 * Only PENDING events (waiting and nothing else): a FAILED event also waits out the backoff of another destination's
 * failed attempt, and promoting it would retry that destination at once and spend one of its attempts.
 * Oldest first by the time each has waited for this destination ({@link destinationHeldSince}), so they are taken in
 * that order, and a bounded pass (`limit`) promotes the longest-held: by the event's `held_since` (the earliest of its
 * times, for any destination), an event that had waited hours for another destination and only a moment for this one
 * went before one held for this destination all along.
 * Without `limit` the pass goes through every such event: the first HELD_COUNT_CAP (100,000) in that order, the rest
 * (a larger backlog) {@link HELD_PROMOTION_BATCH} at a time in the order of their `held_since`. It stopped at the
 * first 100,000, and the events past them waited for their recheck (PAUSED_RECHECK_MS, 5 minutes), or, behind a
 * destination no longer configured, until the next worker's start.
 * `stopping`, when it answers true, ends the pass before its next job (a draining worker: see RemovedDestinationRelease);
 * it is given how many held events the pass has gone through so far (a resume's background pass, closed, still goes
 * through its first batch: see DestinationControl).
 * Any other failure of Redis (a command timed out, the connection closed, a refusal) ends the pass too, once the jobs
 * already asked about are answered, and rejects with a {@link HeldPromotionError}: a Redis gone silent answers each
 * job only at the connection's command timeout, so going on through hundreds of jobs held a drain (or a resume) for
 * minutes, to promote nothing. The caller says so and tries again later (its next pass, a resume's follow-up).
 * @returns how many jobs were promoted
 */
export async function promoteHeldJobs(
  pool: Pick<Pool, 'query'>,
  queue: Queue,
  destination: string,
  {
    limit = Infinity,
    firstBatchSize = HELD_COUNT_CAP,
    batchSize = HELD_PROMOTION_BATCH,
    concurrency = 16,
    stopping = () => false,
  }: { limit?: number; firstBatchSize?: number; batchSize?: number; concurrency?: number; stopping?: (handled: number) => boolean } = {},
): Promise<number> {
  let promoted = 0;
  /** Held events gone through (promoted or not), for `stopping`. */
  let handled = 0;
  let failure: { error: unknown } | undefined;
  const promoteAll = async (rows: { id: string; replays: number }[]): Promise<void> => {
    let next = 0;
    const promoteNext = async (): Promise<void> => {
      while (next < rows.length && !failure && !stopping(handled)) {
        const { id, replays } = rows[next++]!;
        handled++;
        try {
          const job = (await queue.getJob(eventJobId(id, replays))) as Job<EventJobData> | undefined;
          if (job && (await promoteIfDelayed(job))) promoted++;
        } catch (error) {
          // Redis failing: the other lanes stop before their next job.
          failure ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, rows.length) }, promoteNext));
  };

  // The longest-held for this destination first, in that order. No index has the order (it is per destination), so
  // this reads every held event once and sorts them: done once per pass, not once per batch, which made a pass over
  // N held events read N²/batch rows.
  const first = Math.min(limit, firstBatchSize);
  const { rows } = await pool.query<{ id: string; replays: number }>(
    `SELECT id, replays FROM webhook_events h
      WHERE held_for IS NOT NULL AND $1 = ANY(held_for) AND status = 'PENDING'
      ORDER BY ${destinationHeldSince('h', '$1::text')} NULLS FIRST, id LIMIT $2`,
    [destination, first],
  );
  await promoteAll(rows);
  let read = rows.length;
  if (rows.length < first || read >= limit) return ended();

  // More than the first read holds (a backlog past HELD_COUNT_CAP): the rest by `held_since`, `batchSize` at a time,
  // each batch from where the last ended. PostgreSQL reads a batch as a range of the partial index on `held_since`
  // (ix_webhook_events_held) from that point on, sorted (it cannot tell how many rows `= ANY(held_for)` keeps, so it
  // does not walk the index in order), so a batch costs the held events still ahead of it: batches of 50,000 keep
  // that to about 20 passes for a million (300,000 held events: 0.35-0.55 s a read, a scratch EXPLAIN ANALYZE).
  // The events of the first read come round again and are skipped. An event with no held_since (written by no
  // current worker) is not in this order: only the first read, which puts such events first, finds it.
  const seen = new Set(rows.map((row) => row.id));
  let after = { heldSince: '-infinity', id: '00000000-0000-0000-0000-000000000000' };
  while (read < limit && !failure && !stopping(handled)) {
    const { rows: batch } = await pool.query<{ id: string; replays: number; held_since_text: string }>(
      `SELECT id, replays, held_since::text AS held_since_text FROM webhook_events
        WHERE held_for IS NOT NULL AND $1 = ANY(held_for) AND status = 'PENDING'
          AND held_since >= $3::timestamptz AND (held_since, id) > ($3::timestamptz, $4::uuid)
        ORDER BY held_since, id LIMIT $2`,
      [destination, batchSize, after.heldSince, after.id],
    );
    const unseen = batch.filter((row) => !seen.has(row.id)).slice(0, limit - read);
    read += unseen.length;
    await promoteAll(unseen);
    const last = batch.at(-1);
    if (!last || batch.length < batchSize) break;
    after = { heldSince: last.held_since_text, id: last.id };
  }
  return ended();

  function ended(): number {
    if (failure) throw new HeldPromotionError(destination, promoted, failure.error);
    return promoted;
  }
}

/**
 * A `stopping` for {@link promoteHeldJobs} in a process that may drain: once `draining()` answers true, the pass ends
 * after `cap` held events (HELD_COUNT_CAP: where a pass stopped before passes went through every held event). A drain
 * waits for the promotions in progress, and one behind a backlog of millions held it for minutes, past
 * SHUTDOWN_TIMEOUT_MS; the events it leaves go at their jobs' own recheck (PAUSED_RECHECK_MS).
 */
export function boundedWhenDraining(draining: () => boolean, cap = HELD_COUNT_CAP): (handled: number) => boolean {
  return (handled) => draining() && handled >= cap;
}

/**
 * The destinations events are held for, other than `known`, found one at a time (each query stops at its first such
 * event), so finding them reads no more held events than it must and never all of them at once: the summary
 * ({@link heldSummaries}) reads at most HELD_COUNT_CAP, and a destination held only by events past those went unseen.
 */
export async function heldForOtherThan(source: HeldEventsSource, known: Iterable<string>): Promise<string[]> {
  const found: string[] = [];
  const skip = [...known];
  for (;;) {
    const { rows } = await source.query<{ destination: string }>(
      `SELECT d AS destination FROM webhook_events h, unnest(h.held_for) AS d
        WHERE h.held_for IS NOT NULL AND d <> ALL($1::text[]) LIMIT 1`,
      [[...skip, ...found]],
    );
    if (rows.length === 0) return found;
    found.push(rows[0]!.destination);
  }
}

/**
 * Moves a delayed job into the queue's waiting line (behind the jobs waiting there already), ready from now on (not from when its delay would have ended: what
 * the queue-wait gauge counts from). False when it is not delayed (running, already promoted) or gone, also when it
 * started or was removed between the check and the promotion; rejects when Redis fails.
 */
export async function promoteIfDelayed(job: Job<EventJobData>): Promise<boolean> {
  try {
    if (!(await job.isDelayed())) return false;
    await stampReadyAt(job, Date.now());
    await job.promote();
    return true;
  } catch (error) {
    if (isJobLeftAsItIs(error)) return false;
    throw error;
  }
}

/** A pass of {@link promoteHeldJobs} ended by Redis failing; `promoted` jobs were promoted before it did. */
export class HeldPromotionError extends Error {
  constructor(
    readonly destination: string,
    readonly promoted: number,
    cause: unknown,
  ) {
    super(`promoting the jobs of the events waiting for "${destination}" stopped after ${promoted}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'HeldPromotionError';
  }
}

/**
 * BullMQ's refusal to promote a job that is not delayed or no longer exists (its script's answer, a numeric code):
 * the job moved on by itself, which is no failure of the pass.
 */
function isJobLeftAsItIs(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === ErrorCode.JobNotInState || code === ErrorCode.JobNotExist;
}
