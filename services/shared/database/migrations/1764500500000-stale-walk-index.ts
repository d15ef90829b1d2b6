import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `(status, updated_at)` becomes `(status, updated_at, id)`: the reconciler walks the stale events of each status in
 * (updated_at, id) order, batch after batch from where the last stopped, and with the id in the index each batch is
 * an ordered index range that stops at the batch size. Retention and the overview read it by (status, updated_at) as
 * before.
 *
 * No transaction: built CONCURRENTLY (a plain CREATE INDEX would hold off every webhook insert while it scans a
 * large table), and the old index is dropped only once the new one is valid; every step can run again after a
 * failure half-way.
 */
export class StaleWalkIndex1764500500000 implements MigrationInterface {
  name = 'StaleWalkIndex1764500500000';
  transaction = false;

  async up(queryRunner: QueryRunner): Promise<void> {
    await buildIndex(queryRunner, 'ix_webhook_events_status_updated_id', '(status, updated_at, id)');
    await queryRunner.query(`DROP INDEX CONCURRENTLY IF EXISTS ix_webhook_events_status_updated`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await buildIndex(queryRunner, 'ix_webhook_events_status_updated', '(status, updated_at)');
    await queryRunner.query(`DROP INDEX CONCURRENTLY IF EXISTS ix_webhook_events_status_updated_id`);
  }
}

/** Builds `name` on webhook_events unless a valid one exists; an invalid one (a failed concurrent build) is rebuilt. */
async function buildIndex(queryRunner: QueryRunner, name: string, columns: string): Promise<void> {
  const existing = (await queryRunner.query(
    `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace`,
    [name],
  )) as { valid: boolean }[];
  if (existing[0]?.valid) return;
  if (existing[0]) await queryRunner.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
  await queryRunner.query(`CREATE INDEX CONCURRENTLY ${name} ON webhook_events ${columns}`);
}
