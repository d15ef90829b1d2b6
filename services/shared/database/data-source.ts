import { DataSource } from 'typeorm';
import { DeliveryAttemptSchema, WebhookEventSchema } from './entities.js';
import { POOL_SETTINGS } from './create-pool.js';
import { migrations } from './migrations/index.js';

/** Where TypeORM records the migrations applied (the readiness check reads it too). */
export const MIGRATIONS_TABLE = 'typeorm_migrations';

export interface DataSourceOptions {
  url: string;
  poolSize: number;
  /** Name shown in pg_stat_activity, so operators (and fault tests) can tell the service's sessions apart. */
  applicationName?: string;
}

/**
 * The TypeORM data source, for migrations (never `synchronize`) and the admin API's reads, with a small pool of
 * its own; runtime queries use the service's own pool (create-pool.ts; see README.md here).
 */
export function createDataSource(options: DataSourceOptions): DataSource {
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
    extra: { max: options.poolSize, ...POOL_SETTINGS },
  });
}
