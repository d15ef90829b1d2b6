import type { QueryRunner } from 'typeorm';

/**
 * Builds index `name` (`definition`: `table (columns) [WHERE …]`, or `table USING method (columns)`) with CREATE INDEX
 * CONCURRENTLY, so that webhook inserts go on while it scans a large table; the migration must run outside a
 * transaction. A valid index of that name is kept; an invalid one, left by a concurrent build that failed half-way,
 * is dropped and built again, so the migration can simply run again.
 */
export async function buildIndexConcurrently(queryRunner: QueryRunner, name: string, definition: string): Promise<void> {
  const existing = (await queryRunner.query(
    `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace`,
    [name],
  )) as { valid: boolean }[];
  if (existing[0]?.valid) return;
  if (existing[0]) await queryRunner.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
  await queryRunner.query(`CREATE INDEX CONCURRENTLY ${name} ON ${definition}`);
}
