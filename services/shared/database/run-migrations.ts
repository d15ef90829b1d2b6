import type { Logger } from '../logging/logger.js';
import { StartAbortedError } from '../startup/start-aborted-error.js';
import { waitUntilReachable } from '../startup/wait-until-reachable.js';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { ADVISORY_LOCKS } from './advisory-lock.js';
import { createDataSource } from './data-source.js';
import { isConnectionError } from './database-errors.js';
import { databaseRetryMessage, databaseStartError } from './database-start-errors.js';
import { ensureDatabaseExists } from './ensure-database.js';

export interface RunMigrationsOptions {
  url: string;
  logger: Logger;
  /** Keep retrying an unreachable server this long (a migration Job may start before PostgreSQL is ready). */
  waitForDatabaseMs?: number;
  /** Stops the wait for PostgreSQL (and for another process's migrations) with StartAbortedError. */
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
      return withMigrationLock(options.url, async () => {
        const dataSource = createDataSource({ url: options.url, poolSize: 2, applicationName: 'migrations' });
        await dataSource.initialize();
        try {
          const applied = await dataSource.runMigrations({ transaction: 'each' });
          const names = applied.map((migration) => migration.name);
          options.logger.info('migrations applied', { applied: names, count: names.length });
          return names;
        } finally {
          await dataSource.destroy();
        }
      });
    },
    {
      what: 'database',
      budgetMs: options.waitForDatabaseMs ?? 0,
      logger: options.logger,
      retryMessage: (error) => databaseRetryMessage(error, options.url),
      abort: options.abort,
    },
  ).catch((error: unknown) => {
    if (error instanceof StartAbortedError) throw error;
    throw databaseStartError(error, options.url, options.waitForDatabaseMs ?? 0, { migrating: true });
  });
}

/**
 * Runs `fn` holding the migrations' session-level advisory lock on a connection of its own, waiting for another
 * process's migrations to end first. It waits by asking again every 200 ms, not with a blocking pg_advisory_lock:
 * a statement blocked on the lock is an open transaction, which the other process's CREATE INDEX CONCURRENTLY waits
 * for (they waited on each other until statement_timeout). The lock dies with the connection if this process does.
 */
async function withMigrationLock<T>(url: string, fn: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000, application_name: 'migrations-lock' });
  client.on('error', () => undefined); // a session ended under it: the query below or the unlock fails instead
  await client.connect();
  try {
    while (!(await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [ADVISORY_LOCKS.migrations])).rows[0]?.locked) {
      await delay(200);
    }
    return await fn();
  } finally {
    await client.end().catch(() => undefined); // ending the session releases the lock
  }
}
