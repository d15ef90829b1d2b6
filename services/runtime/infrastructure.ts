import type { Pool } from 'pg';
import type { Redis } from 'ioredis';
import type { Config } from '../shared/config/config.js';
import { createPool } from '../shared/database/create-pool.js';
import { isDatabaseUnavailable } from '../shared/database/database-errors.js';
import { databaseCredentialsWaitOut, databaseRetryMessage, databaseStartError } from '../shared/database/database-start-errors.js';
import { queryStartSession } from '../shared/database/start-session-query.js';
import type { Logger } from '../shared/logging/logger.js';
import { createLogger } from '../shared/logging/logger.js';
import { QueueDepthGauge } from '../shared/metrics/queue-depth-gauge.js';
import { EventQueue } from '../shared/queue/event-queue.js';
import { warnUnlessNoEviction } from '../shared/queue/eviction-policy-check.js';
import { createRedisConnection, type RedisConnectionRole } from '../shared/queue/redis-connection.js';
import { isAuthRefusal, REDIS_CREDENTIALS_ACCEPTED, RedisAuthRefusedError, redisCredentialsWaitWarning } from '../shared/queue/redis-auth-refused.js';
import { isSelectRefusal, RedisSelectRefusedError } from '../shared/queue/redis-select-refused.js';
import { StartAbortedError } from '../shared/startup/start-aborted-error.js';
import type { StartDeadline } from '../shared/startup/start-deadline.js';
import { waitUntilReachable } from '../shared/startup/wait-until-reachable.js';

/** What every role connects to: the PostgreSQL pool, the producer's Redis connection and the queue it feeds. */
export interface Infrastructure {
  pool: Pool;
  /** The producer's connection (enqueue, queue gauges, the Redis health check). */
  redis: Redis;
  queue: EventQueue;
  /** Another Redis connection, for a blocking consumer (the worker): reported like the producer's. */
  connectRedis(role: RedisConnectionRole): Redis;
  /** Closes the queue, every Redis connection and the pool (last step of the drain). */
  close(): Promise<void>;
}

/** The longest a start waits for Redis: after it the start goes on without (see {@link connectInfrastructure}). */
const REDIS_START_WAIT_MS = 5000;

/**
 * Connects what every role needs, within what is left of the start's deadline (STARTUP_WAIT_MS, shared with the
 * migrations the all-in-one process ran first). PostgreSQL is waited for until then (a fresh install starts the app
 * before its database accepts connections), and so are credentials it refuses (the Secret with the password created
 * or rotated just after the pods start); Redis up to five seconds more of it, and then not waited for: the
 * ingress accepts webhooks without it (events wait in PENDING for the reconciler) and the worker's consumer
 * reconnects. Past the deadline (or with STARTUP_WAIT_MS=0) Redis's first answer is still waited for (up to those
 * five seconds), so that a Redis refusing REDIS_URL's db index stops the start: a configuration mistake. Credentials
 * Redis refuses are waited out until the deadline, like PostgreSQL's, then stop the start. The same refusals met
 * later (the password rotated under running pods) are reported in /health instead.
 * @throws StartAbortedError when `abort` fires while PostgreSQL, or credentials Redis refuses, are waited for.
 * @throws RedisSelectRefusedError when Redis refuses the db index of REDIS_URL.
 * @throws RedisAuthRefusedError when Redis still refuses REDIS_URL's password or user at the deadline, or requires one
 * it has none of.
 */
