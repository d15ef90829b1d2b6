import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import type pg from 'pg';
import { adminRequest } from '../support/admin-client.js';
import { HttpSink } from '../support/http-sink.js';
import { writeRoutesFile, type RoutesDocument, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService } from '../support/service-harness.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { drainWhileWaiting, waitForWorkerWaitingOnLock } from '../support/drain-while-locked.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A worker sends on, at start and a minute later, the events held for destinations its ROUTES_FILE no longer has.
 * That pass ran from bare timers: a drain cleared the timers but did not wait for a pass in progress, so the pass went
 * on against the pool and Redis the drain had just closed (`could not send on events waiting for removed
 * destinations`: Cannot use a pool after calling end on the pool), its promotions cut off. Now the drain waits for it
 * and closes the connections after.
 *
 * The pass is held in progress by a real lock: this test holds webhook_events in ACCESS EXCLUSIVE mode, so the pass's
 * first query waits, from the worker's start until the drain has gone as far as it goes without the pass.
 */

const TOKEN = 'adm_shutdown_removed_destination_5e2a';
const STRIPE_SECRET = 'whsec_shutdown_removed_destination';
const WARNING = 'could not send on events waiting for removed destinations';
jest.setTimeout(240_000);

let db: TestDatabase;
let ns: TestQueueNamespace;
const files: TempRoutesFile[] = [];
const sink = new HttpSink();
let worker: ServiceProcess | undefined;
let locker: pg.PoolClient | undefined;

beforeAll(async () => {
  [db] = await Promise.all([createTestDatabase(), sink.start()]);
  ns = createQueueNamespace();
});

afterAll(async () => {
  await locker?.query('ROLLBACK').catch(() => undefined);
  locker?.release();
  await worker?.kill();
  await sink.stop();
  for (const file of files) file.remove();
  await ns?.cleanup();
  await db?.drop();
});

function routesPath(routes: RoutesDocument): string {
  const file = writeRoutesFile(routes);
  files.push(file);
  return file.path;
}

/** Three events PENDING, held for crm (paused), their jobs delayed for the paused recheck (minutes). */
async function holdEventsForCrm(): Promise<void> {
  const app = await startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    ADMIN_API_TOKEN: TOKEN,
    ROUTES_FILE: routesPath({
      destinations: { billing: { url: `${sink.url}/billing` }, crm: { url: `${sink.url}/crm` } },
      routes: [{ provider: 'stripe', to: ['billing', 'crm'] }],
    }),
    POD_DELETION_COST_ENABLED: 'false',
  });
  try {
    expect((await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/destinations/crm/pause')).status).toBe(200);
    for (const n of [1, 2, 3]) {
      const body = JSON.stringify({ id: `evt_shutdown_removed_${n}`, object: 'event', type: 'invoice.paid', data: { object: {} } });
      const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
      expect(response.status).toBe(202);
    }
    await waitFor('three events waiting for crm', async () => {
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM webhook_events WHERE status = 'PENDING' AND held_for = '{crm}'`);
      return rows[0].n === 3;
    }, { timeoutMs: 60_000 });
  } finally {
    await app.stop();
  }
}

type Run = { conclusive: false } | { conclusive: true; code: number | null; warnings: Record<string, unknown>[]; lines: Record<string, unknown>[] };

/** One worker, started while the test holds the lock and drained while its pass waits for it. */
async function drainDuringPass(): Promise<Run> {
  locker = await db.pool.connect();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE');
  worker = new ServiceProcess(
    {
      SERVICE_ROLE: 'worker',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      // crm is gone.
      ROUTES_FILE: routesPath({ destinations: { billing: { url: `${sink.url}/billing` } }, routes: [{ provider: 'stripe', to: ['billing'] }] }),
      POD_DELETION_COST_ENABLED: 'false',
      // Nothing else of the worker's touches webhook_events meanwhile (it would wait on the lock too).
      RECONCILER_INTERVAL_MS: '600000',
      RETENTION_COMPLETED_DAYS: '0',
      RETENTION_TOMBSTONE_DAYS: '0',
      SHUTDOWN_TIMEOUT_MS: '60000',
    },
    await freePort(),
  );
  await worker.start();
  // The pass's first query (heldSummaries) waits on the test's lock. Ready: the worker's checks ran on another session
  // of the pool, idle now; the drain's pool.end() ends it at once.
  await waitForWorkerWaitingOnLock(db.pool, 'the pass waiting on the lock', 'unnest(h.held_for)');
  await drainWhileWaiting(worker, db.pool, 'shutdown waits for the pass');
  await locker.query('COMMIT');
  locker.release();
  locker = undefined;
  const { code } = await worker.exited(60_000);
  const lines = worker.jsonLogs();
  worker = undefined;
  const warnings = lines.filter((line) => line.message === WARNING);
  // The pool's statement_timeout (15 s) cut the waiting query off: a loaded machine took that long between the pass's
  // start and the release. Such a run proves nothing either way.
  if (warnings.some((line) => JSON.stringify(line).includes('statement timeout'))) return { conclusive: false };
  return { conclusive: true, code, warnings, lines };
}

it('a drain waits for the pass sending on events held for removed destinations, then closes the pool and Redis', async () => {
  await holdEventsForCrm();
  let run: Run = { conclusive: false };
  for (let attempt = 1; attempt <= 3 && !run.conclusive; attempt++) run = await drainDuringPass();
  if (!run.conclusive) throw new Error('every run had the pass cut off by the statement timeout');
  expect(run.warnings).toEqual([]);
  expect(run.code).toBe(0);
  expect(run.lines.some((line) => line.message === 'shutdown complete')).toBe(true);
  // The events are still held (the pass stopped with the drain): the next worker's start sends them on.
  const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM webhook_events WHERE status = 'PENDING' AND held_for = '{crm}'`);
  expect(rows[0].n).toBe(3);
});
