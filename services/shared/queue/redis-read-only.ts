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

/** How Redis words the refusal: the reply itself (Redis ≥ 7, scripts included) or inside a script error (Redis < 7). */
const READ_ONLY_REPLY = /^READONLY\b|^ERR Error running script\b.*-READONLY\b/s;

/** Whether `error` is a replica's refusal of a write (a reply error starting with READONLY). */
export function isReadOnlyRefusal(error: unknown): boolean {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' && READ_ONLY_REPLY.test(message);
}
