import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { testServiceUrls } from './test-services.js';

/** A BullMQ key prefix of this test's own on the shared Redis, removed at the end. */
export interface TestQueueNamespace {
  prefix: string;
  redisUrl: string;
  cleanup(): Promise<void>;
}

export function createQueueNamespace(): TestQueueNamespace {
  const prefix = `test-${process.pid}-${randomBytes(4).toString('hex')}`;
  const redisUrl = testServiceUrls().redisUrl;
  return {
    prefix,
    redisUrl,
    async cleanup() {
      const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await redis.connect();
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await redis.del(...keys);
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
    },
  };
}
