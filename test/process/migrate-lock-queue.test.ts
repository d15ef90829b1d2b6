/**
 * An upgrade's migration Job on a database where a transaction that read webhook_events is still open (a `pg_dump`
 * backup, an operator's report): ALTER TABLE webhook_events ADD COLUMN (ClaimWaiting1764500900000, ClaimToken…) needs
 * ACCESS EXCLUSIVE and waits for it. While it waits in the lock queue, every later webhook INSERT queues behind it.
 *
 * Found: the migration sets no lock_timeout, so ingest stops for as long as the ALTER waits: an INSERT as the ingress
 * makes waited 14.4 s, until the pool's statement_timeout (15 s) cancelled the ALTER, and then `npm run migrate` exited
 * 1 ("canceling statement due to statement timeout"); the chart's Job retries it (backoffLimit 6), stalling ingest
 * ~15 s each time, and the upgrade fails while the backup runs. Expected: the migration waits for its lock without
 * holding up inserts (a short lock_timeout, retried until the lock is free), and completes once the transaction ends.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { POOL_SETTINGS } from '../../services/shared/database/create-pool.js';
import { MIGRATIONS_TABLE } from '../../services/shared/database/data-source.js';
import { migrations } from '../../services/shared/database/migrations/index.js';
import { databaseBeforeMigration, holdBackupTransaction, type DatabaseBeforeMigration } from '../support/database-before-migration.js';
import { buildServiceOnce, MigrateProcess } from '../support/migrate-process.js';
import { waitFor } from '../support/wait-for.js';

let db: DatabaseBeforeMigration | undefined;

beforeAll(buildServiceOnce, 240_000);

afterAll(() => db?.drop());

it('a migration waiting for its ALTER TABLE lock does not hold up webhook inserts, and completes once the lock is free', async () => {
  // The database as the release before ClaimWaiting (an ALTER TABLE webhook_events ADD COLUMN) left it.
  // Named, not "all but the newest": a later migration need not alter webhook_events (EventReplayKeys creates a table).
  db = await databaseBeforeMigration('ClaimWaiting1764500900000', 'migrate_lock_queue');
  // A transaction that read the table, open over the upgrade (as a backup's would be).
  const holder = await db.connect('lock-queue-test');
  await holdBackupTransaction(holder, 'READ COMMITTED');
  const observer = await db.connect('lock-queue-test');
  const ingest = await db.connect('lock-queue-test');

  const migrate = new MigrateProcess(db.url);

  try {
    // The migration's ALTER waits for the holder's lock.
    await waitFor(
      'the migration to wait for its lock on webhook_events',
      async () =>
        (
          await observer.query(
            `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE 'ALTER TABLE webhook_events%'`,
          )
        ).rowCount === 1,
      { timeoutMs: 60_000 },
    );
    // A webhook stored meanwhile, as the ingress stores one (with its pool's statement_timeout): it goes in, and the
    // migration still waits for the lock instead of failing.
    await ingest.query(`SET statement_timeout = ${POOL_SETTINGS.statement_timeout}`);
    await ingest.query(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type) VALUES ('github', 'during-upgrade', 'push', '{}', '\\x7b7d', 'application/json')`,
    );
    // The backup ends: the migration completes.
    await holder.query('COMMIT');
    const code = await migrate.exited;
    expect({ code, failure: migrate.failures()[0] }).toEqual({ code: 0, failure: undefined });
    const newest = new (migrations.at(-1)!)().name!;
    expect((await observer.query(`SELECT 1 FROM ${MIGRATIONS_TABLE} WHERE name = $1`, [newest])).rowCount).toBe(1);
  } finally {
    migrate.kill('SIGKILL');
  }
}, 240_000);
