import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config/config.js';
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
    // An option rather than a listener: BullMQ's duplicate() of a connection keeps it.
    reconnectOnError: isSelectRefusal,
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
 * A new ioredis client for `role`. Errors are reported through `onError` instead of crashing the process; a refused
 * SELECT as a {@link RedisSelectRefusedError} naming REDIS_URL.
 */
export function createRedisConnection(redis: Config['redis'], role: RedisConnectionRole, onError?: (error: Error) => void): Redis {
  const client = new Redis(redisOptions(redis, role));
  // Without a listener ioredis prints every reconnect failure; we log them once per outage instead.
  client.on('error', (error: Error) => onError?.(isSelectRefusal(error) ? new RedisSelectRefusedError(redis, error) : error));
  return client;
}
