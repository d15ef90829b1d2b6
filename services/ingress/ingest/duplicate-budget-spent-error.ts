import { AppError } from '../../shared/errors/app-error.js';

/**
 * A verified webhook that is a duplicate (stored before), from a client past its duplicate budget (DuplicateBudget):
 * 429 with Retry-After, outcome `duplicate_rate_limited`. Nothing is lost: the event is stored already.
 */
export class DuplicateBudgetSpentError extends AppError {
  /** @param retryAfterSeconds when the client's budget is renewed (the window's end), at least 1 */
  constructor(readonly retryAfterSeconds: number) {
    super('TOO_MANY_REQUESTS', `Too many duplicate webhooks from this address (this one is stored already); try again in ${retryAfterSeconds} s`);
    this.name = 'DuplicateBudgetSpentError';
  }
}
