/**
 * The scrape-time queue gauges against a real BullMQ queue: depth by state and the oldest waiting job's age.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createLogger } from '../../services/shared/logging/logger.js';
import { registry } from '../../services/shared/metrics/metrics.js';
import { QueueDepthGauge } from '../../services/shared/metrics/queue-depth-gauge.js';
import { UNFINISHED_EVENTS_CAP, UnfinishedEventsGauge } from '../../services/shared/metrics/unfinished-events-gauge.js';
import { EventQueue, type QueueJobCounts } from '../../services/shared/queue/event-queue.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { find, parseExposition, total } from './support/prometheus-text.js';

const QUEUE = 'gauge-test-events';

let ns: TestQueueNamespace;
let connection: Redis;
let queue: EventQueue;

const scrape = async () => parseExposition(await registry.metrics());

beforeAll(async () => {
  ns = createQueueNamespace();
  connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
  queue = new EventQueue({ connection, name: QUEUE, prefix: ns.prefix, attempts: 3, backoffMs: 10, logger: createLogger('test') });
});

afterAll(async () => {
  await queue?.close();
  connection?.disconnect();
  await ns?.cleanup();
});

describe('QueueDepthGauge', () => {
  it('reports 0 age and zero counts for an empty queue', async () => {
    new QueueDepthGauge(QUEUE, queue, 0);
    const metrics = await scrape();
    expect(find(metrics, 'webhook_queue_oldest_waiting_age_seconds')).toEqual([
      { name: 'webhook_queue_oldest_waiting_age_seconds', labels: { queue: QUEUE }, value: 0 },
    ]);
    expect(total(metrics, 'webhook_queue_jobs', { queue: QUEUE })).toBe(0);
  });

  it('reports the age of the oldest waiting job, not the newest', async () => {
    new QueueDepthGauge(QUEUE, queue, 0);
    const now = Date.now();
    await queue.queue.add('event', { eventId: 'old' }, { jobId: 'old', timestamp: now - 120_000 });
    await queue.queue.add('event', { eventId: 'new' }, { jobId: 'new', timestamp: now - 1_000 });
    const metrics = await scrape();
    expect(total(metrics, 'webhook_queue_jobs', { queue: QUEUE, state: 'waiting' })).toBe(2);
    const [age] = find(metrics, 'webhook_queue_oldest_waiting_age_seconds', { queue: QUEUE });
    expect(age!.value).toBeGreaterThanOrEqual(120);
    expect(age!.value).toBeLessThan(180);
  });

  it('drops back to 0 once a worker took the waiting jobs', async () => {
    new QueueDepthGauge(QUEUE, queue, 0);
    const workerConnection = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
    const worker = new Worker(QUEUE, async () => 'done', { connection: workerConnection, prefix: ns.prefix });
    try {
      await waitFor('the queue to drain', async () => {
        const metrics = await scrape();
        return total(metrics, 'webhook_queue_jobs', { queue: QUEUE, state: 'waiting' }) === 0 &&
          total(metrics, 'webhook_queue_oldest_waiting_age_seconds', { queue: QUEUE }) === 0;
      });
    } finally {
      await worker.close();
      workerConnection.disconnect();
    }
  });

  it('caches reads, and answers a scrape without a sample when the source hangs (never blocks it)', async () => {
    let reads = 0;
    const counts: QueueJobCounts = { waiting: 3, active: 1, delayed: 0, prioritized: 0, failed: 0 };
    new QueueDepthGauge('cached', { counts: async () => (reads++, counts) }, 60_000);
    await scrape();
    const metrics = await scrape();
    expect(reads).toBe(1);
    expect(total(metrics, 'webhook_queue_jobs', { queue: 'cached', state: 'waiting' })).toBe(3);
    // A source without a BullMQ queue reports depth only.
    expect(find(metrics, 'webhook_queue_oldest_waiting_age_seconds')).toEqual([]);

    new QueueDepthGauge('hanging', { counts: () => new Promise<QueueJobCounts>(() => undefined) }, 0, 100);
    const started = Date.now();
    const hung = await scrape();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(find(hung, 'webhook_queue_jobs')).toEqual([]);
    // The rest of the page is still there.
    expect(find(hung, 'process_start_time_seconds').length).toBe(1);
  });

  it('webhook_events_unfinished: a bounded, cached read; no sample when PostgreSQL fails or hangs', async () => {
    const queries: { text: string; values?: unknown[]; query_timeout?: number }[] = [];
    new UnfinishedEventsGauge('unfinished', { query: async (config) => (queries.push(config), { rows: [{ n: '7' }] }) }, 60_000, 500);
    await scrape();
    const metrics = await scrape();
    expect(find(metrics, 'webhook_events_unfinished')).toEqual([{ name: 'webhook_events_unfinished', labels: { queue: 'unfinished' }, value: 7 }]);
    expect(queries).toHaveLength(1);
    expect(queries[0]!.text).toMatch(/status IN \('PENDING', 'PROCESSING', 'FAILED'\) LIMIT \$1/);
    expect(queries[0]!.values).toEqual([UNFINISHED_EVENTS_CAP]);
    expect(queries[0]!.query_timeout).toBe(500);

    new UnfinishedEventsGauge('failing', { query: async () => Promise.reject(new Error('connection refused')) }, 0);
    expect(find(await scrape(), 'webhook_events_unfinished')).toEqual([]);

    new UnfinishedEventsGauge('hanging', { query: () => new Promise(() => undefined) }, 0, 100);
    const started = Date.now();
    const hung = await scrape();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(find(hung, 'webhook_events_unfinished')).toEqual([]);
  });
});
