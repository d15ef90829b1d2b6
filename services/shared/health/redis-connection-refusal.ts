import type { Redis } from 'ioredis';
import { READ_ONLY_DROP_EVENT } from '../queue/redis-connection.js';
import { healthFailureCategory, type CategorisedFailure, type HealthFailureCategory } from './health-failure-category.js';

/**
 * Why Redis refuses a connection, by the code of its reply, for the logged error (the category is the reply's: see
 * health-failure-category.ts).
 */
const REASONS: Record<string, string> = {
  WRONGPASS: "REDIS_URL's password (or user) is refused: the password was changed in Redis and not in REDIS_URL, or the user is disabled",
  NOAUTH: 'Redis requires a password and REDIS_URL has none',
};

/**
 * Redis answered a connection and refused it before any command of ours: the AUTH of REDIS_URL's credentials
 * (WRONGPASS), or, without credentials, ioredis's ready check (NOAUTH). ioredis drops the connection and opens it
 * again, refused the same way each time, so it never becomes ready: the health check's write is never sent, and
 * fails as on a connection that is down ("Stream isn't writeable": `unreachable`), which sends an operator looking
 * for a network fault. This names the refusal instead.
 */
export class RedisConnectionRefusedError extends Error implements CategorisedFailure {
  readonly code = 'REDIS_CONNECTION_REFUSED';
  readonly healthCategory: HealthFailureCategory;
  constructor(reply: Error) {
    const reason = REASONS[reply.message.split(' ', 1)[0]!];
    super(`Redis refuses the connection: ${reason ?? reply.message}${reason ? ` (${reply.message})` : ''}`, { cause: reply });
    this.name = 'RedisConnectionRefusedError';
    this.healthCategory = healthFailureCategory(reply);
  }
}

/**
 * What Redis last said that keeps `connection` down, until it is ready again: what a command that found it not
 * connected reports instead of "not connected".
 * - A refused handshake (AUTH, SELECT, the ready check's INFO): ioredis emits a reply error only for those (replies to
 *   commands go to their callers).
 * - A READONLY reply, on which the connection drops itself to reconnect (see redis-connection.ts): on a replica it
 *   is refused again at once, so a check between the drop and the next refusal would otherwise say `unreachable`,
 *   and a replica read alternately as a replica and as an outage.
 * Any other error (refused, reset, timed out) is an attempt that never reached Redis's answer, and `ready` a
 * connection Redis accepted: either ends what the refusal said. A real outage after a refusal is therefore reported
 * as one once the first reconnect fails (within the connect timeout).
 */
export function watchConnectionRefusals(connection: Redis): () => Error | undefined {
  let latest: Error | undefined;
  connection.on('error', (error: Error) => {
    latest = error.name === 'ReplyError' ? error : undefined;
  });
  connection.on(READ_ONLY_DROP_EVENT, (error: Error) => {
    latest = error;
  });
  connection.on('ready', () => {
    latest = undefined;
  });
  // Not `status`: a connection that drops itself stays `ready` until its socket has closed, and already refuses commands.
  return () => latest;
}
