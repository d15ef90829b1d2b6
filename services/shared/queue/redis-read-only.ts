/**
 * A Redis that answers but refuses writes because it is a replica: after a failover of a managed Redis (ElastiCache,
 * a Sentinel-managed VIP, Memorystore) the old primary becomes a replica of the new one without closing its clients,
 * and every write on their connections gets `READONLY You can't write against a read only replica.`. The endpoint
 * already points at the new primary, so a new connection is all a client needs (AWS's documented fix for ElastiCache:
 * reconnect on READONLY).
 *
 * READONLY is Redis refusing the command before running it: a replica runs no write, and a script (EVALSHA, every
 * BullMQ operation) stops at its first write with nothing written. So the command can be sent again on the new
 * connection without being applied twice.
 */

import { createLogger } from '../logging/logger.js';

/** How Redis words the refusal: the reply itself (Redis ≥ 7, scripts included) or inside a script error (Redis < 7). */
const READ_ONLY_REPLY = /^READONLY\b|^ERR Error running script\b.*-READONLY\b/s;

/** Whether `error` is a replica's refusal of a write (a reply error starting with READONLY). */
export function isReadOnlyRefusal(error: unknown): boolean {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' && READ_ONLY_REPLY.test(message);
}

/** At most one warning a minute: a connection pointed at a replica for good reconnects several times a second. */
const READ_ONLY_WARN_INTERVAL_MS = 60_000;
const logger = createLogger('redis');
let refusalsSinceWarning = 0;
let lastWarningAt = -Infinity;

/**
 * Notes that a connection meets READONLY and reconnects. A failover is over in one reconnect; REDIS_URL naming a
 * replica (a reader endpoint) is never over, and the connections then reconnect and resend every few hundred
 * milliseconds without a word in the logs: this says so, with how often, at most once a minute.
 */
export function warnReadOnlyRefusal(role: string): void {
  refusalsSinceWarning++;
  const now = Date.now();
  if (now - lastWarningAt < READ_ONLY_WARN_INTERVAL_MS) return;
  logger.warn('Redis refused a write (READONLY: the node is a replica); reconnecting, as after a failover. If this repeats, REDIS_URL names a replica, not the primary', {
    role,
    refusals: refusalsSinceWarning,
    sinceMs: Number.isFinite(lastWarningAt) ? now - lastWarningAt : undefined,
  });
  refusalsSinceWarning = 0;
  lastWarningAt = now;
}
