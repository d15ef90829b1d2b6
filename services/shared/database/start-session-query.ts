import type pg from 'pg';
import { DatabaseSilentError } from './database-silent-error.js';

/**
 * How long a statement of the start's own sessions waits for its answer. These statements are short (a lookup, a
 * try-lock, a CREATE DATABASE), which a loaded PostgreSQL answers in far less; a connection that stays silent longer
 * is given up for a fresh one while the start's deadline (STARTUP_WAIT_MS) lasts (after a failover the new primary
 * answers), and once past it the start fails: at most this long after the deadline.
 */
export const START_ANSWER_WAIT_MS = 5000;

/**
 * Runs one short statement on a session the start opened itself (the database check, the migrations' lock session),
 * or the roles' first `SELECT 1` on their pool (infrastructure.ts), waiting for its answer {@link START_ANSWER_WAIT_MS}
 * (the pool's own query_timeout, 20 s, let an ingress or worker start run that long past a short STARTUP_WAIT_MS). These sessions have no statement or query timeout, and TCP
 * keepalive does not notice a frozen server or a proxy that stopped forwarding (their kernels still acknowledge): a
 * PostgreSQL that answered the connection's startup and then went silent held the start for ever, until the startup
 * probe killed it with no line saying why. Unanswered, it fails with {@link DatabaseSilentError}; ending the session
 * then drops the connection (pg destroys the socket of a session whose statement awaits its answer, not waiting).
 * Never for the migrations' own statements (data-source.ts): an index build may rightly run for long.
 */
export async function queryStartSession<Row extends pg.QueryResultRow>(session: pg.Client | pg.Pool, text: string, values: unknown[] = []): Promise<pg.QueryResult<Row>> {
  try {
    // A pool passes the config on to its client, and discards the client whose statement got no answer.
    return await (session as pg.Client).query<Row>({ text, values, query_timeout: START_ANSWER_WAIT_MS } as pg.QueryConfig);
  } catch (error) {
    if ((error as { message?: unknown } | null)?.message === 'Query read timeout') throw new DatabaseSilentError(text, START_ANSWER_WAIT_MS, error);
    throw error;
  }
}
