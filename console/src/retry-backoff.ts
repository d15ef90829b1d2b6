/**
 * How long the console waits before trying a failed load again. While the admin API fails (an ingress restarting,
 * PostgreSQL down) polling at the normal interval would add load to a service that is already struggling, so each
 * failure in a row doubles the wait, up to a cap that keeps recovery visible within half a minute. A success returns
 * the view to its normal interval.
 */

/** The wait after the first failure. */
export const FIRST_RETRY_MS = 2000;
/** The longest wait: once the service is back, the console shows it within this long. */
export const MAX_RETRY_MS = 30_000;

/**
 * The wait after `failures` failed loads in a row (1 after the first): {@link FIRST_RETRY_MS} doubled per further
 * failure, at most {@link MAX_RETRY_MS}, less up to a fifth at random, so that the consoles an outage failed together
 * do not all come back in the same instant.
 */
export function retryDelayMs(failures: number, random: number = Math.random()): number {
  const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling * (1 - 0.2 * random));
}
