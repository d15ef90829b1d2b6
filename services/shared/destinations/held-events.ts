import type { Job, Queue } from 'bullmq';
import type { Pool } from 'pg';
import { eventJobId, type EventJobData } from '../queue/event-job.js';
import { stampReadyAt } from '../queue/job-ready-time.js';

/** Events waiting for one destination (paused, circuit open, rate limited). */
export interface HeldSummary {
  destination: string;
  events: number;
  /** Since when the longest-waiting of them has waited. */
  oldestSince: Date;
}

/** Something that runs a query with parameters (a pg Pool, or TypeORM's DataSource through an adapter). */
export interface HeldEventsSource {
  query<Row>(text: string, values: unknown[]): Promise<{ rows: Row[] }>;
}

/** Largest number of events a scrape or an admin read counts per destination (the partial index bounds the rest). */
export const HELD_COUNT_CAP = 100_000;

/**
 * Events waiting per destination, from `webhook_events.held_for` (written by the worker's finish statement): the
 * partial index holds only waiting events, so this reads about as many rows as wait.
 */
export async function heldSummaries(source: HeldEventsSource): Promise<HeldSummary[]> {
  const { rows } = await source.query<{ destination: string; events: number; oldest: Date }>(
    `SELECT d AS destination, count(*)::int AS events, min(h.held_since) AS oldest
       FROM (SELECT held_for, held_since FROM webhook_events WHERE held_for IS NOT NULL LIMIT $1) h, unnest(h.held_for) AS d
      GROUP BY d ORDER BY d`,
    [HELD_COUNT_CAP],
  );
  return rows.map((row) => ({ destination: row.destination, events: row.events, oldestSince: new Date(row.oldest) }));
}

/**
 * Moves the delayed jobs of events waiting for `destination` to the front of the queue, so they are tried at once
 * rather than when their delay ends (after a resume, or when a probe closed the circuit). A job no longer delayed
 * (running, already promoted, gone) is left as it is: the event's delayed job or the reconciler brings it back.
 * Only PENDING events (waiting and nothing else): a FAILED event also waits out the backoff of another destination's
 * failed attempt, and promoting it would retry that destination at once and spend one of its attempts.
 * @returns how many jobs were promoted
 */
export async function promoteHeldJobs(pool: Pick<Pool, 'query'>, queue: Queue, destination: string, { limit = HELD_COUNT_CAP, concurrency = 16 } = {}): Promise<number> {
  const { rows } = await pool.query<{ id: string; replays: number }>(
    `SELECT id, replays FROM webhook_events WHERE held_for IS NOT NULL AND $1 = ANY(held_for) AND status = 'PENDING' ORDER BY held_since LIMIT $2`,
    [destination, limit],
  );
  let promoted = 0;
  let next = 0;
  const promoteNext = async (): Promise<void> => {
    while (next < rows.length) {
      const { id, replays } = rows[next++]!;
      try {
        const job = (await queue.getJob(eventJobId(id, replays))) as Job<EventJobData> | undefined;
        if (job && (await job.isDelayed())) {
          // Ready from now on (not from when its delay would have ended): what the queue-wait gauge counts from.
          await stampReadyAt(job, Date.now());
          await job.promote();
          promoted++;
        }
      } catch {
        // Not delayed any more (it started meanwhile) or removed: nothing to promote.
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, rows.length) }, promoteNext));
  return promoted;
}
