import { AppError } from '../../shared/errors/app-error.js';

/**
 * A verified webhook refused because the process's StoreQueueBudget has no room for it now: too many webhooks are
 * waiting to be stored (PostgreSQL slow or silent). 503 with Retry-After, outcome `overloaded`; nothing was stored.
 */
export class StoreQueueFullError extends AppError {
  constructor() {
    super('SERVICE_UNAVAILABLE', 'Too many webhooks are waiting to be stored; retry later');
    this.name = 'StoreQueueFullError';
  }
}
