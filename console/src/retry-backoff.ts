/**
 * How long the console waits before trying a failed load again. While the admin API fails (an ingress restarting,
 * PostgreSQL down) polling at the normal interval would add load to a service that is already struggling, so each
 * failure in a row doubles the wait, up to a cap that keeps recovery visible within half a minute. An answer that
 * says how long to wait (429 or 503 with `Retry-After`) is waited out at least that long. A success returns the view
 * to its normal interval.
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

/**
 * The longest `Retry-After` waited out (10 min): a proxy's larger value is more likely a mistake than a plan, and a
 * view that never came back on its own would look broken. The note under the error says when the next try is.
 */
export const MAX_RETRY_AFTER_MS = 600_000;

/**
 * A `Retry-After` header (delay-seconds, or an HTTP-date) as ms from `now`, at most {@link MAX_RETRY_AFTER_MS};
 * undefined when absent or unreadable, 0 for a date already past.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    // An HTTP-date names its day and month (`Wed, 21 Oct 2015 07:28:00 GMT`); "-5" or "1.5" is neither form.
    if (!/^[A-Za-z]{3},? /.test(text)) return undefined;
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/**
 * The wait after `failures` failed loads in a row whose last failure was `error`: {@link retryDelayMs}, or the
 * answer's `Retry-After` when that is longer (the admin API's 429 for an address past its wrong-token budget says
 * when the minute ends, and every try before then is refused again).
 */
export function failedLoadDelayMs(failures: number, error: unknown, random: number = Math.random()): number {
  const retryAfterMs = (error as { retryAfterMs?: unknown } | null)?.retryAfterMs;
  const backoff = retryDelayMs(failures, random);
  return typeof retryAfterMs === 'number' ? Math.max(backoff, retryAfterMs) : backoff;
}

/**
 * Whether a failed load is tried again on its own: not when the admin API refused the request itself (a 4xx other
 * than 408 or 429: a link to an event that does not exist, a filter it cannot take), which asking again cannot change;
 * the view keeps its error until the operator asks for something else (a 401 signs the console out before this).
 */
export function retriesOnItsOwn(error: unknown): boolean {
  const status = (error as { status?: unknown } | null)?.status;
  return !(typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429);
}

/** When a failed load is tried again (ms since the epoch) and the wait chosen: what the view's note shows. */
export interface Retry {
  at: number;
  delayMs: number;
}

/**
 * The retry after the `failures`-th failed load in a row, which ended in `error`: {@link failedLoadDelayMs} from
 * `now`, or undefined when the load is not tried again on its own ({@link retriesOnItsOwn}).
 */
export function retryAfterFailure(failures: number, error: unknown, now: number = Date.now()): Retry | undefined {
  if (!retriesOnItsOwn(error)) return undefined;
  const delayMs = failedLoadDelayMs(failures, error);
  return { at: now + delayMs, delayMs };
}