export async function connectInfrastructure(config: Config, logger: Logger, deadline: StartDeadline, abort?: AbortSignal): Promise<Infrastructure> {
  const pool = createPool({ url: config.database.url, size: config.database.poolSize, applicationName: `webhooks-${config.role}` });
  // A session killed while idle (a failover, pg_terminate_backend) is dropped from the pool; the next query reconnects.
  pool.on('error', (error) => logger.warn('idle database connection lost', { error }));
  // Waited for also when the database itself does not exist yet (3D000): with an external PostgreSQL the chart's
  // migration Job creates it, after the ingress and worker pods have started.
  // Its answer is waited for START_ANSWER_WAIT_MS, not the pool's query_timeout (20 s): a PostgreSQL that accepts and
  // then goes silent must not hold the start that long past STARTUP_WAIT_MS.
  await waitUntilReachable(async () => void (await queryStartSession(pool, 'SELECT 1')), {
    what: 'database',
    budgetMs: deadline.remainingMs(),
    logger,
    isRetryable: isDatabaseUnavailable,
    retryMessage: (error) => databaseRetryMessage(error, config.database.url),
    waitOut: databaseCredentialsWaitOut(config.database.url),
    abort,
  }).catch(async (error: unknown) => {
    if (error instanceof StartAbortedError) {
      // Not awaited: a connection attempt still in flight could hold the stop for its whole timeout.
      void pool.end().catch(() => undefined);
      throw error;
    }
    await pool.end().catch(() => undefined);
    throw databaseStartError(error, config.database.url, deadline.waitedMs());
  });

  const redisLogger = createLogger('redis');
  let redisDown = false;
  // While the start waits for Redis it reports refused credentials itself: one warning for the wait (this listener,
  // added first, would log the first refusal too), then one line when accepted, or the start's failure.
  let startWaitsForRedis = true;
  const onRedisError = (error: Error) => {
    if (startWaitsForRedis && isAuthRefusal(error)) return;
    // A refused db index (Redis restarted with fewer databases, say) keeps every connection down until it is fixed.
    if (!redisDown) {
      if (error instanceof RedisSelectRefusedError) redisLogger.error(error.message, { error });
      else redisLogger.warn('redis connection error', { error });
    }
    redisDown = true;
  };
  const connections: Redis[] = [];
  const connectRedis = (role: RedisConnectionRole) => {
    const connection = createRedisConnection(config.redis, role, onRedisError);
    connection.on('ready', () => {
      if (redisDown) redisLogger.info('redis connection restored');
      redisDown = false;
    });
    connections.push(connection);
    return connection;
  };
  const redis = connectRedis('producer');
  try {
    await readyWithin(redis, {
      waitMs: Math.min(REDIS_START_WAIT_MS, deadline.remainingMs()),
      deadline,
      abort,
      onCredentialsRefused: (error) => redisLogger.warn(redisCredentialsWaitWarning(config.redis, error), { waitMs: deadline.remainingMs(), error }),
      onCredentialsAccepted: () => redisLogger.info(REDIS_CREDENTIALS_ACCEPTED),
    });
  } catch (error) {
    for (const connection of connections) connection.disconnect();
    if (error instanceof StartAbortedError) {
      void pool.end().catch(() => undefined);
      throw error;
    }
    await pool.end().catch(() => undefined);
    throw isAuthRefusal(error) ? new RedisAuthRefusedError(config.redis, error, deadline.waitedMs()) : new RedisSelectRefusedError(config.redis, error);
  } finally {
    startWaitsForRedis = false;
  }
  // Once, when Redis is first reached (now, or after an outage at start): every role, for the pods one looks at.
  const checkEvictionPolicy = () => void warnUnlessNoEviction(redis, redisLogger);
  if (redis.status === 'ready') checkEvictionPolicy();
  else redis.once('ready', checkEvictionPolicy);
  const queue = new EventQueue({
    connection: redis,
    name: config.queue.name,
    prefix: config.queue.prefix,
    attempts: config.queue.attempts,
    backoffMs: config.queue.backoffMs,
    logger: createLogger('queue'),
  });
  new QueueDepthGauge(config.queue.name, queue);

  return {
    pool,
    redis,
    queue,
    connectRedis,
    async close() {
      await queue.close();
      for (const connection of connections) connection.disconnect();
      await pool.end();
    },
  };
}

interface ReadyWithinOptions {
  /** How long to wait for Redis to become ready, once it has answered (see {@link readyWithin}). */
  waitMs: number;
  /** Refused credentials are waited out until then. */
  deadline: StartDeadline;
  abort?: AbortSignal;
  /** Once, on the first refusal of the credentials that is waited out. */
  onCredentialsRefused: (error: Error) => void;
  /** Once, when the connection becomes ready after such a refusal. */
  onCredentialsAccepted: () => void;
}

/**
 * Resolves once `connection` is ready; or, not ready, once `waitMs` has passed and Redis has answered (a connection
 * error), or after {@link REDIS_START_WAIT_MS} whatever its state. Rejects with Redis's reply when it refuses the
 * SELECT of REDIS_URL's db index (the connection would never become ready): waiting for Redis's first answer even
 * when the start's deadline leaves no time is what lets that configuration mistake stop the start. Credentials Redis
 * refuses (the connection reconnects and is refused again) are waited out until the start's deadline, however long
 * past {@link REDIS_START_WAIT_MS} that is: the Secret with the password may not be there yet. Still refused then
 * (at once with no time left), it rejects with the last refusal; Redis refusing them and then not reachable resolves
 * (the start goes on, as it does when Redis is down).
 * @throws StartAbortedError when `abort` fires meanwhile.
 */
function readyWithin(connection: Redis, options: ReadyWithinOptions): Promise<void> {
  if (connection.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let answered = false;
    let waitOver = false;
    let refusal: Error | undefined;
    let refusalTimer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(waitTimer);
      clearTimeout(answerTimer);
      clearTimeout(refusalTimer);
      connection.off('ready', onReady);
      connection.off('error', onError);
      options.abort?.removeEventListener('abort', onAbort);
    };
    const onReady = () => {
      done();
      if (refusal && connection.status === 'ready') options.onCredentialsAccepted();
      resolve();
    };
    const onAbort = () => {
      done();
      reject(new StartAbortedError(refusal ? 'credentials Redis refused (for them to be accepted)' : 'first answer of Redis'));
    };
    const onError = (error: Error) => {
      if (isSelectRefusal(error) || (isAuthRefusal(error) && options.deadline.remainingMs() === 0)) {
        done();
        reject(error);
        return;
      }
      if (isAuthRefusal(error)) {
        // Waited for until the deadline, not the five seconds an unreachable Redis gets.
        if (!refusal) {
          options.onCredentialsRefused(error);
          clearTimeout(waitTimer);
          clearTimeout(answerTimer);
          refusalTimer = setTimeout(() => {
            done();
            reject(refusal);
          }, options.deadline.remainingMs());
        }
        refusal = error;
        return;
      }
      if (refusal) {
        // Refused, then not reachable (restarting to take the new password, say): no longer a refusal to wait out,
        // nor one to stop the start with at the deadline. The start goes on as with a Redis that is down.
        done();
        resolve();
        return;
      }
      answered = true;
      if (waitOver) onReady();
    };
    const waitTimer = setTimeout(() => {
      waitOver = true;
      if (answered) onReady();
    }, options.waitMs);
    const answerTimer = setTimeout(onReady, REDIS_START_WAIT_MS);
    connection.on('ready', onReady);
    connection.on('error', onError);
    if (options.abort?.aborted) onAbort();
    else options.abort?.addEventListener('abort', onAbort, { once: true });
  });
}
