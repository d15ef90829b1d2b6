import type { Queue } from 'bullmq';
import type { Pool } from 'pg';
import { heldForOtherThan, promoteHeldJobs } from '../../shared/destinations/held-events.js';
import type { Logger } from '../../shared/logging/logger.js';
import { ScheduledPasses } from './scheduled-passes.js';

export interface RemovedDestinationReleaseOptions {
  pool: Pool;
  queue: Queue;
  /** The destinations this ROUTES_FILE has: events held for any other are sent on. */
  configured: ReadonlySet<string>;
  /**
   * When the passes run: the first this long after start, each next one this long after the previous one ended. By
   * default at start, and once more a minute later: a worker of the rollout's previous version may have put one of the
   * events off again meanwhile.
   */
  delaysMs?: readonly number[];
  logger: Logger;
}

const DEFAULT_DELAYS_MS = [0, 60_000] as const;

/**
 * Events waiting for a destination this ROUTES_FILE no longer has (removed while paused, or behind its open circuit)
 * would sit out their wait, a paused one's recheck being minutes, though nothing will resume it (the admin API knows
 * no such destination): their jobs are promoted, and their next claim routes them by this ROUTES_FILE.
 *
 * stop() clears the passes still to come and waits for the one in progress, which ends after its current step (the
 * next worker's start promotes what it left; see ScheduledPasses).
 */
export class RemovedDestinationRelease {
  private readonly passes: ScheduledPasses;

  constructor(private readonly options: RemovedDestinationReleaseOptions) {
    this.passes = new ScheduledPasses({
      delaysMs: options.delaysMs ?? DEFAULT_DELAYS_MS,
      pass: () => this.runOnce(),
      onError: (error) => options.logger.warn('could not send on events waiting for removed destinations', { error }),
      // A pass can wait on a lock (up to the pool's statement timeout).
      onWaitAtStop: () => options.logger.info('shutdown waits for the pass sending on events held for removed destinations'),
    });
  }

  start(): void {
    this.passes.start();
  }

  stop(): Promise<void> {
    return this.passes.stop();
  }

  /** One pass: promotes the jobs of the events held for destinations not configured; returns how many. */
  async runOnce(): Promise<number> {
    // Not from heldSummaries: it reads at most HELD_COUNT_CAP held events, and a removed destination held only by events
    // past those was never found (its events waited, their recheck finding the destination paused, until a next start).
    const removed = await heldForOtherThan(this.options.pool, this.options.configured);
    let total = 0;
    for (const destination of removed) {
      if (this.passes.stopping) break;
      const promoted = await promoteHeldJobs(this.options.pool, this.options.queue, destination, { stopping: () => this.passes.stopping });
      if (promoted > 0) this.options.logger.info('events waiting for a destination no longer in ROUTES_FILE sent on', { destination, promoted });
      total += promoted;
    }
    return total;
  }
}
