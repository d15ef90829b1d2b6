import type { MigrationInterface, QueryRunner } from 'typeorm';
import { buildIndexConcurrently, dropIndexConcurrently } from './build-index-concurrently.js';

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
    await buildIndexConcurrently(queryRunner, 'ix_webhook_events_status_updated_id', 'webhook_events (status, updated_at, id)');
    await dropIndexConcurrently(queryRunner, 'ix_webhook_events_status_updated');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await buildIndexConcurrently(queryRunner, 'ix_webhook_events_status_updated', 'webhook_events (status, updated_at)');
    await dropIndexConcurrently(queryRunner, 'ix_webhook_events_status_updated_id');
  }
}
