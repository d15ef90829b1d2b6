/**
 * What the migrations wait for that other sessions hold ends with their budget (STARTUP_WAIT_MS) or a stop, saying
 * what it waited for, and leaves nothing behind: a CREATE INDEX CONCURRENTLY behind another session's open
 * transaction is cancelled in PostgreSQL (past the budget, or on SIGTERM), and the invalid index it leaves is dropped
 * and built by the next run; a wait for the migrations' advisory lock is logged once, naming the session holding it.
 * (all-role-migration-index-wait.test.ts has the reviewer's two tests of the bounds themselves.)
 */
import { afterEach, beforeAll, expect, it } from '@jest/globals';
import pg from 'pg';
import { ADVISORY_LOCKS } from '../../services/shared/database/advisory-lock.js';
import { migrations } from '../../services/shared/database/migrations/index.js';
import { runMigrations } from '../../services/shared/database/run-migrations.js';
import { StartDeadline } from '../../services/shared/startup/start-deadline.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { databaseBeforeMigration, holdBackupTransaction } from '../support/database-before-migration.js';
import { createQueueNamespace } from '../support/test-redis.js';
import { buildServiceOnce, MigrateProcess } from '../support/migrate-process.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';

const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(buildServiceOnce, 240_000);
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const INDEX = 'ix_webhook_events_status_updated_id';

/** A database as a release before StaleWalkIndex1764500500000 left it, and a backup's transaction open on it. */
async function databaseBeforeIndexMigration(): Promise<{ url: string; holder: pg.Client; observer: pg.Client }> {
  const db = await databaseBeforeMigration('StaleWalkIndex1764500500000', 'migration_waits');
  cleanups.push(() => db.drop());
  const holder = await db.connect('nightly-backup');
  await holdBackupTransaction(holder);
  return { url: db.url, holder, observer: await db.connect('migration-waits-test') };
}

async function startAll(url: string, startupWaitMs: number): Promise<ServiceProcess> {
  const ns = createQueueNamespace();
  cleanups.push(() => ns.cleanup());
  const service = new ServiceProcess(
    { SERVICE_ROLE: 'all', DATABASE_URL: url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, STARTUP_WAIT_MS: String(startupWaitMs), STRIPE_WEBHOOK_SECRET: 'whsec_test' },
    await freePort(),
  );
  cleanups.push(() => service.kill());
  await service.start({ waitForReady: false });
  return service;
}

const indexBuildsWaiting = async (observer: pg.Client) =>
  (
    await observer.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query ~* '^(CREATE|DROP) INDEX CONCURRENTLY' AND state = 'active'`,
    )
  ).rowCount ?? 0;

const indexValidity = async (observer: pg.Client) =>
  (
    await observer.query<{ valid: boolean }>(
      `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1`,
      [INDEX],
    )
  ).rows;

const failureMessage = (service: ServiceProcess) =>
  (service.jsonLogs().find((line) => line.message === 'service failed to start')?.error as { message?: string; code?: string } | undefined) ?? {};

it('an index build cancelled past STARTUP_WAIT_MS says whom it waited for; the next run drops the invalid index and builds it', async () => {
  const { url, holder, observer } = await databaseBeforeIndexMigration();
  const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const service = await startAll(url, 2000);
  expect(await service.exited(60_000)).toEqual({ code: 1, signal: null });

  const failure = failureMessage(service);
  expect(failure.code).toBe('MIGRATION_LOCK_WAIT_EXCEEDED');
  expect(failure.message).toMatch(/^migrations gave up after \d+ s waiting for other sessions' transactions to end for "CREATE INDEX CONCURRENTLY ix_webhook_events_status_updated_id /);
  expect(failure.message).toContain(`pid ${holderPid} (idle in transaction, application "nightly-backup"`);
  await waitFor('no index build left waiting', async () => (await indexBuildsWaiting(observer)) === 0, { timeoutMs: 10_000, intervalMs: 100 });
  expect(await indexValidity(observer)).toEqual([{ valid: false }]);

  // The backup ends: the next run (here in-process) drops the invalid index and builds it.
  await holder.query('COMMIT');
  await runMigrations({ url, logger: createLogger('migrations'), deadline: new StartDeadline(30_000) });
  expect(await indexValidity(observer)).toEqual([{ valid: true }]);
}, 120_000);

it('SIGTERM while an index build waits for an open transaction cancels the build before the process exits', async () => {
  const { url, observer } = await databaseBeforeIndexMigration();
  const service = await startAll(url, 120_000);
  await waitFor('the index build to wait', async () => service.exitState() !== undefined || (await indexBuildsWaiting(observer)) === 1, {
    timeoutMs: 60_000,
    intervalMs: 100,
  });
  service.signal('SIGTERM');
  expect(await service.exited(30_000)).toEqual({ code: 0, signal: null });
  // Cancelled before the exit, not left waiting for as long as the backup runs.
  expect(await indexBuildsWaiting(observer)).toBe(0);
}, 120_000);

it('npm run migrate on SIGTERM cancels its waiting index build before it exits', async () => {
  const { url, observer } = await databaseBeforeIndexMigration();
  const migrate = new MigrateProcess(url);
  cleanups.push(async () => migrate.kill('SIGKILL'));
  await waitFor('the index build to wait', async () => migrate.exitCode !== undefined || (await indexBuildsWaiting(observer)) === 1, { timeoutMs: 60_000, intervalMs: 100 });
  // node.sh execs node, so the signal reaches the migrate process itself.
  migrate.kill('SIGTERM');
  expect(await migrate.exited).toBe(1);
  expect(migrate.output.stderr).toMatch(/Migrations failed: stopped waiting for the migrations/);
  expect(await indexBuildsWaiting(observer)).toBe(0);
}, 120_000);

it('a start waiting for the migrations lock says once which session holds it, and fails in one line past STARTUP_WAIT_MS', async () => {
  const { url, holder, observer } = await databaseBeforeIndexMigration();
  await holder.query('COMMIT');
  await observer.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCKS.migrations]);
  const observerPid = (await observer.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const service = await startAll(url, 2000);
  expect(await service.exited(60_000)).toEqual({ code: 1, signal: null });

  const waits = service.jsonLogs().filter((line) => line.message === 'another process is applying the migrations; waiting for its lock');
  expect(waits).toHaveLength(1);
  expect(String(waits[0]!.heldBy)).toContain(`pid ${observerPid} (application "migration-waits-test"`);
  const failure = failureMessage(service);
  expect(failure.code).toBe('MIGRATION_LOCK_WAIT_EXCEEDED');
  expect(failure.message).toMatch(/^migrations gave up after \d+ s waiting for the migrations lock, which another process applying them holds: held by pid \d+ \(application "migration-waits-test"/);
}, 120_000);
