/**
 * SERVICE_ROLE=all migrates as it starts, and its start is bounded by STARTUP_WAIT_MS (the startup probe is derived to
 * outlast it; a signal stops the wait). A CREATE INDEX CONCURRENTLY migration behind another session's open
 * transaction (a backup, a psql left idle in transaction) runs with no lock_timeout and no statement timeout, so the
 * start waits in that one statement for as long as the transaction stays open: past STARTUP_WAIT_MS with no line
 * saying why (the kubelet's startup probe, derived from STARTUP_WAIT_MS, then kills it, again and again). So does a
 * start waiting for the migrations' advisory lock that another process holds (withMigrationLock polls with no budget).
 */
import { afterEach, expect, it } from '@jest/globals';
import pg from 'pg';
import { ADVISORY_LOCKS } from '../../services/shared/database/advisory-lock.js';
import { migrations } from '../../services/shared/database/migrations/index.js';
import { databaseBeforeMigration, holdBackupTransaction } from '../support/database-before-migration.js';
import { createQueueNamespace } from '../support/test-redis.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const STARTUP_WAIT_MS = 3000;

async function databaseBeforeIndexMigration(): Promise<{ url: string; holder: pg.Client; observer: pg.Client }> {
  const db = await databaseBeforeMigration('StaleWalkIndex1764500500000', 'all_index_wait');
  cleanups.push(() => db.drop());
  const holder = await db.connect('nightly-backup');
  await holdBackupTransaction(holder);
  return { url: db.url, holder, observer: await db.connect('all-index-wait-test') };
}

async function startAll(url: string): Promise<ServiceProcess> {
  const ns = createQueueNamespace();
  cleanups.push(() => ns.cleanup());
  const service = new ServiceProcess(
    { SERVICE_ROLE: 'all', DATABASE_URL: url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, STARTUP_WAIT_MS: String(STARTUP_WAIT_MS), STRIPE_WEBHOOK_SECRET: 'whsec_test' },
    await freePort(),
  );
  cleanups.push(() => service.kill());
  await service.start({ waitForReady: false });
  return service;
}

const indexBuildWaiting = async (observer: pg.Client, seconds: number) =>
  (
    await observer.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'CREATE INDEX CONCURRENTLY%'
          AND state = 'active' AND clock_timestamp() - query_start > make_interval(secs => $1)`,
      [seconds],
    )
  ).rowCount === 1;

it('a SERVICE_ROLE=all start whose index migration waits for an open transaction ends after STARTUP_WAIT_MS, naming what it waits for', async () => {
  const { url, observer } = await databaseBeforeIndexMigration();
  const service = await startAll(url);

  // The start's migration build has waited well past STARTUP_WAIT_MS in one statement...
  const past = (STARTUP_WAIT_MS / 1000) * 3;
  await waitFor(`the index build to have waited ${past} s`, async () => service.exitState() !== undefined || (await indexBuildWaiting(observer, past)), {
    timeoutMs: 60_000,
    intervalMs: 250,
  });
  // ...the start should have given up by now (as it does for an ALTER TABLE's lock wait: MIGRATION_LOCK_WAIT_EXCEEDED),
  // exiting 1 with its statement cancelled rather than left waiting in PostgreSQL. Observed: the process still runs,
  // silent, STARTUP_WAIT_MS long past, and its CREATE INDEX CONCURRENTLY keeps waiting for as long as the transaction.
  expect(service.exitState()).toEqual({ code: 1, signal: null });
  await waitFor('no index build of the start left waiting', async () => !(await indexBuildWaiting(observer, 0)), { timeoutMs: 10_000, intervalMs: 250 });
}, 120_000);

it('a SERVICE_ROLE=all start waiting for the migrations lock another process holds ends after STARTUP_WAIT_MS', async () => {
  // Another process migrating (a migration Job whose index build waits for a backup) holds the migrations' lock.
  const { url, holder, observer } = await databaseBeforeIndexMigration();
  await holder.query('COMMIT');
  await observer.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCKS.migrations]);
  const service = await startAll(url);

  // Ten times STARTUP_WAIT_MS from the test's side: the process's own start (node, config, connections) comes first and
  // takes seconds on a loaded machine (3 times flaked in CI: the start had not yet begun its wait). A start with no
  // budget never ends, so a generous bound still fails without one; with one, the wait below ends at the exit.
  const past = (STARTUP_WAIT_MS / 1000) * 10;
  const startedAt = (await observer.query<{ now: string }>('SELECT clock_timestamp()::text AS now')).rows[0]!.now;
  await waitFor(
    `the start to have waited ${past} s`,
    async () =>
      service.exitState() !== undefined ||
      (await observer.query(`SELECT 1 WHERE clock_timestamp() - $1::timestamptz > make_interval(secs => $2)`, [startedAt, past])).rowCount === 1,
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  // Observed: still running, polling pg_try_advisory_lock every 200 ms with no budget, no line saying why.
  expect(service.exitState()).toEqual({ code: 1, signal: null });
}, 120_000);
