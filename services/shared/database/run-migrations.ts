import type { Logger } from '../logging/logger.js';
import { StartAbortedError } from '../startup/start-aborted-error.js';
import { StartDeadline } from '../startup/start-deadline.js';
import { waitUntilReachable } from '../startup/wait-until-reachable.js';
import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import { createMigrationDataSource, MIGRATION_LOCK_TIMEOUT_MS } from './data-source.js';
import { isConnectionError } from './database-errors.js';
import { DatabaseSilentError } from './database-silent-error.js';
import { databaseCredentialsWaitOut, databaseRetryMessage, databaseStartError } from './database-start-errors.js';
import { ensureDatabaseExists } from './ensure-database.js';
import { IndexBuildWatchdog } from './index-build-watchdog.js';
import { withMigrationLock, type MigrationLockWait } from './migration-lock.js';
import { MigrationLockWaitError } from './migration-lock-wait-error.js';
import { describeOpenTransactions } from './open-transactions.js';
import { StatementsInFlight } from './statements-in-flight.js';

export interface RunMigrationsOptions {
  url: string;
  logger: Logger;
  /**
   * The start's deadline (STARTUP_WAIT_MS, from when the start began), which every wait of the migrations shares with
   * the rest of the start: for PostgreSQL to be reachable (a migration Job may start before it), then for what other
   * sessions hold: the migrations' advisory lock (another process applying them), a table lock (a migration that gave
   * up after MIGRATION_LOCK_TIMEOUT_MS is tried again until then), the older transactions a CONCURRENTLY index build
   * waits out (cancelled then); past it, MigrationLockWaitError. Absent, or a budget of 0: PostgreSQL and a table lock
   * are tried once, and the other two waits are not bounded here (what runs the migrations bounds them: the chart
   * Job's activeDeadlineSeconds). A PostgreSQL gone silent is no wait for another session: with or without a deadline
   * the run ends (IndexBuildWatchdog). `npm run migrate` and SERVICE_ROLE=all pass STARTUP_WAIT_MS.
   */
  deadline?: StartDeadline;
  /**
   * Stops the wait for PostgreSQL, for another process's migrations or for a lock, with StartAbortedError; a migration
   * statement under way is cancelled first, so none is left waiting in PostgreSQL.
   */
  abort?: AbortSignal;
}

/** Creates the database when missing, then applies pending TypeORM migrations in one transaction each. */
export async function runMigrations(options: RunMigrationsOptions): Promise<string[]> {
  const deadline = options.deadline ?? new StartDeadline(0);
  // Every wait ends by the start's deadline: the waits for what other sessions hold do not begin a budget of their own
  // once PostgreSQL answers (a start used to wait up to STARTUP_WAIT_MS for each, one after the other).
  const lockWait: MigrationLockWait = {
    since: deadline.startedAt,
    deadline: deadline.budgetMs > 0 ? deadline.at : undefined,
    abort: options.abort,
    logger: options.logger,
  };
  let attempt: Promise<string[]> | undefined;
  return waitUntilReachable(
    () =>
      (attempt = (async () => {
        const created = await ensureDatabaseExists(options.url).catch((error: unknown) => {
          // A role without CREATEDB on an existing database is fine; anything about connectivity is retried. So is a
          // refusal here: this connects to the maintenance database ("postgres"), which pg_hba.conf may close to a role
          // allowed only into its own; credentials refused for real are refused next, by the migration lock's
          // connection to DATABASE_URL's database, and waited out there (databaseCredentialsWaitOut).
          if (isConnectionError(error)) throw error;
          options.logger.debug('could not check or create the database; assuming it exists', { error });
          return 'exists' as const;
        });
        if (created === 'created') options.logger.info('created database');
        // One process migrates at a time: several starting together (replicas of SERVICE_ROLE=all, a Job beside them)
        // otherwise each created the migrations table or an index at once, and all but one crashed ("tuple concurrently
        // updated", "deadlock detected"). The others wait here, then find nothing left to apply.
        return withMigrationLock(options.url, lockWait, (lockSession) => applyPendingMigrations(lockSession, lockWait, options));
      })()),
    {
      what: 'database',
      budgetMs: deadline.remainingMs(),
      logger: options.logger,
      retryMessage: (error) => databaseRetryMessage(error, options.url),
      waitOut: databaseCredentialsWaitOut(options.url),
      abort: options.abort,
    },
  ).catch(async (error: unknown) => {
    // A stop abandons the attempt under way; its migration statement is being cancelled (IndexBuildWatchdog): let it
    // end, so the process does not exit with the statement still waiting in PostgreSQL (and say what it stopped).
    if (error instanceof StartAbortedError) {
      const ended: unknown = await attempt?.then(() => undefined, (attemptError: unknown) => attemptError);
      throw ended instanceof StartAbortedError ? ended : error;
    }
    if (error instanceof MigrationLockWaitError) throw error;
    throw databaseStartError(error, options.url, deadline.waitedMs(), { migrating: true });
  });
}

/**
 * Applies the pending migrations. A statement that gave up waiting for a table lock (SQLSTATE 55P03, after
 * MIGRATION_LOCK_TIMEOUT_MS: an ALTER TABLE behind a backup's or a report's open transaction) is rolled back with its
 * migration, and the pending migrations are tried again after a pause, so that ingest is held up only while the ALTER
 * waits, never for as long as the other transaction runs; past the start's deadline, MigrationLockWaitError. A
 * CONCURRENTLY index statement, which waits with no lock_timeout, is cancelled at that deadline (or on `abort`) by
 * {@link IndexBuildWatchdog}, and fails the same way.
 * `lockSession`: the advisory lock's session, idle meanwhile, reads who holds the lock for the log line and cancels.
 */
