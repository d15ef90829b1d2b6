import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What a provider's signature covers when it does not cover the event id (a PayPal transmission id, the SHA-256 of
 * a GitHub body), unique per provider: a replayed transmission or body is never a second event. Set in the same
 * INSERT as the event, so the guard is as durable as the event itself. Existing rows keep NULL (no constraint).
 */
export class ReplayKey1764500000000 implements MigrationInterface {
  name = 'ReplayKey1764500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE webhook_events ADD COLUMN replay_key text`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX uq_webhook_events_provider_replay_key ON webhook_events (provider, replay_key) WHERE replay_key IS NOT NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX uq_webhook_events_provider_replay_key`);
    await queryRunner.query(`ALTER TABLE webhook_events DROP COLUMN replay_key`);
  }
}
