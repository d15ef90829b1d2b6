import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';

/**
 * Warns, once, when Redis may evict the queue's keys: a `maxmemory-policy` other than `noeviction` lets a full Redis
 * delete any key (allkeys-*) or any key with a TTL (volatile-*: BullMQ's locks), and an evicted job, lock or list
 * breaks BullMQ (BullMQ requires noeviction). The events themselves are safe in PostgreSQL, but their jobs are lost
 * and they wait for the reconciler; with noeviction a full Redis refuses writes instead, which the health check
 * reports. Read from `INFO memory` as BullMQ reads it (BullMQ prints its own warning to stderr, in the worker only,
 * not as a log line); a Redis that refuses INFO (a managed Redis may rename it) is not second-guessed.
 */
export async function warnUnlessNoEviction(redis: Redis, logger: Logger): Promise<void> {
  let info: string;
  try {
    info = await redis.info('memory');
  } catch {
    return;
  }
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (policy === undefined || policy === 'noeviction') return;
  logger.warn(`redis maxmemory-policy is ${policy}, not noeviction: a full Redis evicts queue keys (jobs, their locks), which breaks BullMQ and leaves events to the reconciler; set maxmemory-policy noeviction`, {
    maxmemoryPolicy: policy,
  });
}
