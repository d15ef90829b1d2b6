/**
 * A BullMQ queue as the service has it (on a producer connection: fail fast, 2 s command timeout) that a test can make
 * Redis go silent for: it reaches Redis through a TCP proxy that stops forwarding what the client sends
 * (`proxy.hold()`), so its commands time out as against a paused Redis, while `direct` (the test's own view of the
 * jobs, and whatever state the test keeps beside them) still answers. The system Redis is never touched.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createRedisConnection } from '../../services/shared/queue/redis-connection.js';
import { TcpProxy } from './tcp-proxy.js';
import type { TestQueueNamespace } from './test-redis.js';
import { waitFor } from './wait-for.js';

export interface SilenceableQueue {
  proxy: TcpProxy;
  /** The queue's connection, through the proxy. */
  proxied: Redis;
  queue: Queue;
  /** Redis reached directly. */
  direct: Redis;
  close(): Promise<void>;
}

export async function openSilenceableQueue(ns: TestQueueNamespace, name: string): Promise<SilenceableQueue> {
  const redisUrl = new URL(ns.redisUrl);
  const proxy = new TcpProxy(redisUrl.hostname, Number(redisUrl.port || 6379));
  await proxy.start();
  const proxiedUrl = new URL(ns.redisUrl);
  proxiedUrl.hostname = '127.0.0.1';
  proxiedUrl.port = String(proxy.port);
  const proxied = createRedisConnection({ url: proxiedUrl.toString(), host: '', port: 0 }, 'producer');
  const queue = new Queue(name, { connection: proxied, prefix: ns.prefix, skipWaitingForReady: true, skipVersionCheck: true });
  queue.on('error', () => undefined);
  const direct = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
  // The producer connection queues nothing while it connects (as in the service): jobs are added once it is ready.
  await waitFor('the proxied connection ready', () => proxied.status === 'ready');
  return {
    proxy,
    proxied,
    queue,
    direct,
    async close() {
      await queue.close().catch(() => undefined);
      proxied.disconnect();
      direct.disconnect();
      await proxy.stop();
    },
  };
}
