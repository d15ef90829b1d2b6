import type { Logger } from '../logging/logger.js';
import { StartAbortedError } from '../startup/start-aborted-error.js';
import { waitUntilReachable } from '../startup/wait-until-reachable.js';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { ADVISORY_LOCKS } from './advisory-lock.js';
import { createMigrationDataSource, MIGRATION_LOCK_TIMEOUT_MS } from './data-source.js';
import { isConnectionError } from './database-errors.js';
import { databaseRetryMessage, databaseStartError } from './database-start-errors.js';
import { ensureDatabaseExists } from './ensure-database.js';
import { MigrationLockWaitError } from './migration-lock-wait-error.js';

export interface RunMigrationsOptions {
  url: string;
  logger: Logger;
  /** Keep retrying an unreachable server this long (a migration Job may start before PostgreSQL is ready). */
  waitForDatabaseMs?: number;
  /**
   * Keep retrying a migration that gave up waiting for a table lock (another session's open transaction) this long,
   * then fail with MigrationLockWaitError; 0 tries once. `npm run migrate` and SERVICE_ROLE=all pass STARTUP_WAIT_MS.
   */
  waitForLocksMs?: number;
  /** Stops the wait for PostgreSQL (and for another process's migrations, or a lock) with StartAbortedError. */
  abort?: AbortSignal;
}

/** Creates the database when missing, then applies pending TypeORM migrations in one transaction each. */
export async function runMigrations(options: RunMigrationsOptions): Promise<string[]> {
  return waitUntilReachable(
    async () => {
      const created = await ensureDatabaseExists(options.url).catch((error: unknown) => {
        // A role without CREATEDB on an existing database is fine; anything about connectivity is retried.
        if (isConnectionError(error)) throw error;
        options.logger.debug('could not check or create the database; assuming it exists', { error });
        return 'exists' as const;
      });
      if (created === 'created') options.logger.info('created database');
      // One process migrates at a time: several starting together (replicas of SERVICE_ROLE=all, a Job beside them)
      // otherwise each created the migrations table or an index at once, and all but one crashed ("tuple concurrently
      // updated", "deadlock detected"). The others wait here, then find nothing left to apply.
      return withMigrationLock(options.url, (lockSession) => applyPendingMigrations(lockSession, options));
    },
    {
      what: 'database',
      budgetMs: options.waitForDatabaseMs ?? 0,
      logger: options.logger,
      retryMessage: (error) => databaseRetryMessage(error, options.url),
      abort: options.abort,
    },
  ).catch((error: unknown) => {
    if (error instanceof StartAbortedError || error instanceof MigrationLockWaitError) throw error;
    throw databaseStartError(error, options.url, options.waitForDatabaseMs ?? 0, { migrating: true });
  });
}

/**
 * Runs `fn` holding the migrations' session-level advisory lock on a connection of its own, waiting for another
 * process's migrations to end first. It waits by asking again every 200 ms, not with a blocking pg_advisory_lock:
 * a statement blocked on the lock is an open transaction, which the other process's CREATE INDEX CONCURRENTLY waits
 * for (they waited on each other until statement_timeout). The lock dies with the connection if this process does.
 */
async function withMigrationLock<T>(url: string, fn: (lockSession: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000, application_name: 'migrations-lock' });
  client.on('error', () => undefined); // a session ended under it: the query below or the unlock fails instead
  await client.connect();
  try {
    while (!(await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [ADVISORY_LOCKS.migrations])).rows[0]?.locked) {
      await delay(200);
    }
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined); // ending the session releases the lock
  }
}

/**
 * Applies the pending migrations. A statement that gave up waiting for a table lock (SQLSTATE 55P03, after
 * MIGRATION_LOCK_TIMEOUT_MS: an ALTER TABLE behind a backup's or a report's open transaction) is rolled back with its
 * migration, and the pending migrations are tried again after a pause, so that ingest is held up only while the ALTER
 * waits, never for as long as the other transaction runs; past `waitForLocksMs`, MigrationLockWaitError.
 * `lockSession`: the advisory lock's session, idle meanwhile, reads who holds the lock for the log line.
 */
async function applyPendingMigrations(lockSession: pg.Client, options: RunMigrationsOptions): Promise<string[]> {
  const budgetMs = options.waitForLocksMs ?? 0;
  const started = Date.now();
  const dataSource = createMigrationDataSource(options.url);
  await dataSource.initialize();
  try {
    for (let tries = 1; ; tries++) {
      try {
        const applied = await dataSource.runMigrations({ transaction: 'each' });
        const names = applied.map((migration) => migration.name);
        options.logger.info('migrations applied', { applied: names, count: names.length });
        return names;
      } catch (error) {
        if (!isLockNotAvailable(error)) throw error;
        const statement = failedStatement(error);
        const blockers = await describeOpenTransactions(lockSession).catch(() => []);
        const waitedMs = Date.now() - started;
        if (waitedMs >= budgetMs) throw new MigrationLockWaitError(statement, blockers, waitedMs, error);
        if (options.abort?.aborted) throw new StartAbortedError('table lock the migrations need');
        // Growing pauses (1 s … 5 s): each try holds up inserts on the table for up to MIGRATION_LOCK_TIMEOUT_MS.
        const pause = Math.min(1000 * tries, 5000, budgetMs - waitedMs);
        options.logger.warn('a migration waits for a table lock that another session\'s open transaction holds; trying again', {
          statement,
          heldBy: blockers,
          lockTimeoutMs: MIGRATION_LOCK_TIMEOUT_MS,
          attempt: tries,
          retryInMs: pause,
          waitedMs,
          budgetMs,
        });
        await delay(pause);
      }
    }
  } finally {
    await dataSource.destroy();
  }
}

/** SQLSTATE 55P03 (lock_not_available: lock_timeout), on the error or the driver's error TypeORM wraps. */
function isLockNotAvailable(error: unknown): boolean {
  const { code, driverError } = (error ?? {}) as { code?: unknown; driverError?: { code?: unknown } };
  return code === '55P03' || driverError?.code === '55P03';
}

/** The statement TypeORM's QueryFailedError says failed, on one line. */
function failedStatement(error: unknown): string {
  const query = (error as { query?: unknown }).query;
  return typeof query === 'string' ? query.replace(/\s+/g, ' ').trim().slice(0, 200) : 'a migration statement';
}

/**
 * The other sessions of this database with a transaction open and a lock on one of its tables, oldest first: those
 * the migration's lock waited for. Pid, state, application and age only (their query text may hold payloads).
 */
async function describeOpenTransactions(lockSession: pg.Client): Promise<string[]> {
  const { rows } = await lockSession.query<{ pid: number; state: string | null; application: string; seconds: number; tables: string }>(
    `SELECT a.pid, a.state, a.application_name AS application, extract(epoch FROM now() - a.xact_start)::int AS seconds,
            string_agg(DISTINCT c.relname, ', ') AS tables
       FROM pg_stat_activity a
       JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'relation' AND l.granted
       JOIN pg_class c ON c.oid = l.relation AND c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace
      WHERE a.datname = current_database() AND a.xact_start IS NOT NULL AND a.pid <> pg_backend_pid()
        AND a.application_name NOT IN ('migrations', 'migrations-lock')
      GROUP BY a.pid, a.state, a.application_name, a.xact_start
      ORDER BY a.xact_start
      LIMIT 5`,
  );
  return rows.map(
    (row) => `pid ${row.pid} (${row.state ?? 'unknown state'}${row.application ? `, application "${row.application}"` : ''}, transaction open ${row.seconds} s, on ${row.tables})`,
  );
}
