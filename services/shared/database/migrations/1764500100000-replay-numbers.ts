import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Attempt numbers restart at 1 after a replay; the replay number tells the rounds apart: `webhook_events.replays`
 * counts the event's replays, and each delivery attempt records the round (0: before any replay) it belongs to.
 */
export class ReplayNumbers1764500100000 implements MigrationInterface {
  name = 'ReplayNumbers1764500100000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE webhook_events ADD COLUMN replays integer NOT NULL DEFAULT 0`);
    await queryRunner.query(`ALTER TABLE delivery_attempts ADD COLUMN replay integer NOT NULL DEFAULT 0`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE delivery_attempts DROP COLUMN replay`);
    await queryRunner.query(`ALTER TABLE webhook_events DROP COLUMN replays`);
  }
}
