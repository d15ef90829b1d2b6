import pg from 'pg';

/** Creates the database named in `url` when it is missing and the role may create databases. */
export async function ensureDatabaseExists(url: string): Promise<'created' | 'exists'> {
  const target = new URL(url);
  const databaseName = decodeURIComponent(target.pathname.replace(/^\//, '')) || 'postgres';
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const client = new pg.Client({ connectionString: maintenance.toString(), connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [databaseName]);
    if (found.rowCount) return 'exists';
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(databaseName)}`);
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
