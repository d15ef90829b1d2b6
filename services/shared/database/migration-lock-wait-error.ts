/**
 * The migrations gave up waiting for a table lock: another session kept a transaction open on the table (a backup, a
 * report, an idle-in-transaction psql) for longer than the migrations may wait (`STARTUP_WAIT_MS`). Nothing was left
 * half-done: the migration that waited was rolled back (or, outside a transaction, runs again from where it stopped),
 * so running the migrations again once that session has ended applies them.
 */
export class MigrationLockWaitError extends Error {
  readonly code = 'MIGRATION_LOCK_WAIT_EXCEEDED';
  constructor(
    /** The statement that waited for its lock. */
    readonly statement: string,
    /** The sessions with a transaction open on a table then, oldest first, as `pg_stat_activity` shows them. */
    readonly blockers: string[],
    waitedMs: number,
    cause: unknown,
  ) {
    super(
      `migrations gave up after ${Math.round(waitedMs / 1000)} s waiting for a table lock for "${statement}": ` +
        `${blockers.length > 0 ? `held by ${blockers.join('; ')}` : 'held by another session'}; ` +
        'run the migrations again once it has ended (or raise STARTUP_WAIT_MS)',
      { cause },
    );
    this.name = 'MigrationLockWaitError';
  }
}
