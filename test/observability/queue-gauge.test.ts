/**
 * The scrape-time queue gauges against a real BullMQ queue: depth by state and the oldest waiting job's age.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Pool } from 'pg';
import winston from 'winston';
import { promoteHeldJobs } from '../../services/shared/destinations/held-events.js';
import { createLogger } from '../../services/shared/logging/logger.js';
import { registry } from '../../services/shared/metrics/metrics.js';
import { QueueDepthGauge } from '../../services/shared/metrics/queue-depth-gauge.js';
import { UNFINISHED_EVENTS_CAP, UnfinishedEventsGauge } from '../../services/shared/metrics/unfinished-events-gauge.js';
import { EVENT_JOB_NAME } from '../../services/shared/queue/event-job.js';
import { EventQueue, type QueueJobCounts } from '../../services/shared/queue/event-queue.js';
import { EventWorker } from '../../services/worker/event-worker.js';
import { DeliveryFailedError, EventWaitingError } from '../../services/worker/processing/delivery-failed-error.js';
import type { EventProcessor } from '../../services/worker/processing/event-processor.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { find, parseExposition, total } from './support/prometheus-text.js';

const QUEUE = 'gauge-test-events';

let ns: TestQueueNamespace;
let connection: Redis;
let queue: EventQueue;

const scrape = async () => parseExposition(await registry.metrics());

/**
 * The gauge's bound on a scrape's Redis reads in the tests that read a real queue: past its 1 s default (a loaded
 * machine's Redis has taken longer) the scrape has no sample, and such a test read 0 waiting jobs. The bound itself is
 * tested with a source that never answers.
 */
const READ_TIMEOUT_MS = 30_000;

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
    new QueueDepthGauge(QUEUE, queue, 0, READ_TIMEOUT_MS);
    const metrics = await scrape();
    expect(find(metrics, 'webhook_queue_oldest_waiting_age_seconds')).toEqual([
      { name: 'webhook_queue_oldest_waiting_age_seconds', labels: { queue: QUEUE }, value: 0 },
    ]);
    expect(total(metrics, 'webhook_queue_jobs', { queue: QUEUE })).toBe(0);
  });

  it('reports the age of the oldest waiting job, not the newest', async () => {
    new QueueDepthGauge(QUEUE, queue, 0, READ_TIMEOUT_MS);
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
    new QueueDepthGauge(QUEUE, queue, 0, READ_TIMEOUT_MS);
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

    // The source never settles: the scrape answering at all is the gauge's own timeout (100 ms) ending the wait; were
    // it not bounded, the scrape would hang until the test's timeout. (No wall-clock bound: a loaded machine broke it.)
    new QueueDepthGauge('hanging', { counts: () => new Promise<QueueJobCounts>(() => undefined) }, 0, 100);
    const hung = await scrape();
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

    // Never settles either: answered only through the gauge's timeout (as above).
    new UnfinishedEventsGauge('hanging', { query: () => new Promise(() => undefined) }, 0, 100);
    const hung = await scrape();
    expect(find(hung, 'webhook_events_unfinished')).toEqual([]);
  });
});

/**
 * The oldest waiting job's age counts the wait for a worker, from when the job became ready: not a hold for a
 * destination (paused, circuit open), a Retry-After or a backoff before it. Otherwise every resume after a pause
 * longer than the alert's 5 minutes fired WebhookQueueBacklogAge, with workers idle.
 */
