import type { QueryRunner } from 'typeorm';

/**
 * Builds index `name` (`definition`: `table (columns) [WHERE …]`, or `table USING method (columns)`) with CREATE INDEX
 * CONCURRENTLY, so that webhook inserts go on while it scans a large table; the migration must run outside a
 * transaction. A valid index of that name is kept; an invalid one, left by a concurrent build that failed half-way,
 * is dropped and built again, so the migration can simply run again. `unique`: CREATE UNIQUE INDEX CONCURRENTLY
 * (an invalid unique index left behind still checks inserts until it is dropped; a rebuild drops it first).
 */
export async function buildIndexConcurrently(
  queryRunner: QueryRunner,
  name: string,
  definition: string,
  { unique = false }: { unique?: boolean } = {},
): Promise<void> {
  const existing = (await queryRunner.query(
    `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace`,
    [name],
  )) as { valid: boolean }[];
  if (existing[0]?.valid) return;
  await withoutLockTimeout(queryRunner, async () => {
    if (existing[0]) await queryRunner.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
    await queryRunner.query(`CREATE ${unique ? 'UNIQUE ' : ''}INDEX CONCURRENTLY ${name} ON ${definition}`);
  });
}

/** DROP INDEX CONCURRENTLY `name` if it exists, waiting as long as it takes (see {@link withoutLockTimeout}). */
export async function dropIndexConcurrently(queryRunner: QueryRunner, name: string): Promise<void> {
  await withoutLockTimeout(queryRunner, () => queryRunner.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`));
}

/**
 * Runs a CONCURRENTLY index statement with no lock_timeout. Such a statement waits for every older transaction of the
 * database, and PostgreSQL counts that wait as a lock wait: with the migrations' short lock_timeout it was cancelled as
 * soon as a backup or a report had a transaction open, after the build had scanned the table, and left an invalid index
 * to build again. Its SHARE UPDATE EXCLUSIVE lock conflicts with no INSERT, UPDATE or DELETE, so while it waits ingest
 * and the workers go on; the short lock_timeout is for the statements that would hold them up (ALTER TABLE).
 */
async function withoutLockTimeout<T>(queryRunner: QueryRunner, statements: () => Promise<T>): Promise<T> {
  await queryRunner.query('SET lock_timeout = 0');
  try {
    return await statements();
  } finally {
    // Back to the session's own setting (the migrations' data source sets it when it connects).
    await queryRunner.query('RESET lock_timeout');
  }
}
