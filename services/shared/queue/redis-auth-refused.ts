import type { Config } from '../config/config.js';
import { redisTarget } from './redis-target.js';

/**
 * Redis refusing the connection's credentials: WRONGPASS, the AUTH of REDIS_URL's password (or user) refused (the
 * password changed in Redis and not in REDIS_URL, the user disabled; "ERR invalid password" before Redis 6), or
 * NOAUTH, REDIS_URL without the password Redis requires (the first command of the handshake is refused). ioredis
 * emits the reply and reconnects, refused the same way each time: the connection is never ready, and nothing is
 * queued. Met at start this is a configuration mistake, and stops it (infrastructure.ts); met later (the password
 * rotated under running pods) it is an outage, reported in /health while the connections keep reconnecting.
 */

/** Whether `error` is Redis refusing the connection's credentials (ioredis sets `command` on reply errors). */
export function isAuthRefusal(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || (error as { name?: unknown }).name !== 'ReplyError') return false;
  const { message, command } = error as { message?: unknown; command?: { name?: unknown } };
  if (typeof message === 'string' && /^(WRONGPASS|NOAUTH)\b/.test(message)) return true;
  return typeof command?.name === 'string' && command.name.toLowerCase() === 'auth';
}

/**
 * A credentials refusal at start, as one line naming the configuration key, the server, the reason and the fix; never
 * the password (Redis's reply does not carry it, and the AUTH command's arguments, which do, are not read).
 */
export class RedisAuthRefusedError extends Error {
  readonly code = 'REDIS_AUTH_REFUSED';
  constructor(redis: Config['redis'], cause: unknown) {
    const { where, key } = redisTarget(redis);
    const detail = (cause as { message?: unknown } | null)?.message;
    const reply = typeof detail === 'string' ? detail : String(cause);
    super(`Redis at ${where} (${key}) ${problem(redis, reply)}: ${reply}; ${fix(redis, reply)}`, { cause });
    this.name = 'RedisAuthRefusedError';
  }
}

const requiresPassword = (reply: string) => reply.startsWith('NOAUTH');

function problem(redis: Config['redis'], reply: string): string {
  if (requiresPassword(reply)) return redis.url ? 'requires a password and REDIS_URL has none' : 'requires a password, which only REDIS_URL can give';
  const user = redis.url ? decodeURIComponent(new URL(redis.url).username) : '';
  return user ? `refused the password of user "${user}" (or the user is disabled)` : 'refused the password';
}

function fix(redis: Config['redis'], reply: string): string {
  if (!redis.url) return 'set REDIS_URL=redis://:PASSWORD@host:port instead of REDIS_HOST and REDIS_PORT';
  if (requiresPassword(reply)) return "put it in REDIS_URL's password (redis://:PASSWORD@host:port/db, percent-encoded)";
  return "set REDIS_URL's password to the one Redis has now (percent-encoded), or enable the user in Redis's ACL";
}
