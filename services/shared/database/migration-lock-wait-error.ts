/**
 * The migrations gave up waiting, after as long as they may wait (`STARTUP_WAIT_MS`): for a table lock, or for the
 * older transactions a CONCURRENTLY index build waits out, that another session's open transaction holds (a backup, a
 * report, an idle-in-transaction psql); or for the migrations' advisory lock, which another process applying them
 * holds. Nothing was left half-done: the migration that waited was rolled back (or, outside a transaction, runs again
 * from where it stopped: an index build cancelled half-way is dropped and built again), so running the migrations
 * again once that session has ended applies them.
 */
export class MigrationLockWaitError extends Error {
  readonly code = 'MIGRATION_LOCK_WAIT_EXCEEDED';
  constructor(
    /** The statement that waited. */
    readonly statement: string,
    /** The sessions it waited for, oldest first, as `pg_stat_activity` shows them. */
    readonly blockers: string[],
    waitedMs: number,
    cause: unknown,
    /** What it waited for, in the message. */
    waitedFor = `a table lock for "${statement}"`,
  ) {
    super(
      `migrations gave up after ${Math.round(waitedMs / 1000)} s waiting for ${waitedFor}: ` +
        `${blockers.length > 0 ? `held by ${blockers.join('; ')}` : 'held by another session'}; ` +
        'run the migrations again once it has ended (or raise STARTUP_WAIT_MS)',
      { cause },
    );
    this.name = 'MigrationLockWaitError';
  }
}
