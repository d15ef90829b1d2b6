import pg from 'pg';

export interface PoolOptions {
  url: string;
  /** Connections at most (DATABASE_POOL_SIZE). */
  size: number;
  /** Name shown in pg_stat_activity, so operators (and fault tests) can tell the service's sessions apart. */
  applicationName: string;
}

/**
 * The service's own pg pool: every runtime query (ingest, claims and finishes, reconciler, retention, health) runs
 * on it, with named prepared statements. Connections fail fast, so a PostgreSQL outage becomes a 503 or a retry, not
 * a hung request; a statement stuck behind a lock or a dying server is cut off. The pool's idle-client errors (a
 * killed session) are logged by the caller's listener, never thrown.
 */
export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({ connectionString: options.url, max: options.size, application_name: options.applicationName, ...POOL_SETTINGS });
  // Every client gets an 'error' listener of its own for its whole life. pg-pool listens only while a client is idle
  // and pool.query only while its query runs; a session ended while a client is checked out between queries (or in
  // the instant between checkout and its user's first line: a backend killed right after its startup answers in
  // the same read as the checkout) would otherwise emit an unhandled 'error' and end the process. The client is
  // unusable all the same: its user's next query fails with a connection error, and the pool discards it on release.
  pool.on('connect', (client) => client.on('error', ignoreCheckedOutClientError));
  return pool;
}

/** The pool's idle listener and the query in flight report the error where it matters; nothing more to do here. */
function ignoreCheckedOutClientError(): void {}

/** Timeouts every pool of the service uses (TypeORM's too): fail fast, never hang on a lock or a dying server. */
export const POOL_SETTINGS = {
  idleTimeoutMillis: 30_000,
  connectionTimeoutMillis: 3000,
  statement_timeout: 15_000,
  query_timeout: 20_000,
  keepAlive: true,
} as const;
