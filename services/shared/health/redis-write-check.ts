import type { Redis } from 'ioredis';
import { isReadOnlyRefusal } from '../queue/redis-read-only.js';
import { healthFailureCategory, type CategorisedFailure, type HealthFailureCategory } from './health-failure-category.js';
import type { HealthCheck } from './health-router.js';
import { RedisConnectionRefusedError, watchConnectionRefusals } from './redis-connection-refusal.js';

/** How long the check's key outlives the last check: probes rewrite it every few seconds, a stopped service leaves none. */
export const REDIS_WRITE_CHECK_TTL_MS = 30_000;

/**
 * Why a Redis that answers takes no writes, by the code of its refusal, for the logged error (the category, which
 * `/health` shows, is the reply's: see health-failure-category.ts).
 */
const REASONS: Array<{ code: string; reason: string }> = [
  { code: 'READONLY', reason: 'it is a read-only replica (a failover, or REDIS_URL naming a replica or reader endpoint): REDIS_URL must lead to the primary' },
  { code: 'OOM', reason: 'it is out of memory (maxmemory reached, and with noeviction nothing is evicted to make room)' },
  { code: 'MISCONF', reason: 'it stopped writes after failing to persist (stop-writes-on-bgsave-error)' },
  { code: 'NOREPLICAS', reason: 'it has fewer replicas than min-replicas-to-write' },
  { code: 'NOPERM', reason: "REDIS_URL's user may not write the queue's keys (ACL)" },
];

/** A Redis that answers but refused the health check's write, with the reason its reply gives. */
export class RedisWritesRefusedError extends Error implements CategorisedFailure {
  readonly code = 'REDIS_WRITES_REFUSED';
  readonly healthCategory: HealthFailureCategory;
  constructor(cause: Error) {
    const refusal = isReadOnlyRefusal(cause) ? REASONS[0] : REASONS.find(({ code }) => cause.message.startsWith(`${code} `));
    super(`Redis refuses writes: ${refusal ? refusal.reason : cause.message} (${cause.message})`, { cause });
    this.name = 'RedisWritesRefusedError';
    // A script's READONLY (Redis < 7) comes wrapped in "ERR Error running script"; every other reply starts with its code.
    this.healthCategory = refusal === REASONS[0] ? 'read-only replica' : healthFailureCategory(cause);
  }
}

/**
 * The Redis health check: a SET of one small key with a short TTL, under the queue's prefix. Not a PING: a replica
 * answers PING and refuses every enqueue and every BullMQ script, and so does a Redis out of memory; a write fails
 * exactly when the service cannot work. It costs what PING costs (one round trip, one key rewritten in place), and
 * finds more than reading ROLE would: ROLE tells a replica, but not OOM, MISCONF, NOREPLICAS or an ACL without write.
 * The key sits under the queue's prefix, so an ACL or a Cluster hash tag written for the queue's keys covers it.
 */
export function redisWriteCheck(redis: Redis, key: string): HealthCheck {
  const connectionRefusal = watchConnectionRefusals(redis);
  return async () => {
    try {
      await redis.set(key, String(Date.now()), 'PX', REDIS_WRITE_CHECK_TTL_MS);
    } catch (error) {
      // A reply error means Redis answered and refused; not connected because of what Redis answered (a wrong
      // password, or READONLY: the connection reconnects) is that answer; anything else (not connected, timed out) is
      // Redis down.
      if (error instanceof Error && error.name === 'ReplyError') throw new RedisWritesRefusedError(error);
      const refusal = connectionRefusal();
      if (refusal) throw isReadOnlyRefusal(refusal) ? new RedisWritesRefusedError(refusal) : new RedisConnectionRefusedError(refusal);
      throw error;
    }
  };
}
