/**
 * How `npm run migrate` waits for the locks its statements need while another session (a backup, a report) keeps a
 * transaction open, beyond what the reviewer's tests (migrate-open-transaction, migrate-lock-queue) check:
 * - an ALTER TABLE gives up its lock wait after MIGRATION_LOCK_TIMEOUT_MS and is tried again, with a warning naming the
 *   statement and the session it waits for, until STARTUP_WAIT_MS has passed: then migrate exits 1 with a one-line
 *   message saying so (MigrationLockWaitError, code MIGRATION_LOCK_WAIT_EXCEEDED), and a later run applies it;
 * - a CREATE INDEX CONCURRENTLY waits in one statement for as long as the transaction stays open: PostgreSQL counts
 *   its wait for older transactions as a lock wait, and with the migrations' lock_timeout it was cancelled every 2 s,
 *   leaving an invalid index to scan the table for again on every try.
 */
import { afterEach, beforeAll, expect, it } from '@jest/globals';
import pg from 'pg';
import { MIGRATION_LOCK_TIMEOUT_MS, MIGRATIONS_TABLE } from '../../services/shared/database/data-source.js';
import { migrations } from '../../services/shared/database/migrations/index.js';
import { databaseBeforeMigration, holdBackupTransaction } from '../support/database-before-migration.js';
import { buildServiceOnce, MigrateProcess } from '../support/migrate-process.js';
import { waitFor } from '../support/wait-for.js';

const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(buildServiceOnce, 240_000);

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** A database with the migrations before `migrationName` applied, and a session holding a transaction open that read webhook_events. */
async function databaseWithOpenTransaction(migrationName: string): Promise<{ url: string; holder: pg.Client; observer: pg.Client }> {
  const db = await databaseBeforeMigration(migrationName, 'migrate_lock_wait');
  cleanups.push(() => db.drop());
  const holder = await db.connect('nightly-backup');
  await holdBackupTransaction(holder);
  return { url: db.url, holder, observer: await db.connect('lock-wait-test') };
}

function startMigrate(url: string, env: Record<string, string> = {}): MigrateProcess {
  const migrate = new MigrateProcess(url, env);
  cleanups.push(async () => migrate.kill('SIGKILL'));
  return migrate;
}

it('an ALTER TABLE behind an open transaction is tried again, saying what it waits for, until STARTUP_WAIT_MS; then migrate fails naming the cause', async () => {
  // Up to ClaimWaiting, an ALTER TABLE webhook_events ADD COLUMN (named: the newest migration need not alter it).
  const { url, holder, observer } = await databaseWithOpenTransaction('ClaimWaiting1764500900000');
  const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

  // Room for two tries (2 s lock timeout, 1 s pause, 2 s) after the migrations before it, within one deadline counted
  // from the start of `npm run migrate` (the wait for PostgreSQL and the earlier migrations use it too).
  const migrate = startMigrate(url, { STARTUP_WAIT_MS: '9000' });
  expect(await migrate.exited).toBe(1);
  const failure = migrate.output.stderr.split('\n').filter((line) => line.startsWith('Migrations failed:'));
  expect(failure).toHaveLength(1);
  expect(failure[0]).toMatch(/^Migrations failed: migrations gave up after \d+ s waiting for a table lock for "ALTER TABLE webhook_events /);
  expect(failure[0]).toContain(`pid ${holderPid} (idle in transaction, application "nightly-backup"`);
  expect(failure[0]).toContain('STARTUP_WAIT_MS');

  const logs = migrate.logLines();
  const retries = logs.filter((line) => /waits for a table lock/.test(String(line.message)));
  expect(retries.length).toBeGreaterThanOrEqual(2);
  expect(retries[0]).toMatchObject({
    statement: expect.stringMatching(/^ALTER TABLE webhook_events /),
    heldBy: [expect.stringContaining(`pid ${holderPid} `)],
    lockTimeoutMs: MIGRATION_LOCK_TIMEOUT_MS,
  });
  expect(logs.find((line) => line.message === 'migrations failed')).toMatchObject({
    error: { name: 'MigrationLockWaitError', code: 'MIGRATION_LOCK_WAIT_EXCEEDED' },
  });

  // The backup ends: the next run applies the migration.
  await holder.query('COMMIT');
  const again = startMigrate(url, { STARTUP_WAIT_MS: '6000' });
  expect({ code: await again.exited, stderr: again.output.stderr }).toEqual({ code: 0, stderr: '' });
  const newest = new (migrations.at(-1)!)().name!;
  expect((await observer.query(`SELECT 1 FROM ${MIGRATIONS_TABLE} WHERE name = $1`, [newest])).rowCount).toBe(1);
}, 120_000);

it('a CREATE INDEX CONCURRENTLY waits for an open transaction in one statement, not cancelled by the lock timeout', async () => {
  const { url, holder, observer } = await databaseWithOpenTransaction('StaleWalkIndex1764500500000');

  const migrate = startMigrate(url);
  // The same build still waiting well past the lock timeout (a cancelled one would start again with a new query_start).
  const waitingSeconds = MIGRATION_LOCK_TIMEOUT_MS / 1000 + 4;
  await waitFor(
    `the index build to have waited ${waitingSeconds} s in one statement`,
    async () =>
      (
        await observer.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'CREATE INDEX CONCURRENTLY ix_webhook_events_status_updated_id%'
              AND state = 'active' AND clock_timestamp() - query_start > make_interval(secs => $1)`,
          [waitingSeconds],
        )
      ).rowCount === 1,
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  expect(migrate.logLines().filter((line) => /waits for a table lock/.test(String(line.message)))).toEqual([]);

  await holder.query('COMMIT');
  expect({ code: await migrate.exited, stderr: migrate.output.stderr }).toEqual({ code: 0, stderr: '' });
  const { rows } = await observer.query<{ valid: boolean }>(
    `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'ix_webhook_events_status_updated_id'`,
  );
  expect(rows).toEqual([{ valid: true }]);
}, 120_000);
