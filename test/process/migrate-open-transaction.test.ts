/**
 * An upgrade's migration Job (`npm run migrate`) on a database where another session holds a transaction open (a
 * `pg_dump` backup, an operator's report or psql session, a long console query): CREATE INDEX CONCURRENTLY waits, by
 * design, for every transaction of the database that is older than the index to end (that is what lets webhook
 * inserts go on meanwhile), and so does a CONCURRENTLY build on a table of a few million rows while it scans.
 *
 * Found: the migrations' data source (data-source.ts) takes the service's POOL_SETTINGS, with statement_timeout
 * 15 s, so every migration statement is cut off at 15 s: with a transaction open for longer, `npm run migrate` on a
 * database before StaleWalkIndex1764500500000 exits 1 after ~16 s ("Migration "StaleWalkIndex1764500500000" failed,
 * error: canceling statement due to statement timeout"), leaving the invalid index ix_webhook_events_status_updated_id
 * behind; every retry of the Job fails the same way and `helm upgrade` fails. The chart README's advice for long
 * migrations (raise --timeout and migrations.activeDeadlineSeconds) cannot help: no statement may run past 15 s. The
 * migrations need no such cap (the Job's activeDeadlineSeconds bounds them), or one of their own, far larger.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import pg from 'pg';
import { POOL_SETTINGS } from '../../services/shared/database/create-pool.js';
import { MIGRATIONS_TABLE } from '../../services/shared/database/data-source.js';
import { migrations } from '../../services/shared/database/migrations/index.js';
import { databaseBeforeMigration, holdBackupTransaction, type DatabaseBeforeMigration } from '../support/database-before-migration.js';
import { buildServiceOnce, MigrateProcess } from '../support/migrate-process.js';
import { waitFor } from '../support/wait-for.js';

let db: DatabaseBeforeMigration | undefined;

beforeAll(buildServiceOnce, 240_000);

afterAll(() => db?.drop());

it('a migration building an index CONCURRENTLY waits out a transaction open longer than the pool statement_timeout, then completes', async () => {
  // The database as a release before StaleWalkIndex1764500500000 left it (its migrations only), with some events.
  db = await databaseBeforeMigration('StaleWalkIndex1764500500000', 'migrate_open_tx');
  await db.query(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     SELECT 'github', 'ext-' || g, 'push', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'COMPLETED' FROM generate_series(1, 100) g`,
  );

  // Another session's transaction, open over the whole upgrade (as a backup's would be).
  const holder = await db.connect('nightly-backup');
  await holdBackupTransaction(holder);

  const migrate = new MigrateProcess(db.url);

  try {
    // The index build waits for the open transaction. The migration must still be under way (not failed) once the
    // transaction has been open well past the pool's statement_timeout.
    const pastTimeoutSeconds = POOL_SETTINGS.statement_timeout / 1000 + 5;
    const waited = await waitFor(
      `the transaction to be open ${pastTimeoutSeconds} s with the migration still under way (or the migrate process to end)`,
      async () => {
        if (migrate.exitCode !== undefined) return { exited: migrate.exitCode, stderr: migrate.failures()[0] ?? migrate.output.stderr.slice(-300) };
        // now() is the holder's transaction start.
        const { rows } = await holder.query<{ seconds: number }>('SELECT extract(epoch FROM clock_timestamp() - now())::float8 AS seconds');
        return rows[0]!.seconds > pastTimeoutSeconds ? { exited: 'still running' as const } : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    expect(waited).toEqual({ exited: 'still running' });

    // The backup ends: the migrations complete.
    await holder.query('COMMIT');
    expect(await migrate.exited).toBe(0);
    const check = new pg.Client({ connectionString: db.url });
    await check.connect();
    try {
      const { rows } = await check.query<{ valid: boolean }>(
        `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'ix_webhook_events_status_updated_id'`,
      );
      expect(rows).toEqual([{ valid: true }]);
      const newest = new (migrations.at(-1)!)().name!;
      const { rows: applied } = await check.query(`SELECT 1 FROM ${MIGRATIONS_TABLE} WHERE name = $1`, [newest]);
      expect(applied).toHaveLength(1);
    } finally {
      await check.end();
    }
  } finally {
    migrate.kill('SIGKILL');
  }
}, 240_000);
