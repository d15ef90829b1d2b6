import type { Queue } from 'bullmq';
import type { Pool } from 'pg';
import type { DestinationPauses } from '../../shared/destinations/destination-pauses.js';
import { boundedWhenDraining, promoteHeldJobs } from '../../shared/destinations/held-events.js';
import type { Logger } from '../../shared/logging/logger.js';
import { repeating, ScheduledPasses } from './scheduled-passes.js';

export interface PauseResyncOptions {
  pool: Pool;
  queue: Queue;
  pauses: DestinationPauses;
  /** The destinations this ROUTES_FILE has: those of them not paused have their held jobs promoted after a copy. */
  destinations: readonly string[];
  /** Between the end of one run and the start of the next. */
  intervalMs: number;
  logger: Logger;
}

/**
 * Checks Redis's copy of the paused destinations against PostgreSQL's record every few seconds: a pause or resume
 * the admin API recorded while Redis did not answer takes effect soon after Redis does (a newer copy is never
 * overwritten by an older one). Runs never overlap (one waiting on a lock does not pile up others behind it).
 *
 * stop() clears the next run and waits for the one in progress, to its end: a run that copied a change is the only
 * one that promotes the held jobs of the destinations it resumed (the next run anywhere finds the copy there and
 * promotes nothing), so ending it early would leave those events waiting for their recheck (minutes). A drain closes
 * the pool and Redis only after it, so a run never goes on against closed connections.
 */
export class PauseResync {
  /** Its `stopping`, set by stop(): a run in progress bounds its promotions from then on (see boundedWhenDraining). */
  private readonly runs: ScheduledPasses;
  /**
   * Destinations a copy resumed whose held jobs are not all promoted yet (Redis failed during the promotion): the next
   * run promotes them, though it copies nothing (the copy is in Redis by then, so nothing else would).
   */
  private readonly unpromoted = new Set<string>();

  constructor(private readonly options: PauseResyncOptions) {
    this.runs = new ScheduledPasses({
      delaysMs: repeating(options.intervalMs, options.intervalMs),
      pass: () => this.runOnce(),
      // Redis or PostgreSQL down: the next run tries again; their own warnings say they are down.
      onError: (error) => options.logger.debug('pause resync failed', { error }),
      // A run can wait on a lock (up to the pool's statement timeout).
      onWaitAtStop: () => options.logger.info('shutdown waits for the pause resync'),
    });
  }

  start(): void {
    this.runs.start();
  }

  stop(): Promise<void> {
    return this.runs.stop();
  }

  /**
   * One run: copies the pauses to Redis if its copy is older; returns how many held jobs it promoted after a copy (or
   * after an earlier run's copy whose promotion Redis cut short). Rejects at the first promotion Redis fails (see
   * promoteHeldJobs): the destinations not done yet are promoted by the next run.
   */
  async runOnce(): Promise<number> {
    const { copied, names } = await this.options.pauses.syncToRedis();
    // A change recorded while Redis did not answer reached it only now. A resume promised to send the events waiting
    // for the destination at once; the admin API could not promote their jobs then, so this copy does, or they would
    // wait for their next recheck (minutes). (After a Redis that lost its copy this promotes too: harmless, as a
    // promoted job still waiting for its destination puts itself off again.)
    if (copied) for (const destination of this.options.destinations) if (!names.includes(destination)) this.unpromoted.add(destination);
    let promoted = 0;
    for (const destination of [...this.unpromoted]) {
      promoted += await promoteHeldJobs(this.options.pool, this.options.queue, destination, { stopping: boundedWhenDraining(() => this.runs.stopping) });
      this.unpromoted.delete(destination);
    }
    return promoted;
  }
}
