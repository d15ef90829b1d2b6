import { isDatabaseUnavailable } from '../../shared/database/database-errors.js';

/**
 * PostgreSQL unavailable (isDatabaseUnavailable) for a statement a delivery makes before it sends: the read of the
 * payload and headers its route's filter or transform (or a handler) works on, the confirmation of its claim once it
 * holds its slot (late after the claim, or clearing its waiting mark). Such a failure was taken for the destination's failed attempt ("internal error: Connection
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

/**
 * Unavailable codes that may be this one statement's, not the database's: a statement timeout (57014: a read of one
 * large row on a slow disk) or an I/O error (class 58: one damaged block of one event's payload). The run's claim and
 * finish may go through all the while, so an event given back for them would come back every second for ever, never
 * counting an attempt; they stay the delivery's failed attempt, retried after the backoff and dead-lettered after
 * JOB_ATTEMPTS, as before.
 */
function mayBeStatementsOwn(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code ?? (error as { driverError?: { code?: unknown } } | null)?.driverError?.code;
  return code === '57014' || (typeof code === 'string' && code.length === 5 && code.startsWith('58'));
}

/**
 * `statement`'s outcome; its failure tagged {@link DatabaseAwayError} when PostgreSQL was unavailable as a whole
 * (unreachable, shutting down, out of connections, read-only, its schema not migrated yet), not for a reason that may
 * be the statement's own (see mayBeStatementsOwn).
 */
export function tagDatabaseAway<T>(statement: Promise<T>): Promise<T> {
  return statement.catch((error: unknown) => {
    throw isDatabaseUnavailable(error) && !mayBeStatementsOwn(error) ? new DatabaseAwayError(error) : error;
  });
}
