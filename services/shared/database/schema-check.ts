import type { Pool } from 'pg';
import type { CategorisedFailure } from '../health/health-failure-category.js';
import { MIGRATIONS_TABLE } from './data-source.js';
import { migrations } from './migrations/index.js';

/**
 * The readiness check of the database: it answers, and its schema has this code's newest migration. A pod started
 * before its migrations ran (the chart's migration Job runs after a first install's pods start) stays out of the
 * Service until they have, instead of answering every webhook with an error. Once the schema was seen complete,
 * only `SELECT 1` is asked: migrations are not undone under a running pod, and an older pod after a newer migration
 * still finds its own.
 */
export class SchemaCheck {
  private readonly newest: string;
  private migrated = false;

  constructor(private readonly pool: Pool) {
    this.newest = new (migrations.at(-1)!)().name!;
  }

  readonly check = async (): Promise<void> => {
    if (this.migrated) {
      await this.pool.query('SELECT 1');
      return;
    }
    const missing = new SchemaNotMigratedError(this.newest);
    const applied = await this.pool
      .query<{ applied: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${MIGRATIONS_TABLE} WHERE name = $1) AS applied`, [this.newest])
      .then(({ rows }) => rows[0]?.applied === true)
      .catch((error: unknown) => {
        // No migrations table: none has run on this database yet.
        if ((error as { code?: unknown }).code === '42P01') return false;
        throw error;
      });
    if (!applied) throw missing;
    this.migrated = true;
  };
}

/** The schema lacks this code's newest migration: `not migrated` in the health report, the migration's name in the log. */
export class SchemaNotMigratedError extends Error implements CategorisedFailure {
  readonly healthCategory = 'not migrated';
  constructor(newest: string) {
    super(`the database schema lacks migration ${newest} (run the migrations: npm run migrate, or the chart's migration Job)`);
    this.name = 'SchemaNotMigratedError';
  }
}
