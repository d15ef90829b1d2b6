import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from '../logging/logger.js';
import { StartAbortedError } from '../startup/start-aborted-error.js';
import { ADVISORY_LOCKS } from './advisory-lock.js';
import { MigrationLockWaitError } from './migration-lock-wait-error.js';
import { queryStartSession } from './start-session-query.js';

export interface MigrationLockWait {
  /**
   * Give up (MigrationLockWaitError) once the lock is still held at this time (epoch ms): the start's deadline, shared
   * with its wait for PostgreSQL; undefined: no bound.
   */
  deadline: number | undefined;
  /** When the start began (the message says how long it waited, all its waits together). */
  since: number;
  abort?: AbortSignal;
  logger: Logger;
}

/**
 * Runs `fn` holding the migrations' session-level advisory lock on a connection of its own, waiting for another
 * process's migrations to end first. It waits by asking again every 200 ms, not with a blocking pg_advisory_lock:
 * a statement blocked on the lock is an open transaction, which the other process's CREATE INDEX CONCURRENTLY waits
 * for (they waited on each other until statement_timeout). The lock dies with the connection if this process does.
 *
 * The wait is logged once, naming the session that holds the lock, and ends with the start's: past `wait.deadline`
 * (the other process may itself wait for a backup's transaction, for as long as that runs) with MigrationLockWaitError,
 * on `wait.abort` with StartAbortedError.
 */
export async function withMigrationLock<T>(url: string, wait: MigrationLockWait, fn: (lockSession: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000, application_name: 'migrations-lock' });
  client.on('error', () => undefined); // a session ended under it: the query below or the unlock fails instead
  await client.connect();
  try {
    for (let warned = false; ; warned = true) {
      const { rows } = await queryStartSession<{ locked: boolean }>(client, 'SELECT pg_try_advisory_lock($1) AS locked', [ADVISORY_LOCKS.migrations]);
      if (rows[0]?.locked) break;
      if (wait.abort?.aborted) throw new StartAbortedError('migrations lock another process holds');
      const waitedMs = Date.now() - wait.since;
      if (wait.deadline !== undefined && Date.now() >= wait.deadline) {
        const holders = await describeMigrationLockHolders(client).catch(() => []);
        throw new MigrationLockWaitError('SELECT pg_try_advisory_lock', holders, waitedMs, undefined, 'the migrations lock, which another process applying them holds');
      }
      if (!warned) {
        wait.logger.warn('another process is applying the migrations; waiting for its lock', {
          heldBy: await describeMigrationLockHolders(client).catch(() => []),
          budgetMs: wait.deadline === undefined ? undefined : wait.deadline - wait.since,
        });
      }
      await delay(200, undefined, { signal: wait.abort }).catch(() => undefined);
    }
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined); // ending the session releases the lock
  }
}

/** The sessions holding the migrations' advisory lock (one, normally): pid, application, address, connected for. */
async function describeMigrationLockHolders(session: pg.Client): Promise<string[]> {
  // A bigint key is held as classid (its high 32 bits), objid (its low 32 bits), objsubid 1.
  const { rows } = await queryStartSession<{ pid: number; application: string; address: string | null; seconds: number }>(
    session,
    `SELECT a.pid, a.application_name AS application, host(a.client_addr) AS address,
            extract(epoch FROM now() - a.backend_start)::int AS seconds
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid::bigint = $1::bigint >> 32 AND l.objid::bigint = $1::bigint & 4294967295`,
    [ADVISORY_LOCKS.migrations],
  );
  return rows.map(
    (row) => `pid ${row.pid} (${row.application ? `application "${row.application}", ` : ''}${row.address ? `from ${row.address}, ` : ''}connected ${row.seconds} s)`,
  );
}
