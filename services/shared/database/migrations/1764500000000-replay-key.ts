import type { MigrationInterface, QueryRunner } from 'typeorm';
import { buildIndexConcurrently, dropIndexConcurrently } from './build-index-concurrently.js';

/**
 * What a provider's signature covers when it does not cover the event id (a PayPal transmission id, the SHA-256 of
 * a GitHub body), unique per provider: a replayed transmission or body is never a second event. Set in the same
 * INSERT as the event, so the guard is as durable as the event itself. Existing rows keep NULL (no constraint).
 *
 * No transaction: the unique index is built CONCURRENTLY. It first ran in one transaction with the ADD COLUMN, so
 * the column's ACCESS EXCLUSIVE lock was held while a plain CREATE UNIQUE INDEX scanned the whole table: an upgrade
 * from chart 0.1.0 stopped every webhook insert (and the workers' reads) for as long as that scan took on a large
 * table. Databases that applied that version keep it (the migration is recorded by name); every step here can run
 * again after a failure half-way.
 */
export class ReplayKey1764500000000 implements MigrationInterface {
  name = 'ReplayKey1764500000000';
  transaction = false;

  async up(queryRunner: QueryRunner): Promise<void> {
    // Nullable, no default: a catalogue change only, whatever the table holds.
    await queryRunner.query(`ALTER TABLE webhook_events ADD COLUMN IF NOT EXISTS replay_key text`);
    await buildIndexConcurrently(queryRunner, 'uq_webhook_events_provider_replay_key', 'webhook_events (provider, replay_key) WHERE replay_key IS NOT NULL', {
      unique: true,
    });
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await dropIndexConcurrently(queryRunner, 'uq_webhook_events_provider_replay_key');
    await queryRunner.query(`ALTER TABLE webhook_events DROP COLUMN IF EXISTS replay_key`);
  }
}
