import type { MigrationInterface, QueryRunner } from 'typeorm';
import { buildIndexConcurrently, dropIndexConcurrently } from './build-index-concurrently.js';

/**
 * `ix_webhook_events_held_for`: the waiting events (`held_for IS NOT NULL`) by `held_for`, then `held_since`, `id`,
 * with `status` and `replays` (what a promotion reads: from the index alone where the table's pages are all-visible).
 * See services/shared/destinations/held-events.ts:
 * - The worker's pass over the destinations no longer in ROUTES_FILE (heldForOtherThan) walks its distinct `held_for`
 *   values, one index probe each: it scanned the held events until it had found every such destination, and its last
 *   scan (which finds none) read every held event, all the table's pages behind a backlog of millions.
 * - A promotion's batches past its first read (promoteHeldJobs, a backlog past 100,000) read an ordered range per
 *   `held_for` value holding the destination: each batch read the held events still ahead of it.
 * Only waiting events, like ix_webhook_events_held: small whatever the table holds, except during a large backlog.
 *
 * No transaction: built CONCURRENTLY (a plain CREATE INDEX would hold off every webhook insert while it scans a
 * large table); every step can run again after a failure half-way.
 */
export class HeldForIndex1764501400000 implements MigrationInterface {
  name = 'HeldForIndex1764501400000';
  transaction = false;

  async up(queryRunner: QueryRunner): Promise<void> {
    await buildIndexConcurrently(queryRunner, 'ix_webhook_events_held_for', 'webhook_events (held_for, held_since, id) INCLUDE (status, replays) WHERE held_for IS NOT NULL');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await dropIndexConcurrently(queryRunner, 'ix_webhook_events_held_for');
  }
}
