import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `webhook_events.claim_token`: the token of the claim that last moved the event to PROCESSING, chosen by the worker
 * before it sends the claim. A claim sent again after its connection broke (withReconnects) finds its own token when
 * the first send committed and only its answer was lost, and takes that claim as it stands instead of counting a
 * second attempt (see processing-store.ts). NULL for events never claimed since this migration.
 */
export class ClaimToken1764500800000 implements MigrationInterface {
  name = 'ClaimToken1764500800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Nullable, no default: a catalogue change only, whatever the table holds. Read only with the row's primary key.
    await queryRunner.query(`ALTER TABLE webhook_events ADD COLUMN IF NOT EXISTS claim_token uuid`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE webhook_events DROP COLUMN IF EXISTS claim_token`);
  }
}