describe('webhook_queue_oldest_waiting_age_seconds after a delay', () => {
  const READY_QUEUE = 'ready-time-events';
  const silent = winston.createLogger({ silent: true });
  let readyQueue: EventQueue;
  let workerConnection: Redis;
  let worker: EventWorker | undefined;

  beforeAll(() => {
    readyQueue = new EventQueue({ connection, name: READY_QUEUE, prefix: ns.prefix, attempts: 3, backoffMs: 10, logger: silent });
  });

  afterEach(async () => {
    await worker?.close(true);
    worker = undefined;
    workerConnection?.disconnect();
    await readyQueue.queue.obliterate({ force: true });
  });

  afterAll(async () => {
    await readyQueue?.close();
  });

  /** Runs the job once through the real EventWorker, whose processor fails as `outcome` says, then stops taking jobs. */
  async function runOnceAndStop(eventId: string, outcome: () => Error, attempts = 3, backoff = 10): Promise<void> {
    workerConnection = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
    const processor = { process: async () => Promise.reject(outcome()) } as unknown as EventProcessor;
    worker = new EventWorker({ connection: workerConnection, queueName: READY_QUEUE, prefix: ns.prefix, concurrency: 1, lockDurationMs: 30_000, stalledIntervalMs: 30_000, processor, logger: silent });
    worker.start();
    await readyQueue.queue.add(EVENT_JOB_NAME, { eventId }, { jobId: eventId, attempts, backoff: { type: 'fixed', delay: backoff } });
    await waitFor('the job to be delayed', async () => (await readyQueue.queue.getJob(eventId))?.isDelayed());
    await worker.close();
    worker = undefined;
  }

  const age = async () => {
    new QueueDepthGauge(READY_QUEUE, readyQueue, 0, READ_TIMEOUT_MS);
    const metrics = await scrape();
    expect(total(metrics, 'webhook_queue_jobs', { queue: READY_QUEUE, state: 'waiting' })).toBe(1);
    return find(metrics, 'webhook_queue_oldest_waiting_age_seconds', { queue: READY_QUEUE })[0]!.value;
  };

  /**
   * Since when the gauge counts the wait (ms since the epoch), from one scrape: the gauge reads the clock during the
   * scrape, so that time lies between the scrape's start and its end, less the age reported. Compared with the job's
   * own times rather than an age between fixed bounds (0.8 s to 1.8 s before), which a loaded machine's slow steps broke.
   */
  const countedFrom = async () => {
    const before = Date.now();
    const seconds = await age();
    const after = Date.now();
    return { earliest: before - seconds * 1000, latest: after - seconds * 1000 };
  };

  /** Whether `range` (from countedFrom) holds `at`, within a millisecond (the age is a float of seconds). */
  const holds = (range: { earliest: number; latest: number }, at: number) => range.earliest <= at + 1 && range.latest >= at - 1;

  /** When the job's last run started, and the time its data says it is ready (once stamped: a 'failed' listener does it). */
  const timesOf = async (id: string) =>
    waitFor(`job ${id}'s ready time to be stamped`, async () => {
      const job = await readyQueue.queue.getJob(id);
      const readyAt = job?.data.readyAt;
      return typeof readyAt === 'number' && job?.processedOn ? { processedOn: job.processedOn, readyAt } : undefined;
    });

  /** Waits for the clock to pass `at`: time must pass here, and there is nothing else to wait for. */
  const clockPast = (at: number) => sleep(Math.max(0, at - Date.now()) + 1);

  it('a job held for a paused destination, promoted by the resume: from the promotion', async () => {
    await runOnceAndStop('held-1', () => new EventWaitingError('waiting: paused', 3_600_000));
    const { processedOn } = await timesOf('held-1');
    await clockPast(processedOn + 2000); // the pause lasts: counted from the last run, the wait would be 2 s longer
    const heldRows = { query: async () => ({ rows: [{ id: 'held-1', replays: 0 }] }) } as unknown as Pick<Pool, 'query'>;
    const resumedFrom = Date.now();
    expect(await promoteHeldJobs(heldRows, readyQueue.queue, 'paused-destination')).toBe(1);
    const resumedBy = Date.now();
    const { readyAt } = await timesOf('held-1');
    expect({ stampedAtThePromotion: readyAt >= resumedFrom && readyAt <= resumedBy }).toEqual({ stampedAtThePromotion: true });
    const range = await countedFrom();
    expect({ range, countedFromThePromotion: holds(range, readyAt) }).toEqual({ range, countedFromThePromotion: true });
  });

  it('a job whose wait for a destination ended on its own: from the end of the wait', async () => {
    await runOnceAndStop('held-2', () => new EventWaitingError('waiting: circuit open', 1000));
    const { processedOn, readyAt } = await timesOf('held-2');
    expect(readyAt - processedOn).toBeGreaterThanOrEqual(1000); // the wait's end, not the run's start
    // Promoted a second after the wait ended, as a worker's next fetch does (none runs here, so the job then stays
    // waiting): counted from the promotion, or from the run, the wait would be a second shorter, or longer.
    await clockPast(readyAt + 1000);
    await readyQueue.queue.promoteJobs();
    const range = await countedFrom();
    expect({ range, countedFromTheEndOfTheWait: holds(range, readyAt) }).toEqual({ range, countedFromTheEndOfTheWait: true });
  });

  it('a retry after its backoff: from the end of the backoff', async () => {
    await runOnceAndStop('retry-1', () => new DeliveryFailedError('dest: HTTP 500', false, 1), 3, 1000);
    const { processedOn, readyAt } = await timesOf('retry-1');
    expect(readyAt - processedOn).toBeGreaterThanOrEqual(1000); // the backoff's end
    await clockPast(readyAt + 1000);
    await readyQueue.queue.promoteJobs();
    const range = await countedFrom();
    expect({ range, countedFromTheEndOfTheBackoff: holds(range, readyAt) }).toEqual({ range, countedFromTheEndOfTheBackoff: true });
  });
});
