import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { runMigrations } from '../../services/shared/database/run-migrations.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { StartDeadline } from '../../services/shared/startup/start-deadline.js';
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
  // A deadline as a start has: on a loaded machine (the whole suite on 2 cores) PostgreSQL can be slow to accept a
  // connection, and a test should wait for it as the service does rather than fail.
  await runMigrations({ url: url.toString(), logger: createLogger('test-migrations'), deadline: new StartDeadline(60_000) });
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
  // An idle client whose backend is terminated (by the DROP … WITH (FORCE) below, say) makes the pool emit 'error';
  // with no listener that is an uncaught exception that fails whichever test happens to be running.
  pool.on('error', () => undefined);
  return {
    url: url.toString(),
    name,
    pool,
    async drop() {
      await closePool(pool);
      await dropDatabase(name);
    },
  };
}

/** Runs `use` with a client on the server's `postgres` database (to create, alter or drop test databases). */
export async function withAdminClient<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
  const admin = new URL(testServiceUrls().databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** Drops database `name` if it exists, ending its sessions. */
export async function dropDatabase(name: string): Promise<void> {
  await withAdminClient((client) => client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`));
}

/**
 * Ends a pool and waits until every one of its connections has closed. `pool.end()` alone resolves once the clients
 * are told to end, not when their sockets are gone, so a DROP DATABASE … WITH (FORCE) right after it can still
 * terminate them mid-goodbye.
 */
export async function closePool(pool: pg.Pool): Promise<void> {
  let open = pool.totalCount;
  const closed = new Promise<void>((resolve) => {
    if (open === 0) return resolve();
    pool.on('remove', () => {
      if (--open === 0) resolve();
    });
  });
  await pool.end();
  await closed;
}
