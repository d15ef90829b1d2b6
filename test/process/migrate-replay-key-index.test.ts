/**
 * An upgrade from chart 0.1.0 (the schema before ReplayKey1764500000000) on a database with events in it.
 *
 * Found: ReplayKey added `webhook_events.replay_key` and built its unique index with a plain CREATE UNIQUE INDEX in
 * the same transaction, so the ADD COLUMN's ACCESS EXCLUSIVE lock was held for the whole scan of the table: every
 * webhook insert (and every read of the workers and the admin API) waited for it (0.7 s for 1 M rows of 2 kB with the
 * table in cache; a scan from disk of a table of tens of GB, minutes, past the ingress's 15 s statement timeout).
 * Expected: the index is built CONCURRENTLY, as every other index of webhook_events is, so inserts go on during the
 * build. Such a build waits for older transactions (here a snapshot held open, as a backup's), which is what makes it
 * observable mid-way; a plain build does not wait for them and is recorded at once.
 *
 * Also: the migrations' watchdog cancels a CONCURRENTLY build still waiting at STARTUP_WAIT_MS only when it knows the
 * statement for one; it did not know `CREATE UNIQUE INDEX CONCURRENTLY`, which then waited for as long as the backup.
 */
import { afterEach, beforeAll, expect, it } from '@jest/globals';
import type pg from 'pg';
import { POOL_SETTINGS } from '../../services/shared/database/create-pool.js';
import { MIGRATIONS_TABLE } from '../../services/shared/database/data-source.js';
import { migrations } from '../../services/shared/database/migrations/index.js';
import { databaseBeforeMigration, type DatabaseBeforeMigration } from '../support/database-before-migration.js';
import { buildServiceOnce, MigrateProcess } from '../support/migrate-process.js';
import { waitFor } from '../support/wait-for.js';

const INDEX = 'uq_webhook_events_provider_replay_key';
const MIGRATION = 'ReplayKey1764500000000';

let db: DatabaseBeforeMigration | undefined;
let migrate: MigrateProcess | undefined;

beforeAll(buildServiceOnce, 240_000);

afterEach(async () => {
  migrate?.kill('SIGKILL');
  await migrate?.exited;
  await db?.drop();
  migrate = db = undefined;
});

/** The database as chart 0.1.0 left it, with some events, and a session holding a snapshot open (as a backup's). */
async function olderDatabaseWithOpenSnapshot(label: string): Promise<{ holder: pg.Client; observer: pg.Client }> {
  db = await databaseBeforeMigration(MIGRATION, label);
  await db.query(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     SELECT 'github', 'ext-' || g, 'push', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'COMPLETED' FROM generate_series(1, 100) g`,
  );
  // A snapshot, and no lock on webhook_events: an ALTER TABLE does not wait for it, a CONCURRENTLY build does.
  const holder = await db.connect('nightly-backup');
  await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  await holder.query(`SELECT count(*) FROM ${MIGRATIONS_TABLE}`);
  return { holder, observer: await db.connect('replay-key-test') };
}

const replayKeyIndex = async (observer: pg.Client) =>
  (
    await observer.query<{ valid: boolean; unique: boolean }>(
      `SELECT i.indisvalid AS valid, i.indisunique AS unique FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1`,
      [INDEX],
    )
  ).rows;

it('the replay key unique index is built while webhooks go on being inserted, and is unique once built', async () => {
  const { holder, observer } = await olderDatabaseWithOpenSnapshot('replay_key_concurrent');
  migrate = new MigrateProcess(db!.url);

  const seen = await waitFor(
    `the replay key index to be built (or ${MIGRATION} to be recorded without a wait)`,
    async () => {
      if (migrate!.exitCode !== undefined) return { exited: migrate!.exitCode, stderr: migrate!.output.stderr.slice(-300) };
      const { rows: building } = await observer.query(
        `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'migrations'
            AND wait_event_type = 'Lock' AND query ILIKE '%INDEX CONCURRENTLY ${INDEX}%'`,
      );
      if (building.length > 0) return 'building while inserts go on';
      const { rows: recorded } = await observer.query(`SELECT 1 FROM ${MIGRATIONS_TABLE} WHERE name = $1`, [MIGRATION]);
      return recorded.length > 0 ? `${MIGRATION} applied inside its transaction, holding webhook_events' ACCESS EXCLUSIVE lock for the scan` : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 100 },
  );
  expect(seen).toBe('building while inserts go on');

  // A webhook stored during the build, as the ingress stores one (its pool's statement_timeout), replay key and all.
  const ingest = await db!.connect('replay-key-test');
  await ingest.query(`SET statement_timeout = ${POOL_SETTINGS.statement_timeout}`);
  const insert = `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, replay_key)
                  VALUES ('github', $1, 'push', '{}', '\\x7b7d', 'application/json', 'sha256:same-body')`;
  await ingest.query(insert, ['during-upgrade']);

  // The backup ends: the build and the remaining migrations complete.
  await holder.query('COMMIT');
  expect({ code: await migrate.exited, failure: migrate.failures()[0] }).toEqual({ code: 0, failure: undefined });
  expect(await replayKeyIndex(observer)).toEqual([{ valid: true, unique: true }]);
  const newest = new (migrations.at(-1)!)().name!;
  expect((await observer.query(`SELECT 1 FROM ${MIGRATIONS_TABLE} WHERE name = $1`, [newest])).rowCount).toBe(1);
  // The guard holds: the same body under another id is refused.
  await expect(ingest.query(insert, ['replayed'])).rejects.toMatchObject({ code: '23505', constraint: INDEX });
}, 300_000);

it('a replay key index build still waiting at STARTUP_WAIT_MS is cancelled; the next run drops the invalid index and builds it', async () => {
  const { holder, observer } = await olderDatabaseWithOpenSnapshot('replay_key_deadline');
  migrate = new MigrateProcess(db!.url, { STARTUP_WAIT_MS: '6000' });

  // Bounded here, not by the backup: without the cancel the build waits for as long as the snapshot is held.
  const exited = await waitFor('migrate to give up waiting for the open snapshot', () => (migrate!.exitCode !== undefined ? { code: migrate!.exitCode } : undefined), {
    timeoutMs: 90_000,
    intervalMs: 100,
  });
  expect(exited).toEqual({ code: 1 });
  expect(migrate.failures()[0]).toMatch(
    new RegExp(`^Migrations failed: migrations gave up after \\d+ s waiting for other sessions' transactions to end for "CREATE UNIQUE INDEX CONCURRENTLY ${INDEX} `),
  );
  expect(await replayKeyIndex(observer)).toEqual([{ valid: false, unique: true }]);

  await holder.query('COMMIT');
  migrate = new MigrateProcess(db!.url);
  expect({ code: await migrate.exited, failure: migrate.failures()[0] }).toEqual({ code: 0, failure: undefined });
  expect(await replayKeyIndex(observer)).toEqual([{ valid: true, unique: true }]);
}, 300_000);
