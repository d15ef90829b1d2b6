import type { Config } from '../config/config.js';
import { redisTarget } from './redis-target.js';

/**
 * Redis refusing the connection's credentials: WRONGPASS, the AUTH of REDIS_URL's password (or user) refused (the
 * password changed in Redis and not in REDIS_URL, the user disabled; "ERR invalid password" before Redis 6), or
 * NOAUTH, REDIS_URL without the password Redis requires (the first command of the handshake is refused). ioredis
 * emits the reply and reconnects, refused the same way each time: the connection is never ready, and nothing is
 * queued. Met at start it is waited out within STARTUP_WAIT_MS, with one warning (in Kubernetes the Secret holding the
 * password is often created or rotated just after the pods start: external-secrets, a chart's password job), and
 * stops the start at the deadline, or at once with STARTUP_WAIT_MS=0 (infrastructure.ts); met later (the password
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
  /** `waitedMs`: how long the start waited for the credentials to be accepted (0: it was not to wait). */
  constructor(redis: Config['redis'], cause: unknown, waitedMs = 0) {
    const { where, key } = redisTarget(redis);
    const reply = replyOf(cause);
    const waited = waitedMs > 0 ? ` (gave up after ${Math.round(waitedMs / 1000)} s)` : '';
    super(`Redis at ${where} (${key}) ${problem(redis, reply)}${waited}: ${reply}; ${fix(redis, reply)}`, { cause });
    this.name = 'RedisAuthRefusedError';
  }
}

/** The one warning while the start waits out refused credentials (never the password: see above). */
export function redisCredentialsWaitWarning(redis: Config['redis'], cause: unknown): string {
  const { where, key } = redisTarget(redis);
  return (
    `Redis at ${where} (${key}) refused the credentials (${replyOf(cause)}); ` +
    'waiting for them to be accepted, up to STARTUP_WAIT_MS (the Secret with the password may not be there yet)'
  );
}

/** The line once Redis accepts the credentials it refused at start. */
export const REDIS_CREDENTIALS_ACCEPTED = 'Redis accepted the credentials; the start goes on';

function replyOf(cause: unknown): string {
  const detail = (cause as { message?: unknown } | null)?.message;
  return typeof detail === 'string' ? detail : String(cause);
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
