import type { MigrationInterface, QueryRunner } from 'typeorm';
import { buildIndexConcurrently, dropIndexConcurrently } from './build-index-concurrently.js';

/**
 * Destination protection (pause, circuit breaker, rate limit):
 * - `webhook_events.held_for` / `held_since`: the destinations an event waits for (paused, circuit open, rate
 *   limited) and since when, set by the worker's finish statement; NULL when it waits for none. The console, the
 *   admin API, the `webhook_destination_events_waiting` gauge and the promotion of waiting jobs on resume read them.
 * - `destination_pauses`: paused destinations, the record that survives any restart (Redis holds the copy the
 *   workers read before each delivery); `destination_pause_version` orders the copies written to Redis.
 *
 * No transaction: the partial index is built CONCURRENTLY (a plain CREATE INDEX would hold off every webhook insert
 * while it scans a large table); every step can run again after a failure half-way.
 */
export class DestinationProtection1764500400000 implements MigrationInterface {
  name = 'DestinationProtection1764500400000';
  transaction = false;

  async up(queryRunner: QueryRunner): Promise<void> {
    // Nullable, no default: a catalogue change only, whatever the table holds.
    await queryRunner.query(`ALTER TABLE webhook_events ADD COLUMN IF NOT EXISTS held_for text[], ADD COLUMN IF NOT EXISTS held_since timestamptz`);
    await queryRunner.query(
      `CREATE TABLE IF NOT EXISTS destination_pauses (destination text PRIMARY KEY, paused_at timestamptz NOT NULL DEFAULT now())`,
    );
    await queryRunner.query(
      `CREATE TABLE IF NOT EXISTS destination_pause_version (
         singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
         version bigint NOT NULL)`,
    );
    await queryRunner.query(`INSERT INTO destination_pause_version (singleton, version) VALUES (true, 0) ON CONFLICT DO NOTHING`);
    // Only waiting events: a handful, whatever the table holds.
    await buildIndexConcurrently(queryRunner, 'ix_webhook_events_held', 'webhook_events (held_since) WHERE held_for IS NOT NULL');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await dropIndexConcurrently(queryRunner, 'ix_webhook_events_held');
    await queryRunner.query(`DROP TABLE IF EXISTS destination_pause_version`);
    await queryRunner.query(`DROP TABLE IF EXISTS destination_pauses`);
    await queryRunner.query(`ALTER TABLE webhook_events DROP COLUMN IF EXISTS held_since, DROP COLUMN IF EXISTS held_for`);
  }
}
