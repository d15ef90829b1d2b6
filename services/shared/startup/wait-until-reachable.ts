import { setTimeout as delay } from 'node:timers/promises';
import { isConnectionError } from '../database/database-errors.js';
import type { Logger } from '../logging/logger.js';

export interface WaitUntilReachableOptions {
  /** What is being reached, for the log line (e.g. 'database'). */
  what: string;
  /** Keep trying this long; 0 tries once. */
  budgetMs: number;
  logger: Logger;
  /** Which failures mean "not reachable yet" (default: connection-level errors); others are thrown at once. */
  isRetryable?: (error: unknown) => boolean;
  /** The warning for a retry (default: `<what> not reachable yet; retrying`). */
  retryMessage?: (error: unknown) => string;
}

/**
 * Runs `attempt` until it succeeds, retrying while its dependency is not reachable yet (a fresh install starts the
 * app before its database accepts connections), with one warning line per retry and a growing pause (1 s … 5 s).
 * Past the budget, or on any other error, the error is thrown: the start fails with it.
 */
export async function waitUntilReachable<T>(attempt: () => Promise<T>, options: WaitUntilReachableOptions): Promise<T> {
  const deadline = Date.now() + options.budgetMs;
  const retryable = options.isRetryable ?? isConnectionError;
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!retryable(error) || Date.now() >= deadline) throw error;
      const pause = Math.min(1000 * tries, 5000, Math.max(0, deadline - Date.now()));
      const message = options.retryMessage?.(error) ?? `${options.what} not reachable yet; retrying`;
      options.logger.warn(message, { attempt: tries, retryInMs: pause, error });
      await delay(pause);
    }
  }
}
