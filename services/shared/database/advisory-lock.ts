import type { Pool, PoolClient } from 'pg';

/** Advisory lock keys: one per singleton task, so every worker may run the task's timer safely. */
export const ADVISORY_LOCKS = { reconciler: 7_100_001, retention: 7_100_002, migrations: 7_100_003 } as const;

/**
 * Runs `fn` only if this process wins the session-level advisory lock `key`; otherwise returns undefined
 * at once. The lock is released even when `fn` fails, and dies with the connection if the process does.
 *
 * `fn` gets the client that holds the lock and must run its queries on it, not on `pool`: the lock keeps this client
 * checked out for the whole of `fn`, so queries on other clients of the pool need a second connection. With
 * DATABASE_POOL_SIZE=1 they could never get one (every pass failed on the pool's connection timeout), and with 2 two
 * overlapping tasks each held one and waited for another.
 */
export async function withAdvisoryLock<T>(pool: Pool, key: number, fn: (client: PoolClient) => Promise<T>): Promise<T | undefined> {
  const client = await pool.connect();
  // A checked-out client has no pool 'error' listener: if PostgreSQL ends this session while `fn` runs (failover,
  // pg_terminate_backend), the unhandled 'error' event would crash the process. Note it and discard the client.
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  // A lock or unlock statement that failed (given up unanswered at the pool's query timeout: the network went silent)
  // may still reach PostgreSQL and run there, the unlock queued behind a statement of `fn` that timed out so never
  // does: back in the pool, the session would then keep the lock for as long as the pool used the connection, and
  // every other process's pass found it taken. Such a client is discarded, which ends its session and the lock with it.
  let unsure: Error | undefined;
  const lockStatement = (text: string) =>
    client.query<{ locked: boolean }>(text, [key]).catch((error: unknown) => {
      unsure = error as Error;
      throw error;
    });
  try {
    const { rows } = await lockStatement('SELECT pg_try_advisory_lock($1) AS locked');
    if (!rows[0]?.locked) return undefined;
    try {
      return await fn(client);
    } finally {
      // A dead session has released the lock already.
      if (!broken) await lockStatement('SELECT pg_advisory_unlock($1)');
    }
  } finally {
    client.removeListener('error', onError);
    client.release(broken ?? unsure);
  }
}
