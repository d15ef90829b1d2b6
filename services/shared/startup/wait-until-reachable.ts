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
  /** Failures waited out with one warning for the whole wait rather than one per retry (see {@link WaitOut}). */
  waitOut?: WaitOut;
}

/**
 * A refusal that is waited out like an unreachable dependency, but reported once: the dependency's credentials
 * refused while the Secret holding the password is still being created or rotated (external-secrets, a chart's
 * password job, just after the pods start). A warning per retry would repeat the same line for minutes.
 */
export interface WaitOut {
  /** Whether `error` is such a refusal (it is then retried, whatever `isRetryable` says). */
  matches: (error: unknown) => boolean;
  /** The one warning, logged on the first such refusal of the wait. */
  warning: (error: unknown) => string;
  /** The info line logged when an attempt succeeds after such a refusal. */
  accepted: string;
}

/**
 * Runs `attempt` until it succeeds, retrying while its dependency is not reachable yet (a fresh install starts the
 * app before its database accepts connections), with one warning line per retry and a growing pause (1 s … 5 s); the
 * failures `options.waitOut` matches are retried the same way with one warning for the whole wait.
 * Past the budget, or on any other error, the error is thrown: the start fails with it.
 * @throws StartAbortedError as soon as `options.abort` fires, whether an attempt or a pause was under way.
 */
export async function waitUntilReachable<T>(attempt: () => Promise<T>, options: WaitUntilReachableOptions): Promise<T> {
  const deadline = Date.now() + options.budgetMs;
  const retryable = options.isRetryable ?? isConnectionError;
  const aborted = abortedAsError(options.abort, options.what);
  let waitingOut = false;
  for (let tries = 1; ; tries++) {
    try {
      // An attempt can take a connection timeout (3 s) to fail; a stop should not wait for it.
      const result = await Promise.race([attempt(), aborted]);
      if (waitingOut) options.logger.info(options.waitOut!.accepted, { attempts: tries });
      return result;
    } catch (error) {
      const waitOut = options.waitOut?.matches(error) === true;
      if (error instanceof StartAbortedError || !(waitOut || retryable(error)) || Date.now() >= deadline) throw error;
      const pause = Math.min(1000 * tries, 5000, Math.max(0, deadline - Date.now()));
      if (waitOut) {
        // Once for the whole wait: the line at the deadline, or the accepted one, says how it ended.
        if (!waitingOut) options.logger.warn(options.waitOut!.warning(error), { attempt: tries, waitMs: Math.max(0, deadline - Date.now()), error });
        waitingOut = true;
      } else {
        const message = options.retryMessage?.(error) ?? `${options.what} not reachable yet; retrying`;
        options.logger.warn(message, { attempt: tries, retryInMs: pause, error });
      }
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
