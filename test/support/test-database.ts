import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { runMigrations } from '../../services/shared/database/run-migrations.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { testServiceUrls } from './test-services.js';

/** A database of this test file's own, migrated, dropped at the end. */
export interface TestDatabase {
  url: string;
  name: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `webhooks_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const url = new URL(testServiceUrls().databaseUrl);
  url.pathname = `/${name}`;
  await runMigrations({ url: url.toString(), logger: createLogger('test-migrations') });
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
  return {
    url: url.toString(),
    name,
    pool,
    async drop() {
      await pool.end();
      const admin = new URL(url);
      admin.pathname = '/postgres';
      const client = new pg.Client({ connectionString: admin.toString() });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
