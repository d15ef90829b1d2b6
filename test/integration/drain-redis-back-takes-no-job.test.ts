/**
 * A worker whose drain began while Redis was unreachable lets its running jobs finish without Redis (EventWorker.close).
 * BullMQ's fetch that was waiting for Redis then is still pending: when Redis answers again before the drain ends, it
 * takes the next job. A draining worker takes no job (README, Shutdown): such a job must go back to the queue at once,
 * not run in the process that is stopping (whose deliveries the drain refuses, and whose job it then left to the
 * stalled check, WORKER_LOCK_DURATION_MS + WORKER_STALLED_INTERVAL_MS later, counted as a stall).
 *
 * Redis keeps its data (the worker reaches it through a proxy the test cuts); the processor is a stand-in that
 * records the events it is given and holds the first until released.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import winston from 'winston';
import type { Logger } from '../../services/shared/logging/logger.js';
import { EventWorker } from '../../services/worker/event-worker.js';
import type { EventProcessor } from '../../services/worker/processing/event-processor.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const QUEUE = 'drain-redis-back';
const silent = winston.createLogger({ silent: true }) as unknown as Logger;
let ns: TestQueueNamespace;
let proxy: TcpProxy;
let redis: Redis;
let jobs: Queue;

beforeAll(async () => {
  ns = createQueueNamespace();
  const url = new URL(ns.redisUrl);
  proxy = new TcpProxy(url.hostname, Number(url.port || 6379));
  await proxy.start();
  redis = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
  jobs = new Queue(QUEUE, { connection: redis, prefix: ns.prefix });
});

afterAll(async () => {
  await jobs?.obliterate({ force: true });
  await jobs?.close();
  redis?.disconnect();
  await proxy?.stop();
  await ns?.cleanup();
});

it('a drain begun while Redis was away takes no job once Redis answers again: the job goes back to the queue, not run', async () => {
  const given: string[] = [];
  let releaseFirst!: () => void;
  const first = new Promise<void>((resolve) => (releaseFirst = resolve));
  const processor = {
    process: async (data: { eventId: string }) => {
      given.push(data.eventId);
      if (data.eventId === 'first') await first;
      return 'completed';
    },
  } as unknown as EventProcessor;
  const url = new URL(ns.redisUrl);
  url.port = String(proxy.port);
  const connection = new Redis(url.toString(), { maxRetriesPerRequest: null });
  const worker = new EventWorker({ connection, queueName: QUEUE, prefix: ns.prefix, concurrency: 4, lockDurationMs: 30_000, stalledIntervalMs: 30_000, processor, logger: silent });
  worker.start();
  let closed: Promise<void> | undefined;
  try {
    await jobs.add('process-event', { eventId: 'first' }, { jobId: 'first' });
    await waitFor('the first job to run', () => given.includes('first'));

    await proxy.stop();
    await waitFor('the worker to lose Redis', () => connection.status !== 'ready');
    closed = worker.close();
    // Queued meanwhile (by another process, which still reaches Redis), then Redis is back for the worker.
    await jobs.add('process-event', { eventId: 'second' }, { jobId: 'second' });
    await proxy.restart();
    await waitFor(
      'the waiting fetch to take the second job, and that job to end',
      async () => {
        const second = (await Job.fromId(jobs, 'second')) as Job | undefined;
        return (second?.attemptsStarted ?? 0) >= 1 && (await second!.getState()) !== 'active';
      },
      { timeoutMs: 20_000 },
    );
    releaseFirst();
    await closed;

    expect(given).toEqual(['first']);
    const second = (await Job.fromId(jobs, 'second')) as Job;
    expect(['waiting', 'delayed']).toContain(await second.getState());
    expect(second.attemptsMade).toBe(0);
  } finally {
    releaseFirst();
    await (closed ?? worker.close(true)).catch(() => undefined);
    connection.disconnect();
  }
});
