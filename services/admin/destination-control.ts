import type { Queue } from 'bullmq';
import type { Pool } from 'pg';
import { destinationPolicy, type PolicySource } from '../shared/destinations/destination-policy.js';
import type { DestinationPauses } from '../shared/destinations/destination-pauses.js';
import type { DestinationStateStore } from '../shared/destinations/destination-state.js';
import { HeldPromotionError, heldSummaries, promoteHeldJobs } from '../shared/destinations/held-events.js';
import { PendingPromotions } from '../shared/destinations/pending-promotions.js';
import type { Logger } from '../shared/logging/logger.js';
import type { DestinationState, RemovedPause } from './admin-views.js';

export interface DestinationControlOptions {
  state: DestinationStateStore;
  pauses: DestinationPauses;
  /** The ingress's pool: waiting events are read and their jobs found through it. */
  pool: Pool;
  queue: Queue;
  routes: PolicySource | undefined;
  logger: Logger;
  /**
   * How many held events a resume promotes before it answers ({@link RESUME_FIRST_PASS} unless set: tests make it
   * small to stand for a large backlog).
   */
  promotionBatchSize?: number;
}

/** The longest-held events a resume promotes before it answers; the follow-up promotes the rest. */
const RESUME_FIRST_PASS = 10_000;

/** How long after a resume its jobs are promoted once more. */
const FOLLOW_UP_PROMOTE_MS = 2000;

/**
 * Pause, resume and the state of every destination, for the admin API. A pause is recorded in PostgreSQL and copied
 * to Redis before the answer, so no delivery starts to a paused destination once it is acknowledged. A resume also
 * promotes the jobs of the events waiting for the destination, so they go at once rather than when their wait ends.
 */
export class DestinationControl {
  /** The second promotions of recent resumes, still to come or running (and tried again should Redis fail them). */
  private readonly followUps: PendingPromotions;
  /** Set by close(): the follow-up passes stop after their first batch. */
  private closing = false;

  constructor(private readonly options: DestinationControlOptions) {
    this.followUps = new PendingPromotions({ logger: options.logger });
  }

  /** Whether ROUTES_FILE has this destination. */
  has(name: string): boolean {
    return Object.hasOwn(this.options.routes?.destinations ?? {}, name);
  }

  /**
   * Whether `name` may be resumed: it is in ROUTES_FILE, or a pause is still recorded for it though ROUTES_FILE no
   * longer has it (removed while paused). Such a pause is kept on purpose, it applies again should the destination
   * come back under the same name, so an operator must be able to see and clear it.
   */
  async resumable(name: string): Promise<boolean> {
    if (this.has(name)) return true;
    return Object.hasOwn((await this.options.pauses.snapshot()).pausedAt, name);
  }

  /** The pauses recorded for destinations ROUTES_FILE does not have, by name. */
  async removedPauses(): Promise<RemovedPause[]> {
    return this.removedFrom((await this.options.pauses.snapshot()).pausedAt);
  }

