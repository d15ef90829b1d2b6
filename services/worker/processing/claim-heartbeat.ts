import type { Pool } from 'pg';
import type { Logger } from '../../shared/logging/logger.js';
import { RateLimitedLog } from '../../shared/logging/rate-limited-log.js';

/**
 * How often a worker looks for runs to refresh, and how old a run's last heartbeat (its claim, or its last refresh)
 * must be to be refreshed then: a sixth of WORKER_LOCK_DURATION_MS. A live run's heartbeat is therefore never older
 * than about a third of it (a look just before it came due, the next one after).
 */
export function heartbeatIntervalMs(lockDurationMs: number): number {
  return lockDurationMs / 6;
}

/**
 * How recent another run's claim or heartbeat must be for a claim to leave the event to it (see processing-store.ts):
 * two fifths of WORKER_LOCK_DURATION_MS. Above a live run's greatest heartbeat age (a third), with room for a slow
 * statement; below the least age BullMQ's stalled-job check finds on a dead or stalled worker's heartbeat (a half):
 * it hands a job out again once the job's lock has gone unrenewed for the whole lock duration, and BullMQ renews a
 * lock at most half a lock duration after the last renewal (every quarter, those older than a quarter), while the
 * worker heartbeats until it dies or stalls. So that claim still takes the run over at once, as before the heartbeat.
 */
export function liveClaimWindowMs(lockDurationMs: number): number {
  return (lockDurationMs * 2) / 5;
}

/**
 * How long after its claim a delivery confirms the claim before it sends (EventProcessor's confirmClaimAfterMs): half
 * the live-claim window, so that a delivery sent sooner cannot have lost its event to another claim, and one that
 * confirmed has the other half for its send.
 */
export function confirmClaimAfterMs(lockDurationMs: number): number {
  return liveClaimWindowMs(lockDurationMs) / 2;
}

// Through the primary key (id with its token): `claim_token` has no index. In id order, like the claim and finish
// batches, so that statements locking the same rows lock them in one order. The status guard compares `status || ''`
// for the reason given in processing-store.ts (no partial console index). The claim time (`updated_at`) is not
// touched: it is part of the claim's identity, which the finish guards on.
const REFRESH = {
  name: 'claim-heartbeat-v1',
  text: `UPDATE webhook_events e SET claim_heartbeat_at = now()
           FROM unnest($1::uuid[], $2::uuid[]) AS r(id, token)
          WHERE e.id = r.id AND e.claim_token = r.token AND (e.status || '') = 'PROCESSING'`,
};

interface Run {
  eventId: string;
  token: string;
  /**
   * When its claim or its last refresh was asked, no later than PostgreSQL wrote it (performance.now(): monotonic, the
   * clock the processor counts its claims' age on; a wall clock stepped back would hold refreshes back by as much).
   */
  beatAt: number;
}

export interface ClaimHeartbeatOptions {
  pool: Pool;
  /** WORKER_LOCK_DURATION_MS: sets the interval ({@link heartbeatIntervalMs}). */
  lockDurationMs: number;
  logger: Logger;
}

/**
 * Says, for the runs this worker has in progress, that their worker is alive (`claim_heartbeat_at`), so that neither
 * another job's claim nor the reconciler takes a slow live run (its last attempt waiting minutes for a destination's
 * slot, its job lost with Redis's data) for the run of a worker that died. Normal events finish in milliseconds,
 * long before a refresh is due: they cost nothing here but a map entry (the claim sets the first heartbeat). The runs
 * due are refreshed together, in one statement. A worker whose event loop is blocked refreshes nothing, so it is taken
 * over as before; a refresh that fails is logged, never fatal (the run goes on; another claim may take it over).
 */
export class ClaimHeartbeat {
  private readonly runs = new Set<Run>();
  private readonly intervalMs: number;
  private timer?: NodeJS.Timeout;
  private beating?: Promise<number>;
  /** A PostgreSQL outage fails every refresh: one line a minute, with the count. */
  private readonly failures: RateLimitedLog;

  constructor(private readonly options: ClaimHeartbeatOptions) {
    this.intervalMs = heartbeatIntervalMs(options.lockDurationMs);
    this.failures = new RateLimitedLog((fields) =>
      options.logger.warn('claim heartbeat not written; runs in progress may be taken over by another claim if this lasts', fields),
    );
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      // One refresh at a time: a slow one is not queued behind by the next look.
      if (!this.beating) this.beating = this.beatOnce().finally(() => (this.beating = undefined));
    }, this.intervalMs).unref();
  }

  /** Stops refreshing (after the worker's runs ended: a drain's runs keep theirs until then). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.beating;
    this.failures.flush();
  }

  /**
   * Keeps the claim `token` of the event's run alive until the returned function is called (when the run ends,
   * however it ends). The claim itself set the first heartbeat, so the run is due an interval after `claimAskedAt`
   * (performance.now() when the claim was asked), not after its answer: PostgreSQL wrote the heartbeat before the
   * answer came, and another claim judges the run by what it wrote. Counted from the answer, a worker that stalled as
   * the answer came in (over the window's margin, a fifteenth of the lock) let the run's heartbeat pass the live-claim
   * window while it looked on schedule, and another claim took the live run over (test claim-heartbeat).
   */
  track(eventId: string, token: string, claimAskedAt: number): () => void {
    const run: Run = { eventId, token, beatAt: claimAskedAt };
    this.runs.add(run);
    return () => {
      this.runs.delete(run);
    };
  }

  /** Refreshes the runs whose heartbeat is due (none: no statement); how many it refreshed. */
  async beatOnce(now = performance.now()): Promise<number> {
    const due = [...this.runs].filter((run) => now - run.beatAt >= this.intervalMs);
    if (due.length === 0) return 0;
    due.sort((a, b) => (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
    try {
      await this.options.pool.query({ ...REFRESH, values: [due.map((run) => run.eventId), due.map((run) => run.token)] });
    } catch (error) {
      this.failures.note({ runs: due.length, error });
      return 0;
    }
    for (const run of due) run.beatAt = now;
    return due.length;
  }
}
