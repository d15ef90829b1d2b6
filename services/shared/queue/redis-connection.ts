import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config/config.js';
import { isReadOnlyRefusal, warnReadOnlyRefusal } from './redis-read-only.js';
import { isSelectRefusal, RedisSelectRefusedError } from './redis-select-refused.js';

/**
 * How a connection is used decides how it behaves when Redis is down:
 * - `producer` (the ingress's enqueue, health checks, metrics): fail fast, never queue commands offline,
 *   so a Redis outage never hangs a webhook request;
 * - `worker` (BullMQ Worker and the reconciler): retry forever, as BullMQ requires (`maxRetriesPerRequest: null`);
 * - `state` (the worker's destination state: pause, circuit and rate-limit scripts run before each delivery): gives
 *   up after the producer's command timeout, and pipelines automatically: the scripts of every delivery a claim batch starts in the
 *   same event-loop turn go to Redis in one write, and come back in one read.
 */
export type RedisConnectionRole = 'producer' | 'worker' | 'state';

export function redisOptions(redis: Config['redis'], role: RedisConnectionRole): RedisOptions {
  const common: RedisOptions = {
    connectionName: `event-driven-integration-service:${role}`,
    // Reconnect with a capped backoff; the worker waits out outages, the producer fails its commands meanwhile.
    retryStrategy: (times) => Math.min(times * 200, 2000),
    // A refused SELECT of REDIS_URL's db index drops the connection (and retries it) instead of letting ioredis carry
    // on in db 0: the connection is never ready, so nothing is read or written in another deployment's db. The
    // handshake sends SELECT before the ready check, so the connection ends before any command of ours is written.
    // A READONLY reply (a failover turned the node this connection reached into a replica) drops the connection too:
    // the endpoint leads a new one to the new primary. Without it every write failed until the pod restarted.
    // An option rather than a listener: BullMQ's duplicate() of a connection (its blocking connection) keeps it.
    reconnectOnError: (error) => (isSelectRefusal(error) ? true : isReadOnlyRefusal(error) ? readOnlyReconnect(role) : false),
    lazyConnect: false,
  };
  const failFast: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 2000 };
  const roleOptions: RedisOptions =
    role === 'producer'
      ? failFast
      : role === 'state'
        ? // Commands wait for the connection (a worker's first deliveries come before it is ready) but never longer than
          // the command timeout: then the delivery waits, as it does when Redis is down.
          { ...failFast, enableOfflineQueue: true, enableAutoPipelining: true }
        : { enableOfflineQueue: true, maxRetriesPerRequest: null, connectTimeout: 5000 };
  if (redis.url) {
    const url = new URL(redis.url);
    return {
      ...common,
      ...roleOptions,
      host: url.hostname,
      port: url.port ? Number(url.port) : 6379,
      username: url.username ? decodeURIComponent(url.username) : undefined,
      password: url.password ? decodeURIComponent(url.password) : undefined,
      db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
      tls: url.protocol === 'rediss:' ? {} : undefined,
    };
  }
  return { ...common, ...roleOptions, host: redis.host, port: redis.port };
}

/**
 * What ioredis does with a command refused with READONLY once it has dropped the connection: 2 sends it again on the
 * new one, 1 fails it. Sending again is safe (READONLY: nothing of it ran, see redis-read-only.ts) wherever commands
 * wait for the connection: the worker's (BullMQ's scripts, which retry forever anyway) and the destination state's.
 * The producer queues nothing while disconnected, so a command sent again would only fail with "Stream isn't
 * writeable" instead of saying READONLY: its callers handle the failure (an enqueue leaves the event PENDING for
 * the reconciler). ioredis sends a refused command again on its own, outside any MULTI it was queued in: none of
 * our clients sends a MULTI with writes (BullMQ's only one is addFlow, which the service does not use).
 */
function readOnlyReconnect(role: RedisConnectionRole): 1 | 2 {
  warnReadOnlyRefusal(role);
  return role === 'producer' ? 1 : 2;
}

/**
 * The event a connection of {@link createRedisConnection} emits, with Redis's reply, when it drops itself on a READONLY
 * refusal: until it is ready again it is down because Redis said it is a replica, which no error event says.
 */
export const READ_ONLY_DROP_EVENT = 'readOnlyDrop';

/**
 * A new ioredis client for `role`. Errors are reported through `onError` instead of crashing the process; a refused
 * SELECT as a {@link RedisSelectRefusedError} naming REDIS_URL. Emits {@link READ_ONLY_DROP_EVENT}.
 */
export function createRedisConnection(redis: Config['redis'], role: RedisConnectionRole, onError?: (error: Error) => void): Redis {
  const options = redisOptions(redis, role);
  const reconnectOnError = options.reconnectOnError!;
  const client: Redis = new Redis({
    ...options,
    // ioredis calls this as a method of the options of the connection whose command was refused; a duplicate() of
    // this one (BullMQ's blocking connection) has options of its own, and its refusals are not this connection's.
    reconnectOnError(this: unknown, error: Error) {
      const reconnect = reconnectOnError(error);
      if (reconnect && isReadOnlyRefusal(error) && this === client.options) client.emit(READ_ONLY_DROP_EVENT, error);
      return reconnect;
    },
  });
  // Without a listener ioredis prints every reconnect failure; we log them once per outage instead.
  client.on('error', (error: Error) => onError?.(isSelectRefusal(error) ? new RedisSelectRefusedError(redis, error) : error));
  return client;
}
