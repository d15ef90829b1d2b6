import type { DestinationStateStore } from '../../shared/destinations/destination-state.js';
import type { Logger } from '../../shared/logging/logger.js';
import { ScheduledPasses } from '../maintenance/scheduled-passes.js';

export interface StaleCircuitsOptions {
  state: DestinationStateStore;
  /** The destinations this ROUTES_FILE gives a breaker: every other destination's circuit is dropped. */
  withBreaker: ReadonlySet<string>;
  /**
   * When the passes run: the first this long after start, each next one this long after the previous one ended. By
   * default at start, and once more a minute later: a worker of the rollout's previous version, which still had the
   * breaker, may have counted against the circuit meanwhile.
   */
  delaysMs?: readonly number[];
  logger: Logger;
}

const DEFAULT_DELAYS_MS = [0, 60_000] as const;

/**
 * Circuits left in Redis by a configuration that no longer applies: a destination whose breaker was turned off in
 * ROUTES_FILE, or that was removed from it. Kept, they applied again as they were once the breaker was turned on again
 * (or the destination came back), though nothing had counted the destination's successes meanwhile: a circuit opened
 * days ago held a healthy destination's events for the rest of its cooldown, failures counted then opened it early. A
 * worker that starts drops them (the pass at start, and once more a minute later); a breaker turned on again starts
 * closed, with no failures counted. A breaker kept across the restart keeps its circuit.
 *
 * A pass that fails (Redis unavailable) is logged; the next pass, or the next worker's start, drops what it left.
 * stop() clears the passes still to come and waits for the one in progress, before the drain closes Redis (see
 * ScheduledPasses).
 */
export class StaleCircuits {
  private readonly passes: ScheduledPasses;

  constructor(private readonly options: StaleCircuitsOptions) {
    this.passes = new ScheduledPasses({
      delaysMs: options.delaysMs ?? DEFAULT_DELAYS_MS,
      pass: () => this.runOnce(),
      onError: (error) => options.logger.warn('could not drop the circuits of destinations without a breaker; the next pass or start will', { error }),
    });
  }

  start(): void {
    this.passes.start();
  }

  stop(): Promise<void> {
    return this.passes.stop();
  }

  /** One pass; returns how many circuits were dropped. */
  async runOnce(): Promise<number> {
    const forgotten = await this.options.state.forgetCircuits(this.options.withBreaker);
    for (const { name, state, failures } of forgotten) {
      this.options.logger.info('circuit state of a destination without a breaker in ROUTES_FILE dropped (a breaker turned on again starts closed)', {
        destination: name,
        circuit: state,
        consecutiveFailures: failures,
      });
    }
    return forgotten.length;
  }
}
