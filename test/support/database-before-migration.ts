/**
 * A database as an older release left it, for tests of what an upgrade's migrations do on it: a new test database
 * with every migration before a named one applied, and the sessions such tests open on it (a backup holding a
 * transaction open, an observer reading pg_stat_activity). Migrations are named, not counted from the newest: the
 * newest need not touch the table a test is about.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { MIGRATIONS_TABLE } from '../../services/shared/database/data-source.js';
import { ensureDatabaseExists } from '../../services/shared/database/ensure-database.js';
import { migrations } from '../../services/shared/database/migrations/index.js';
import { dropDatabase } from './test-database.js';
import { testServiceUrls } from './test-services.js';

export interface DatabaseBeforeMigration {
  url: string;
  /** Runs SQL as the older release would have (e.g. to seed rows), before the migrations under test run. */
  query(sql: string): Promise<void>;
  /** A session with `application_name` (which pg_stat_activity and the migrations' wait messages show). */
  connect(applicationName: string): Promise<pg.Client>;
  /** Ends every session opened by connect() and drops the database. */
  drop(): Promise<void>;
}

/** A new database named `webhooks_test_<label>_<random>`, with the migrations before `migrationName` applied. */
export async function databaseBeforeMigration(migrationName: string, label: string): Promise<DatabaseBeforeMigration> {
  const upTo = migrations.findIndex((migration) => new migration().name === migrationName);
  if (upTo <= 0) throw new Error(`no migration named ${migrationName} after the first`);
  const name = `webhooks_test_${label}_${randomBytes(4).toString('hex')}`;
  const url = new URL(testServiceUrls().databaseUrl);
  url.pathname = `/${name}`;
  await ensureDatabaseExists(url.toString());
  const older = new DataSource({ type: 'postgres', url: url.toString(), migrations: migrations.slice(0, upTo), migrationsTableName: MIGRATIONS_TABLE });
  await older.initialize();
  try {
    await older.runMigrations({ transaction: 'each' });
  } finally {
    await older.destroy();
  }
  const clients: pg.Client[] = [];
  return {
    url: url.toString(),
    async query(sql) {
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    },
    async connect(applicationName) {
      const client = new pg.Client({ connectionString: url.toString(), application_name: applicationName });
      // The migrations under test may terminate or cancel it; the test reads that from the migrations' output.
      client.on('error', () => undefined);
      await client.connect();
      clients.push(client);
      return client;
    },
    async drop() {
      for (const client of clients.splice(0)) await client.end().catch(() => undefined);
      await dropDatabase(name);
    },
  };
}

/**
 * Opens a transaction on `client` that has read webhook_events, as a nightly backup's (pg_dump's REPEATABLE READ)
 * would: an ALTER TABLE of webhook_events waits for its lock, a CREATE INDEX CONCURRENTLY for it to end.
 */
export async function holdBackupTransaction(client: pg.Client, isolation: 'REPEATABLE READ' | 'READ COMMITTED' = 'REPEATABLE READ'): Promise<void> {
  await client.query(`BEGIN ISOLATION LEVEL ${isolation}`);
  await client.query('SELECT count(*) FROM webhook_events');
}
