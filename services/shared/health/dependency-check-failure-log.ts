import type { Logger } from '../logging/logger.js';
import { RateLimitedLog } from '../logging/rate-limited-log.js';
import { healthFailureCategory } from './health-failure-category.js';

/**
 * The full error of each failed dependency check, for operators: `/health` shows only its category (see
 * health-failure-category.ts), the log line `dependency check failed` has the category and the driver's own error.
 *
 * Rate-limited like the other dependency logs: the checks run on every readiness probe and every `/health` request
 * (anyone can send those), so a dependency down for an hour would otherwise write a line per probe. One limiter per
 * dependency and category: the first failure of a kind is written at once, its repeats once a minute with their
 * count, and a change of cause (refused, then authentication failed) is written when it happens, not a minute later.
 * The categories are a fixed, short list, so that bounds the lines too.
 */
export class DependencyCheckFailureLog {
  private readonly limiters = new Map<string, RateLimitedLog>();

  constructor(
    private readonly logger: Pick<Logger, 'warn'>,
    private readonly intervalMs = 60_000,
  ) {}

  /** One failed check of `dependency` (the health router's and the dependency gauge's `onFailure`). */
  readonly note = (dependency: string, error: unknown): void => {
    const category = healthFailureCategory(error);
    const key = `${dependency}\u0000${category}`;
    let limiter = this.limiters.get(key);
    if (limiter === undefined) {
      limiter = new RateLimitedLog((fields) => this.logger.warn('dependency check failed', fields), this.intervalMs);
      this.limiters.set(key, limiter);
    }
    limiter.note({ dependency, category, error: asError(error) });
  };
}

/** The logger serialises only Errors (name, message, code, stack, cause); a socket error of another realm is kept by its text. */
function asError(error: unknown): Error {
  if (error instanceof Error) return error;
  const message = (error as { message?: unknown } | null)?.message;
  return Object.assign(new Error(typeof message === 'string' ? message : String(error)), { code: (error as { code?: unknown } | null)?.code });
}
