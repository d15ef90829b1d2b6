import { DataSource } from 'typeorm';
import { DeliveryAttemptSchema, WebhookEventSchema } from './entities.js';
import { POOL_SETTINGS } from './create-pool.js';
import { migrations } from './migrations/index.js';
import type { StatementsInFlight } from './statements-in-flight.js';

/** Where TypeORM records the migrations applied (the readiness check reads it too). */
export const MIGRATIONS_TABLE = 'typeorm_migrations';

/**
 * How long a migration statement waits for a table lock before it gives up (SQLSTATE 55P03) and the pending
 * migrations are tried again after a pause (run-migrations.ts). While an ALTER TABLE waits for its ACCESS EXCLUSIVE
 * lock behind another session's open transaction (a backup, a report), every later INSERT on the table queues behind
 * the ALTER: with no lock_timeout ingest stalled for as long as the transaction ran (14.4 s observed, until the old
 * statement_timeout). 2 s keeps such a stall short, and is long enough for the ALTER to get a lock that only the
 * ingest's and the workers' short statements hold.
 */
export const MIGRATION_LOCK_TIMEOUT_MS = 2000;

/**
 * Connections of the admin API's data source, next to the DATABASE_POOL_SIZE of the role that serves it (the ingress).
 * Named, so that what sizes PostgreSQL's max_connections for the pods (the chart and its tests) can count them.
 */
export const ADMIN_POOL_SIZE = 4;

/** Connections of the migrations' data source; the migration lock's session comes on top (migration-lock.ts). */
export const MIGRATION_POOL_SIZE = 2;

export interface DataSourceOptions {
  url: string;
  poolSize: number;
  /** Name shown in pg_stat_activity, so operators (and fault tests) can tell the service's sessions apart. */
  applicationName?: string;
}

/**
 * The TypeORM data source for the admin API's reads, with a small pool of its own and the service's timeouts;
 * runtime queries use the service's own pool (create-pool.ts; see README.md here).
 */
export function createDataSource(options: DataSourceOptions): DataSource {
  return buildDataSource(options, POOL_SETTINGS);
}

/**
 * The data source the migrations run on (never `synchronize`). No statement_timeout and no client query timeout: a
 * CREATE INDEX CONCURRENTLY waits, by design, for every older transaction of the database (a backup's may run for an
 * hour) and scans the whole table; the service's 15 s cut it off and left an invalid index, on every retry. What bounds
 * a migration is whatever runs it (the chart Job's activeDeadlineSeconds, the startup probe of SERVICE_ROLE=all).
 * Statements that would hold up ingest while they wait for a lock give up after {@link MIGRATION_LOCK_TIMEOUT_MS}.
 * `statements`: told what its sessions send and await, so a silence can be named by the statement that waited.
 */
export function createMigrationDataSource(url: string, statements?: StatementsInFlight): DataSource {
  const { statement_timeout: _statement, query_timeout: _query, ...connectionSettings } = POOL_SETTINGS;
  return buildDataSource(
    { url, poolSize: MIGRATION_POOL_SIZE, applicationName: 'migrations' },
    { ...connectionSettings, lock_timeout: MIGRATION_LOCK_TIMEOUT_MS, ...(statements ? { Client: statements.clientClass() } : {}) },
  );
}

function buildDataSource(options: DataSourceOptions, sessionSettings: object): DataSource {
  return new DataSource({
    type: 'postgres',
    url: options.url,
    entities: [WebhookEventSchema, DeliveryAttemptSchema],
    migrations,
    migrationsTableName: MIGRATIONS_TABLE,
    synchronize: false,
    logging: false,
    applicationName: options.applicationName ?? 'event-driven-integration-service',
    poolSize: options.poolSize,
    connectTimeoutMS: 3000,
    extra: { max: options.poolSize, ...sessionSettings },
  });
}
