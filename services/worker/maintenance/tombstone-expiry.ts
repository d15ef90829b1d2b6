import type { ClientBase } from 'pg';
import { tombstonesExpiredByRetention } from '../../shared/metrics/metrics.js';

// Oldest first, in batches, by the deleted_at index: a pass after a long pause never holds long locks.
const DELETE_EXPIRED = {
  name: 'tombstones-delete-expired-v1',
  text: `DELETE FROM webhook_event_tombstones WHERE (provider, replay_key) IN (
           SELECT provider, replay_key FROM webhook_event_tombstones
            WHERE deleted_at < now() - make_interval(days => $1)
            ORDER BY deleted_at
            LIMIT $2)`,
};

export interface TombstoneExpiryOptions {
  /** The client holding retention's advisory lock (see withAdvisoryLock: a pool's other clients may not be free). */
  client: ClientBase;
  /** Tombstones older than this many days are deleted; 0 keeps them forever. */
  days: number;
  batchSize: number;
  /** Asked before each batch: true ends the pass (a draining worker), the next pass deletes the rest. */
  stopping: () => boolean;
}

/**
 * Deletes the tombstones (webhook_event_tombstones: the replay keys of events retention deleted) older than
 * RETENTION_TOMBSTONE_DAYS. From then on a re-sent delivery of such an event is a new event again: a GitHub or
 * `hmac` delivery captured that long ago, if its secret was never rotated. Run by {@link Retention}, under its lock.
 * Returns how many were deleted; `webhook_retention_tombstones_deleted_total` counts them batch by batch. A failed
 * batch is thrown to the pass, which logs it (`retention pass failed`).
 */
export async function expireTombstones(options: TombstoneExpiryOptions): Promise<number> {
  if (options.days <= 0) return 0;
  let total = 0;
  while (!options.stopping()) {
    const { rowCount } = await options.client.query({ ...DELETE_EXPIRED, values: [options.days, options.batchSize] });
    // Each batch commits on its own: counted as it commits, so a pass that fails on a later batch still counts the
    // tombstones its earlier batches deleted (as retention counts its events).
    if (rowCount) tombstonesExpiredByRetention.inc(rowCount);
    total += rowCount ?? 0;
    if (!rowCount) break;
  }
  return total;
}
