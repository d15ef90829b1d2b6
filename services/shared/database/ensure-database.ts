import pg from 'pg';
import { queryStartSession } from './start-session-query.js';

/**
 * Creates the database named in `url` when it is missing and the role may create databases. Each statement waits for
 * its answer a bounded time (start-session-query.ts): a PostgreSQL gone silent fails it as a connection error.
 */
export async function ensureDatabaseExists(url: string): Promise<'created' | 'exists'> {
  const target = new URL(url);
  const databaseName = decodeURIComponent(target.pathname.replace(/^\//, '')) || 'postgres';
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const client = new pg.Client({ connectionString: maintenance.toString(), connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined); // a session ended under it: the query below fails instead
  await client.connect();
  try {
    const found = await queryStartSession(client, 'SELECT 1 FROM pg_database WHERE datname = $1', [databaseName]);
    if (found.rowCount) return 'exists';
    try {
      await queryStartSession(client, `CREATE DATABASE ${pg.escapeIdentifier(databaseName)}`);
    } catch (error) {
      // 42P04: another process created it between our check and our CREATE.
      if ((error as { code?: string }).code === '42P04') return 'exists';
      throw error;
    }
    return 'created';
  } finally {
    await client.end();
  }
}
