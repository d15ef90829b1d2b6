import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `webhook_events.held_since_by_destination`: since when the event has waited for each destination it waits for
 * (`held_for`), as a JSON object from destination name to time, written by the worker's finish with `held_for`; NULL
 * when it waits for none, and on rows a worker older than this migration's code wrote (readers then use `held_since`).
 * Read only for the names in `held_for` (a claim that clears `held_for` leaves it). The admin API's `waiting.oldestSince`,
 * webhook_destination_oldest_waiting_age_seconds and WebhookDestinationHeldTooLong read a destination's own wait
 * from it: with one `held_since` per event, the wait of a destination that joined later was overstated, or (kept as
 * the latest join) a destination paused for an hour looked seconds old once another destination joined the wait.
 * Keyed by name, not an array in `held_for`'s order: an older worker rewrites `held_for` without this column during a
 * rollout, and a name still finds its own time (see services/shared/destinations/held-events.ts).
 */
export class HeldSinceByDestination1764501300000 implements MigrationInterface {
  name = 'HeldSinceByDestination1764501300000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Nullable, no default: a catalogue change only, whatever the table holds.
    await queryRunner.query(`ALTER TABLE webhook_events ADD COLUMN IF NOT EXISTS held_since_by_destination jsonb`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE webhook_events DROP COLUMN IF EXISTS held_since_by_destination`);
  }
}
