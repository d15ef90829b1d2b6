import type { MigrationInterface, QueryRunner } from 'typeorm';
import { buildIndexConcurrently, dropIndexConcurrently } from './build-index-concurrently.js';

/**
 * `ix_webhook_events_held_for`: the waiting events (`held_for IS NOT NULL`) by `held_for`. The worker's pass over the
 * destinations no longer in ROUTES_FILE (heldForOtherThan, services/shared/destinations/held-events.ts) walks its
 * distinct values, one index probe each: it scanned the held events until it had found every such destination, and
 * its last scan (which finds none) read every held event, all the table's pages behind a backlog of millions.
 * Only waiting events, like ix_webhook_events_held: small whatever the table holds, except during a large backlog.
 *
 * No transaction: built CONCURRENTLY (a plain CREATE INDEX would hold off every webhook insert while it scans a
 * large table); every step can run again after a failure half-way.
 */
export class HeldForIndex1764501400000 implements MigrationInterface {
  name = 'HeldForIndex1764501400000';
  transaction = false;

  async up(queryRunner: QueryRunner): Promise<void> {
    await buildIndexConcurrently(queryRunner, 'ix_webhook_events_held_for', 'webhook_events (held_for) WHERE held_for IS NOT NULL');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await dropIndexConcurrently(queryRunner, 'ix_webhook_events_held_for');
  }
}