async function applyPendingMigrations(lockSession: pg.Client, wait: MigrationLockWait, options: RunMigrationsOptions): Promise<string[]> {
  const statements = new StatementsInFlight();
  const dataSource = createMigrationDataSource(options.url, statements);
  // Watching from before initialize(): past the deadline, a check of the watchdog's that PostgreSQL leaves unanswered
  // ends the migrations (DatabaseSilentError), whose own statements would wait for their answers for ever.
  const watchdog = new IndexBuildWatchdog(lockSession, { deadline: wait.deadline, abort: options.abort });
  let silent = false;
  try {
    const applying = (async () => {
      await dataSource.initialize();
      return applyOnDataSource(dataSource, watchdog, lockSession, wait, options);
    })();
    applying.catch(() => undefined); // abandoned when PostgreSQL went silent
    return await Promise.race([
      applying,
      watchdog.silent.catch((error: unknown) => {
        silent = true;
        throw namingWaitingStatement(error, statements);
      }),
    ]);
  } finally {
    await watchdog.stop();
    // A session whose statement awaits an answer that never comes holds destroy() (its pool waits for the session):
    // not awaited then; the process exits with the start's failure.
    if (silent) void dataSource.destroy().catch(() => undefined);
    else if (dataSource.isInitialized) await dataSource.destroy();
  }
}

/**
 * The watchdog's DatabaseSilentError, which quotes its own check, named instead by the migration statement that was
 * waiting for its answer (the one sent longest ago), and how long it waited: what an operator looks for.
 */
function namingWaitingStatement(error: unknown, statements: StatementsInFlight): unknown {
  const waiting = statements.oldest();
  if (!(error instanceof DatabaseSilentError) || waiting === undefined) return error;
  return new DatabaseSilentError(waiting.text, Date.now() - waiting.sentAt, error);
}

/** The retries of {@link applyPendingMigrations}, on its initialized data source. */
async function applyOnDataSource(
  dataSource: ReturnType<typeof createMigrationDataSource>,
  watchdog: IndexBuildWatchdog,
  lockSession: pg.Client,
  wait: MigrationLockWait,
  options: RunMigrationsOptions,
): Promise<string[]> {
  const started = wait.since;
  for (let tries = 1; ; tries++) {
    try {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      const names = applied.map((migration) => migration.name);
      options.logger.info('migrations applied', { applied: names, count: names.length });
      return names;
    } catch (error) {
      const cancelled = watchdog.cancelled;
      if (cancelled && isQueryCanceled(error)) {
        if (cancelled.reason === 'abort') throw new StartAbortedError('migrations (the statement under way was cancelled)');
        const what = `other sessions' transactions to end for "${cancelled.statement}"`;
        throw new MigrationLockWaitError(cancelled.statement, cancelled.blockers, Date.now() - started, error, what);
      }
      if (!isLockNotAvailable(error)) throw error;
      const statement = failedStatement(error);
      const blockers = await describeOpenTransactions(lockSession).catch(() => []);
      const waitedMs = Date.now() - started;
      if (wait.deadline === undefined || Date.now() >= wait.deadline) throw new MigrationLockWaitError(statement, blockers, waitedMs, error);
      if (options.abort?.aborted) throw new StartAbortedError('table lock the migrations need');
      // Growing pauses (1 s … 5 s): each try holds up inserts on the table for up to MIGRATION_LOCK_TIMEOUT_MS.
      const pause = Math.min(1000 * tries, 5000, wait.deadline - Date.now());
      options.logger.warn('a migration waits for a table lock that another session\'s open transaction holds; trying again', {
        statement,
        heldBy: blockers,
        lockTimeoutMs: MIGRATION_LOCK_TIMEOUT_MS,
        attempt: tries,
        retryInMs: pause,
        waitedMs,
        budgetMs: wait.deadline - wait.since,
      });
      await delay(pause, undefined, { signal: options.abort }).catch(() => undefined);
      if (options.abort?.aborted) throw new StartAbortedError('table lock the migrations need');
    }
  }
}

/** SQLSTATE 55P03 (lock_not_available: lock_timeout), on the error or the driver's error TypeORM wraps. */
function isLockNotAvailable(error: unknown): boolean {
  const { code, driverError } = (error ?? {}) as { code?: unknown; driverError?: { code?: unknown } };
  return code === '55P03' || driverError?.code === '55P03';
}

/** SQLSTATE 57014 (query_canceled: pg_cancel_backend, as the watchdog cancels), on the error or the driver's error. */
function isQueryCanceled(error: unknown): boolean {
  const { code, driverError } = (error ?? {}) as { code?: unknown; driverError?: { code?: unknown } };
  return code === '57014' || driverError?.code === '57014';
}

/** The statement TypeORM's QueryFailedError says failed, on one line. */
function failedStatement(error: unknown): string {
  const query = (error as { query?: unknown }).query;
  return typeof query === 'string' ? query.replace(/\s+/g, ' ').trim().slice(0, 200) : 'a migration statement';
}
