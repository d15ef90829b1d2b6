import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `webhook_events.claim_waiting`: true while the claim holding the event (PROCESSING) has sent nothing and every
 * delivery it still runs waits for its destination's slot (`maxConcurrency`). A worker killed then (SIGKILL, OOM) made no attempt,
 * so the claim that takes the event over next does not count one (see processing-store.ts): each such kill used one
 * of the event's JOB_ATTEMPTS and dead-lettered it early.
 */
export class ClaimWaiting1764500900000 implements MigrationInterface {
  name = 'ClaimWaiting1764500900000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // A constant default: a catalogue change only (PostgreSQL 11+ writes no row), whatever the table holds.
    await queryRunner.query(`ALTER TABLE webhook_events ADD COLUMN IF NOT EXISTS claim_waiting boolean NOT NULL DEFAULT false`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE webhook_events DROP COLUMN IF EXISTS claim_waiting`);
  }
}
