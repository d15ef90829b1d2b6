import type { Redis } from 'ioredis';
import { isUuid } from '../../shared/text/uuid.js';

/** Where a reconciler pass stopped in (updated_at, id) order; updated_at as PostgreSQL's text (microseconds kept). */
export interface StaleCursor {
  updatedAt: string;
  id: string;
}

// What the pass's statement takes as its timestamptz: a cursor it could not read would fail every pass from then on.
const POSTGRES_TIMESTAMP = /^(-infinity|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d(:\d\d){0,2})$/;

/**
 * The reconciler's state that every worker shares, in Redis under the queue's prefix: whose turn the next pass is, and
 * where the last pass stopped.
 *
 * Why: every worker runs the reconciler's timer, and the advisory lock only keeps their passes from overlapping. With
 * N workers there were N passes an interval, each reading up to 10,000 stale events and looking up their jobs, and each
 * walking from a cursor of its own. During a backlog (stale events whose jobs are still waiting) that is exactly when
 * KEDA has scaled the workers out: N times the reads, for nothing, in PostgreSQL and Redis at their busiest. With
 * turns, a pass starts at most once per RECONCILER_INTERVAL_MS across all workers, and it goes on from where the last
 * one stopped, on whichever worker that ran.
 *
 * Lost with Redis's data (a flush, a failover to an empty replica): the next pass takes its turn and starts at the
 * oldest stale event, as a new worker's first pass does. Redis unreachable: the pass fails as it would at its first
 * job lookup (it needs Redis for those anyway).
 */
export class ReconcilerTurns {
  private readonly turnKey: string;
  private readonly cursorKey: string;

  /** `key`: the queue's `<prefix>:<name>`, under which the two keys live. */
  constructor(
    private readonly redis: Redis,
    key: string,
  ) {
    this.turnKey = `${key}:reconciler:turn`;
    this.cursorKey = `${key}:reconciler:cursor`;
  }

  /** Takes the turn for the next `intervalMs`: false when another worker's pass took it less than `intervalMs` ago. */
  async take(intervalMs: number): Promise<boolean> {
    return (await this.redis.set(this.turnKey, String(process.pid), 'PX', Math.max(1, Math.round(intervalMs)), 'NX')) === 'OK';
  }

  /** Where the last pass, on any worker, stopped; undefined when none is kept (or what is kept is not a cursor). */
  async cursor(): Promise<StaleCursor | undefined> {
    const text = await this.redis.get(this.cursorKey);
    if (!text) return undefined;
    try {
      const { updatedAt, id } = JSON.parse(text) as Partial<StaleCursor>;
      return typeof updatedAt === 'string' && POSTGRES_TIMESTAMP.test(updatedAt) && typeof id === 'string' && isUuid(id) ? { updatedAt, id } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Keeps where this pass got to, for the next pass wherever it runs. */
  async keep(cursor: StaleCursor): Promise<void> {
    await this.redis.set(this.cursorKey, JSON.stringify(cursor));
  }
}
