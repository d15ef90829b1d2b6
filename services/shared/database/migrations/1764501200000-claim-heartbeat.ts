import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `webhook_events.claim_heartbeat_at`: when the worker running the claim that holds the event (PROCESSING) last said
 * it is still at it. The claim sets it; a worker refreshes it for its runs in progress longer than a few seconds
 * (services/worker/processing/claim-heartbeat.ts). Another job's claim does not take over an event whose claim or
 * heartbeat is recent, nor does the reconciler count it stranded: a live run (its last attempt waiting for a slow
 * destination's slot, say) was taken for a dead one once its job was gone (Redis lost its data) and dead-lettered.
 */
export class ClaimHeartbeat1764501200000 implements MigrationInterface {
  name = 'ClaimHeartbeat1764501200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Nullable, no default: a catalogue change only, whatever the table holds (NULL: no heartbeat, the claim time counts).
    await queryRunner.query(`ALTER TABLE webhook_events ADD COLUMN IF NOT EXISTS claim_heartbeat_at timestamptz`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE webhook_events DROP COLUMN IF EXISTS claim_heartbeat_at`);
  }
}
