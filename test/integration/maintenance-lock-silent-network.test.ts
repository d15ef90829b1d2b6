/**
 * The reconciler's and retention's passes run under a session-level advisory lock, taken and released by statements on
 * a pooled connection. When the network goes silent under one of those statements (a partition, a frozen node) the
 * client gives up on it at the pool's query timeout, but the bytes are on their way: once the network answers again
 * the statement runs in PostgreSQL. The lock statement then took the lock in a session the pass had already given back
 * to the pool as healthy (as does an unlock that timed out queued behind a statement that did: it is never sent), and
 * that session kept the lock for as long as the pool kept using the connection, which a worker's claims and finishes
 * do: no other worker's reconciler (or retention) got the lock again, and stranded events were never enqueued there.
 *
 * Against the real PostgreSQL behind a proxy that stops forwarding what the client sends (its answers still flow), with
 * a short query timeout so that the test does not wait the service's 20 s.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { POOL_SETTINGS } from '../../services/shared/database/create-pool.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { Reconciler } from '../../services/worker/maintenance/reconciler.js';
import { createEventQueueBed, type EventQueueBed } from '../support/event-queue-bed.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { closePool } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';

const APPLICATION_NAME = 'maintenance-lock-silent';
const logger = createLogger('maintenance-lock-silent-test');
let bed: EventQueueBed | undefined;

beforeAll(async () => {
  bed = await createEventQueueBed(logger);
});

afterAll(async () => {
  await bed?.close();
});

describe('a maintenance pass whose lock statement the network held past the query timeout', () => {
  it('leaves no session holding the lock once the network answers again: another worker runs the next pass', async () => {
    const { db, queue } = bed!;
    const target = new URL(db.url);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    await proxy.start();
    const url = new URL(db.url);
    url.host = `127.0.0.1:${proxy.port}`;
    // The worker's pool as the service makes it, but for the query timeout (1 s instead of 20 s).
    const pool = new pg.Pool({ connectionString: url.toString(), max: 3, application_name: APPLICATION_NAME, ...POOL_SETTINGS, query_timeout: 1000 });
    pool.on('error', () => undefined);
    let busy = true;
    let load: Promise<void> | undefined;
    try {
      await pool.query('SELECT 1'); // an idle connection, open before the network goes silent
      const worker = new Reconciler({ pool, queue, intervalMs: 60_000, staleMs: 1000, logger });
      proxy.hold();
      await expect(worker.runOnce()).rejects.toThrow(/timeout/i);
      proxy.release();
      // The held lock statement reaches PostgreSQL and runs (its session then shows it as its last statement, or is gone).
      await waitFor('the held lock statement to have run', async () => {
        const { rows } = await db.pool.query<{ query: string }>(`SELECT query FROM pg_stat_activity WHERE application_name = $1`, [APPLICATION_NAME]);
        return rows.length === 0 || rows.every((row) => row.query.includes('pg_try_advisory_lock'));
      });
      // The worker goes on using its pool (claims, finishes), so an idle connection is not closed by the idle timeout.
      load = (async () => {
        while (busy) await pool.query('SELECT 1').catch(() => undefined);
      })();
      const other = new Reconciler({ pool: db.pool, queue, intervalMs: 60_000, staleMs: 1000, logger });
      // Fails: every pass of the other worker finds the lock taken (undefined), by the first worker's pooled session.
      await waitFor("another worker's reconciler pass", async () => (await other.runOnce()) !== undefined, { timeoutMs: 10_000, intervalMs: 200 });
    } finally {
      busy = false;
      await load;
      await closePool(pool);
      await proxy.stop();
    }
  });
});
