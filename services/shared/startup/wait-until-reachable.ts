import { setTimeout as delay } from 'node:timers/promises';
import { isConnectionError } from '../database/database-errors.js';
import type { Logger } from '../logging/logger.js';
import { StartAbortedError } from './start-aborted-error.js';

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
  /** Stops the wait (a shutdown signal during the start): the attempt in flight is abandoned, not awaited. */
  abort?: AbortSignal;
}

/**
 * Runs `attempt` until it succeeds, retrying while its dependency is not reachable yet (a fresh install starts the
 * app before its database accepts connections), with one warning line per retry and a growing pause (1 s … 5 s).
 * Past the budget, or on any other error, the error is thrown: the start fails with it.
 * @throws StartAbortedError as soon as `options.abort` fires, whether an attempt or a pause was under way.
 */
export async function waitUntilReachable<T>(attempt: () => Promise<T>, options: WaitUntilReachableOptions): Promise<T> {
  const deadline = Date.now() + options.budgetMs;
  const retryable = options.isRetryable ?? isConnectionError;
  const aborted = abortedAsError(options.abort, options.what);
  for (let tries = 1; ; tries++) {
    try {
      // An attempt can take a connection timeout (3 s) to fail; a stop should not wait for it.
      return await Promise.race([attempt(), aborted]);
    } catch (error) {
      if (error instanceof StartAbortedError || !retryable(error) || Date.now() >= deadline) throw error;
      const pause = Math.min(1000 * tries, 5000, Math.max(0, deadline - Date.now()));
      const message = options.retryMessage?.(error) ?? `${options.what} not reachable yet; retrying`;
      options.logger.warn(message, { attempt: tries, retryInMs: pause, error });
      await Promise.race([delay(pause), aborted]);
    }
  }
}

/** A promise that rejects with {@link StartAbortedError} once `abort` fires (at once if it already has), else never. */
function abortedAsError(abort: AbortSignal | undefined, what: string): Promise<never> {
  const aborted = new Promise<never>((_resolve, reject) => {
    if (abort?.aborted) reject(new StartAbortedError(what));
    else abort?.addEventListener('abort', () => reject(new StartAbortedError(what)), { once: true });
  });
  aborted.catch(() => undefined); // observed by the races above; never an unhandled rejection on its own
  return aborted;
}
