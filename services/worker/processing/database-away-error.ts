import { isDatabaseUnavailable } from '../../shared/database/database-errors.js';

/**
 * PostgreSQL unavailable (isDatabaseUnavailable) for a statement a delivery makes before it sends: the read of the
 * payload and headers its route's filter or transform (or a handler) works on, the confirmation of its claim after
 * a wait for a slot. Such a failure was taken for the destination's failed attempt ("internal error: Connection
 * terminated unexpectedly"): an outage longer than the reconnects between a claim and its sends used up the event's
 * attempts with nothing sent, and on the last one dead-lettered it (its finish, carried to the job's next run while
 * PostgreSQL was away, wrote that once it was back). Only these statements' errors are tagged: a deliverer's own
 * error with a socket's code (a destination's ECONNREFUSED) is the destination's failure, as before.
 */
export class DatabaseAwayError extends Error {
  readonly code = 'DATABASE_AWAY';
  constructor(cause: unknown) {
    super(`database unavailable: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'DatabaseAwayError';
  }
}

/** `statement`'s outcome; its failure tagged {@link DatabaseAwayError} when PostgreSQL was unavailable. */
export function beforeSend<T>(statement: Promise<T>): Promise<T> {
  return statement.catch((error: unknown) => {
    throw isDatabaseUnavailable(error) ? new DatabaseAwayError(error) : error;
  });
}
