import type { Config } from '../config/config.js';
import { isAuthRefusal } from './redis-auth-refused.js';
import { redisTarget } from './redis-target.js';

/**
 * REDIS_URL's db index (redis://host:6379/7) is applied by ioredis with a SELECT on every connect. When Redis refuses
 * it (an index at or above the server's `databases` setting, 16 by default: "ERR DB index is out of range"; Redis
 * Cluster: "SELECT is not allowed in cluster mode"), ioredis only emits the reply error and carries on in db 0, where
 * another deployment's queue of the same name may live. This module recognises that refusal and names it.
 */

/**
 * Whether `error` is Redis's reply to a SELECT (ioredis sets `command` on reply errors). Not a NOAUTH: without the
 * password Redis requires, the SELECT is the first command refused, and the db index is not the problem.
 */
export function isSelectRefusal(error: unknown): boolean {
  if (isAuthRefusal(error)) return false;
  const command = (error as { command?: { name?: unknown } } | null)?.command;
  return typeof command?.name === 'string' && command.name.toLowerCase() === 'select';
}

/** A refused SELECT, as one line naming REDIS_URL, the db index, the server (never its credentials) and the fix. */
export class RedisSelectRefusedError extends Error {
  readonly code = 'REDIS_SELECT_REFUSED';
  constructor(redis: Config['redis'], cause: unknown) {
    const { where, db } = redisTarget(redis);
    const detail = (cause as { message?: unknown } | null)?.message;
    super(
      `Redis at ${where} (REDIS_URL) refused db ${db}: ${typeof detail === 'string' ? detail : String(cause)}; ` +
        'use a db index below the server\'s `databases` setting (16 by default), or none (db 0) with Redis Cluster',
      { cause },
    );
    this.name = 'RedisSelectRefusedError';
  }
}
