import type pg from 'pg';
import type { ServiceProcess } from './service-process.js';
import { waitFor } from './wait-for.js';

/**
 * Steps of the drain tests that hold a PostgreSQL lock so a worker's background run waits on it, then send SIGTERM
 * and release the lock once the drain has gone as far as it goes: they show whether the drain waits for the run or
 * closes the pool and Redis under it. (The worker's sessions are told apart by their application_name.)
 */
const WORKER_SESSIONS = `datname = current_database() AND application_name = 'webhooks-worker'`;

/** Waits until at least `sessions` of the worker's sessions wait on a lock, in a statement containing `queryPart`. */
export async function waitForWorkerWaitingOnLock(pool: pg.Pool, what: string, queryPart: string, sessions = 1): Promise<void> {
  await waitFor(what, async () => {
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${WORKER_SESSIONS} AND wait_event_type = 'Lock' AND strpos(query, $1) > 0`,
      [queryPart],
    );
    return rows[0]!.n >= sessions;
  }, { timeoutMs: 60_000 });
}

/**
 * Waits until the worker answers ready, sends it SIGTERM and waits until its drain has gone as far as it goes while
 * the run waits: to the run (a log line containing `waitingLine` says so), or, where the drain does not wait for it,
 * past the close of Redis and the pool (the pool's idle sessions gone).
 */
export async function drainWhileWaiting(worker: ServiceProcess, pool: pg.Pool, waitingLine: string): Promise<void> {
  await waitFor('the worker ready', async () => (await fetch(`${worker.baseUrl}/health/ready`).catch(() => undefined))?.status === 200, { timeoutMs: 30_000 });
  worker.signal('SIGTERM');
  await waitFor('the drain waiting', async () => {
    if (worker.logs.some((line) => line.includes(waitingLine))) return true;
    const { rows } = await pool.query<{ idle: number }>(`SELECT count(*) FILTER (WHERE state = 'idle')::int AS idle FROM pg_stat_activity WHERE ${WORKER_SESSIONS}`);
    return rows[0]!.idle === 0;
  }, { timeoutMs: 30_000 });
}
