import { DataSource } from 'typeorm';
import type { Pool } from 'pg';
import { DeliveryAttemptSchema, WebhookEventSchema } from './entities.js';
import { migrations } from './migrations/index.js';

export interface DataSourceOptions {
  url: string;
  poolSize: number;
  /** Name shown in pg_stat_activity, so operators (and fault tests) can tell the service's sessions apart. */
  applicationName?: string;
}

/**
 * The TypeORM data source: entities, migrations (never `synchronize`), and a pg pool sized for the role.
 * Connections fail fast so a PostgreSQL outage becomes a 503, not a hung request.
 */
export function createDataSource(options: DataSourceOptions): DataSource {
  return new DataSource({
    type: 'postgres',
    url: options.url,
    entities: [WebhookEventSchema, DeliveryAttemptSchema],
    migrations,
    migrationsTableName: 'typeorm_migrations',
    synchronize: false,
    logging: false,
    applicationName: options.applicationName ?? 'event-driven-integration-service',
    poolSize: options.poolSize,
    connectTimeoutMS: 3000,
    extra: {
      max: options.poolSize,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 3000,
      // A query stuck behind a lock or a dying server must not hold a request forever.
      statement_timeout: 15_000,
      query_timeout: 20_000,
      keepAlive: true,
    },
  });
}

/** The pg pool under TypeORM: the hot path uses it directly for named prepared statements. */
export function poolOf(dataSource: DataSource): Pool {
  return (dataSource.driver as unknown as { master: Pool }).master;
}
