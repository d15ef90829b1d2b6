import type { Logger } from '../logging/logger.js';
import { waitUntilReachable } from '../startup/wait-until-reachable.js';
import { createDataSource } from './data-source.js';
import { isConnectionError } from './database-errors.js';
import { ensureDatabaseExists } from './ensure-database.js';

export interface RunMigrationsOptions {
  url: string;
  logger: Logger;
  /** Keep retrying an unreachable server this long (a migration Job may start before PostgreSQL is ready). */
  waitForDatabaseMs?: number;
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
    },
    { what: 'database', budgetMs: options.waitForDatabaseMs ?? 0, logger: options.logger },
  );
}