  private removedFrom(pausedAt: Record<string, string>): RemovedPause[] {
    return Object.entries(pausedAt)
      .filter(([name]) => !this.has(name))
      .map(([name, at]) => ({ name, pausedAt: at }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async pause(name: string): Promise<{ changed: boolean }> {
    const changed = await this.options.pauses.set(name, true);
    this.options.logger.info(changed ? 'destination paused' : 'destination already paused', { destination: name });
    return { changed };
  }

  /**
   * Resumes `name` and promotes the jobs of the events waiting for it. The answer waits only for a bounded first pass
   * (the longest-held, at most {@link RESUME_FIRST_PASS} events) and says how many that promoted: a pass over
   * every held event, behind a backlog of millions, held the request open for minutes, past a proxy's timeout. The
   * rest are promoted by the follow-up pass 2 s later (in the background), which goes through every held event.
   */
  async resume(name: string): Promise<{ changed: boolean; promoted: number }> {
    const changed = await this.options.pauses.set(name, false);
    const firstPass = this.options.promotionBatchSize ?? RESUME_FIRST_PASS;
    // Redis took the resume but failed the promotion (stopped answering meanwhile): the resume is in effect all the
    // same, so it is answered as done; the follow-up below tries the promotion again, the jobs' recheck after it.
    const promoted = await promoteHeldJobs(this.options.pool, this.options.queue, name, { limit: firstPass }).catch((error: unknown) => {
      if (!(error instanceof HeldPromotionError)) throw error;
      this.options.logger.warn('could not promote waiting events', { destination: name, promoted: error.promoted, error });
      return error.promoted;
    });
    // Once more a moment later, through every held event: the rest of a backlog larger than the first pass, and a job
    // that was putting itself off while the resume landed (gone back to waiting since). A close (a drain) stops it
    // once it has gone through as many as the first pass (where those put-off jobs are, the longest-held), rather than holding
    // the drain for the whole backlog. What it leaves is promoted by nothing else: the pause resync promotes only
    // after it copied a change to Redis (this resume was copied before the answer), so those events go at their jobs'
    // own recheck (PAUSED_RECHECK_MS, about 5 minutes), or, for a destination no longer in ROUTES_FILE, at the
    // worker's pass over removed destinations (RemovedDestinationRelease).
    const followUp = () =>
      promoteHeldJobs(this.options.pool, this.options.queue, name, { stopping: (handled) => this.closing && handled >= firstPass });
    this.followUps.add(followUp, FOLLOW_UP_PROMOTE_MS, { destination: name });
    this.options.logger.info(changed ? 'destination resumed' : 'destination was not paused', { destination: name, promoted });
    return { changed, promoted };
  }

  /**
   * Waits for the second promotions of the resumes of the last moments, each at its time (at most
   * {@link FOLLOW_UP_PROMOTE_MS} away): a drain closes the pool and Redis only after them. Cleared instead, they would
   * be lost, and a job that put itself off while its resume landed would wait for its recheck (minutes). Each stops
   * after its first batch (see resume), so a resume behind a large backlog does not hold the drain for minutes.
   */
  close(): Promise<void> {
    this.closing = true;
    return this.followUps.settle();
  }

  /** The state of each named destination. */
  async states(names: string[]): Promise<Map<string, DestinationState>> {
    return (await this.overview(names)).states;
  }

  /**
   * The state of each named destination and the pauses left by removed ones, read from one snapshot of the pauses,
   * so a pause set or cleared between two reads cannot show in one list and not the other.
   */
  async overview(names: string[]): Promise<{ states: Map<string, DestinationState>; removedPaused: RemovedPause[] }> {
    const [shared, pauses, held] = await Promise.all([
      this.options.state.read(names).catch((error: unknown) => {
        this.options.logger.warn('destination state unreadable (Redis)', { error });
        return undefined;
      }),
      this.options.pauses.snapshot(),
      heldSummaries(this.options.pool),
    ]);
    const heldByName = new Map(held.map((summary) => [summary.destination, summary]));
    const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);
    const states = new Map(
      names.map((name) => {
        const policy = destinationPolicy(this.options.routes, name);
        const view = shared?.views.find((v) => v.name === name);
        const circuit = policy.circuitBreaker && view?.circuit ? view.circuit : undefined;
        const waiting = heldByName.get(name);
        // Own fields only: a destination may be named `constructor` or `valueOf`, which every object inherits.
        const pausedAt = Object.hasOwn(pauses.pausedAt, name) ? pauses.pausedAt[name]! : null;
        const state: DestinationState = {
          // PostgreSQL is the record; Redis's copy is what workers act on. Paused if either says so: a Redis that
          // lost its data (an empty set until a worker copies the record back, never with the workers scaled to zero)
          // said `false` of a recorded pause, and a resume recorded but not copied yet still holds the deliveries.
          paused: pausedAt !== null || view?.paused === true,
          pausedAt,
          circuit: circuit?.state ?? null,
          consecutiveFailures: circuit?.consecutiveFailures ?? 0,
          circuitOpenedAt: circuit && circuit.state !== 'closed' ? iso(circuit.openedAt) : null,
          nextProbeAt: iso(circuit?.openUntil),
          waiting: { events: waiting?.events ?? 0, oldestSince: waiting ? waiting.oldestSince.toISOString() : null },
          rateLimit: policy.rateLimit ?? null,
          circuitBreaker: policy.circuitBreaker ?? null,
          ...(shared ? {} : { unavailable: true as const }),
        };
        return [name, state] as const;
      }),
    );
    return { states, removedPaused: this.removedFrom(pauses.pausedAt) };
  }
}
