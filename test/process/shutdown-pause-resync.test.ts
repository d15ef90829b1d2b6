import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { Redis } from 'ioredis';
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
 * Every few seconds a worker copies PostgreSQL's record of the paused destinations to Redis when Redis's copy is
 * older (a resume the admin API recorded while Redis did not answer), and then promotes the held jobs of the
 * destinations resumed. That resync ran from a bare setInterval: a drain cleared it but did not wait for a run in
 * progress, which went on against the Redis and pool the drain had just closed (its errors swallowed): the resume
 * never reached Redis from that run, and the events waiting for the destination stayed delayed for their recheck
 * (minutes), no other run promoting them once a later copy found Redis up to date. Now the drain waits for the run.
 *
 * The run is held in progress by a real lock: the test records the resume in a transaction that holds
 * destination_pause_version in ACCESS EXCLUSIVE mode, so the run's snapshot waits, until the drain has gone as far as
 * it goes without it.
 */

const TOKEN = 'adm_shutdown_pause_resync_7c41';
const STRIPE_SECRET = 'whsec_shutdown_pause_resync';
jest.setTimeout(240_000);

let db: TestDatabase;
let ns: TestQueueNamespace;
let redis: Redis;
const files: TempRoutesFile[] = [];
const sink = new HttpSink();
let worker: ServiceProcess | undefined;
let locker: pg.PoolClient | undefined;

beforeAll(async () => {
  [db] = await Promise.all([createTestDatabase(), sink.start()]);
  ns = createQueueNamespace();
  redis = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  await locker?.query('ROLLBACK').catch(() => undefined);
  locker?.release();
  await worker?.kill();
  redis?.disconnect();
  await sink.stop();
  for (const file of files) file.remove();
  await ns?.cleanup();
  await db?.drop();
});

function routesPath(): string {
  const routes: RoutesDocument = {
    destinations: { billing: { url: `${sink.url}/billing` }, crm: { url: `${sink.url}/crm` } },
    routes: [{ provider: 'stripe', to: ['billing', 'crm'] }],
  };
  const file = writeRoutesFile(routes);
  files.push(file);
  return file.path;
}

const base = () => `${ns.prefix}:webhook-events`;
/** DestinationStateStore's keys: the copy of the paused set and its version. */
const pausesKey = () => `${base()}:destinations`;

/** Three events PENDING, held for crm (paused), their jobs delayed for the paused recheck (minutes). */
async function holdEventsForCrm(): Promise<void> {
  const app = await startInProcessService({
    SERVICE_ROLE: 'all',
    DATABASE_URL: db.url,
    REDIS_URL: ns.redisUrl,
    QUEUE_PREFIX: ns.prefix,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    ADMIN_API_TOKEN: TOKEN,
    ROUTES_FILE: routesPath(),
    POD_DELETION_COST_ENABLED: 'false',
  });
  try {
    expect((await adminRequest(app.baseUrl, TOKEN, 'POST', '/admin/destinations/crm/pause')).status).toBe(200);
    for (const n of [1, 2, 3]) {
      const body = JSON.stringify({ id: `evt_shutdown_resync_${n}`, object: 'event', type: 'invoice.paid', data: { object: {} } });
      const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
      expect(response.status).toBe(202);
    }
    await waitFor('three events waiting for crm, their jobs delayed', async () => {
      const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM webhook_events WHERE status = 'PENDING' AND held_for = '{crm}'`);
      return rows[0].n === 3 && (await redis.zcard(`${base()}:delayed`)) === 3;
    }, { timeoutMs: 60_000 });
  } finally {
    await app.stop();
  }
}

type Run = { conclusive: false } | { conclusive: true; code: number | null; version: number; lines: Record<string, unknown>[] };

/**
 * One worker, started while the test records a resume of crm (as the admin API does while Redis does not answer) in
 * a transaction holding the pauses' version, and drained while its resync waits for it.
 */
async function drainDuringResync(): Promise<Run> {
  locker = await db.pool.connect();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE destination_pause_version IN ACCESS EXCLUSIVE MODE');
  const { rows } = await locker.query<{ version: string }>('UPDATE destination_pause_version SET version = version + 1 RETURNING version::text');
  const version = Number(rows[0]!.version);
  await locker.query(`DELETE FROM destination_pauses WHERE destination = 'crm'`);
  worker = new ServiceProcess(
    {
      SERVICE_ROLE: 'worker',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      ROUTES_FILE: routesPath(),
      POD_DELETION_COST_ENABLED: 'false',
      LOG_LEVEL: 'debug',
      RECONCILER_INTERVAL_MS: '600000',
      RETENTION_COMPLETED_DAYS: '0',
      RETENTION_TOMBSTONE_DAYS: '0',
      SHUTDOWN_TIMEOUT_MS: '60000',
    },
    await freePort(),
  );
  await worker.start();
  // Two snapshots of the pauses wait on the lock: the start's paused-destination warning, then the resync's first run
  // (PAUSE_RESYNC_MS after the start).
  await waitForWorkerWaitingOnLock(db.pool, 'the resync waiting on the lock', 'destination_pause_version', 2);
  await drainWhileWaiting(worker, db.pool, 'shutdown waits for the pause resync');
  await locker.query('COMMIT');
  locker.release();
  locker = undefined;
  const { code } = await worker.exited(60_000);
  const lines = worker.jsonLogs();
  worker = undefined;
  // The pool's statement_timeout (15 s) cut the waiting snapshot off: a loaded machine took that long between the
  // run's start and the release. Such a run proves nothing either way.
  if (lines.some((line) => line.message === 'pause resync failed' && JSON.stringify(line).includes('statement timeout'))) return { conclusive: false };
  return { conclusive: true, code, version, lines };
}

it('a drain waits for the pause resync in progress, which copies a resume to Redis and promotes its held jobs', async () => {
  await holdEventsForCrm();
  let run: Run = { conclusive: false };
  for (let attempt = 1; attempt <= 3 && !run.conclusive; attempt++) run = await drainDuringResync();
  if (!run.conclusive) throw new Error('every run had the resync cut off by the statement timeout');
  expect(run.code).toBe(0);
  expect(run.lines.some((line) => line.message === 'shutdown complete')).toBe(true);
  expect(run.lines.filter((line) => line.message === 'pause resync failed')).toEqual([]);
  // The resume reached Redis from the run the drain waited for, and the events waiting for crm were promoted.
  expect(Number(await redis.get(`${pausesKey()}:paused-version`))).toBe(run.version);
  expect(await redis.sismember(`${pausesKey()}:paused`, 'crm')).toBe(0);
  expect(await redis.zcard(`${base()}:delayed`)).toBe(0);
});
