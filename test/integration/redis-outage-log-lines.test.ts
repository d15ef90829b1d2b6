/**
 * A Redis outage is logged by the worker as one outage: a first line, then one line a minute with the count. The
 * worker's filter took a Redis failure for a connection error only by the socket's code or "Connection is closed",
 * and missed the two ways ioredis fails a command of a fail-fast connection (the producer's, which the reconciler
 * enqueues on, and the destination state's) while Redis is away: "Stream isn't writeable and enableOfflineQueue
 * options is false" (sent while disconnected) and MaxRetriesPerRequestError (the connection broke under it). The
 * reconciler, which logged each failed pass, wrote a line on every pass of the outage (every 15 s by default).
 * An outage longer than WORKER_LOCK_DURATION_MS also lets the locks of the jobs running then lapse: once Redis is
 * back BullMQ reports each of them ("could not renew lock for job …", "Missing lock for job … moveToFinished"),
 * and the worker wrote a `worker error` line for every one. They are counted as one summary now.
 *
 * Against the real Redis, behind a proxy the test cuts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from '../../services/shared/logging/logger.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { createRedisConnection } from '../../services/shared/queue/redis-connection.js';
import { isRedisConnectionError } from '../../services/shared/queue/redis-connection-error.js';
import { EventWorker } from '../../services/worker/event-worker.js';
import { Reconciler } from '../../services/worker/maintenance/reconciler.js';
import type { EventProcessor } from '../../services/worker/processing/event-processor.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

let db: TestDatabase;
let ns: TestQueueNamespace;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  await ns?.cleanup();
  await db?.drop();
});

/** A proxy to the test Redis and a connection of `role` through it, as the service makes them. */
async function connectionThroughProxy(role: 'producer' | 'state' | 'worker'): Promise<{ proxy: TcpProxy; connection: Redis }> {
  const target = new URL(ns.redisUrl);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
  await proxy.start();
  cleanups.push(() => proxy.stop());
  const url = new URL(ns.redisUrl);
  url.host = `127.0.0.1:${proxy.port}`;
  const connection = createRedisConnection({ url: url.toString(), host: '', port: 0 }, role, () => undefined);
  cleanups.push(() => connection.disconnect());
  await waitFor('the connection to be ready', async () => connection.status === 'ready');
  return { proxy, connection };
}

/** A logger that keeps its warnings and errors (message and fields). */
function recordingLogger(): { logger: Logger; lines: { message: string; fields: Record<string, unknown> }[] } {
  const lines: { message: string; fields: Record<string, unknown> }[] = [];
  const logger = {
    warn: (message: string, fields: Record<string, unknown> = {}) => void lines.push({ message, fields }),
    info: () => undefined,
    debug: () => undefined,
    error: (message: string, fields: Record<string, unknown> = {}) => void lines.push({ message, fields }),
  } as unknown as Logger;
  return { logger, lines };
}

/** What `command` fails with (undefined when it succeeds). */
async function failureOf(command: Promise<unknown>): Promise<unknown> {
  return command.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('a Redis outage, as the worker logs it', () => {
  it('"Stream isn\'t writeable" and MaxRetriesPerRequestError, what a fail-fast connection\'s commands fail with, are connection errors', async () => {
    const { proxy, connection } = await connectionThroughProxy('state');
    // The connection breaks while a command waits for its answer: ioredis sends it again once, then gives up.
    proxy.hold();
    const inFlight = failureOf(connection.get(`${ns.prefix}:probe`));
    await proxy.stop();
    const brokeUnder = await inFlight;
    expect((brokeUnder as Error).name).toBe('MaxRetriesPerRequestError');
    expect(isRedisConnectionError(brokeUnder)).toBe(true);

    const { proxy: producerProxy, connection: producer } = await connectionThroughProxy('producer');
    await producerProxy.stop();
    await waitFor('the producer connection to notice', async () => producer.status !== 'ready');
    const sentMeanwhile = await failureOf(producer.get(`${ns.prefix}:probe`));
    expect((sentMeanwhile as Error).message).toMatch(/^Stream isn't writeable/);
    expect(isRedisConnectionError(sentMeanwhile)).toBe(true);
  }, 60_000);

  it('the reconciler logs the passes that fail while Redis is away as one outage, not one line a pass', async () => {
    // A stale event: every pass asks Redis about its job.
    await db.pool.query(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status, updated_at, received_at)
       VALUES ('stripe', 'evt_outage_lines', 'invoice.paid', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING',
               now() - interval '1 minute', now() - interval '1 minute')`,
    );
    const { proxy, connection } = await connectionThroughProxy('producer');
    const lines: { message: string; fields: Record<string, unknown> }[] = [];
    const logger = {
      warn: (message: string, fields: Record<string, unknown> = {}) => void lines.push({ message, fields }),
      info: () => undefined,
      debug: () => undefined,
      error: (message: string, fields: Record<string, unknown> = {}) => void lines.push({ message, fields }),
    } as unknown as Logger;
    const queue = new EventQueue({ connection, name: 'webhook-events', prefix: ns.prefix, attempts: 3, backoffMs: 1000, logger });
    cleanups.push(() => queue.close());
    // Passes counted where each one reaches Redis.
    let passes = 0;
    const hasLiveJob = queue.hasLiveJob.bind(queue);
    queue.hasLiveJob = (jobs) => {
      passes++;
      return hasLiveJob(jobs);
    };
    await proxy.stop();
    await waitFor('the producer connection to notice', async () => connection.status !== 'ready');

    const reconciler = new Reconciler({ pool: db.pool, queue, intervalMs: 100, staleMs: 30_000, logger });
    reconciler.start();
    await waitFor('five passes to fail on Redis', async () => passes >= 5, { timeoutMs: 60_000 });
    await reconciler.stop();

    const failed = lines.filter((line) => line.message === 'reconciler pass failed');
    // One line when the outage began, one summing up the rest when the reconciler stopped.
    expect({ lines: failed.length, counts: failed.map((line) => line.fields.count) }).toEqual({ lines: 2, counts: [1, passes - 1] });
    expect(String((failed[0]!.fields.error as Error).message)).toMatch(/^Stream isn't writeable/);
  }, 60_000);

  it('the job locks that lapse during the outage are one summary with their count, not a "worker error" line a job', async () => {
    const JOBS = 6;
    const LOCK_MS = 1000;
    const queueName = 'lock-lapse';
    const direct = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
    cleanups.push(() => direct.disconnect());
    const jobs = new Queue(queueName, { connection: direct, prefix: ns.prefix });
    cleanups.push(() => jobs.close());
    const { proxy, connection } = await connectionThroughProxy('worker');
    // Each job's first run waits for the test (past the outage); its next run, once the stalled check hands the job
    // out again, ends at once.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const runs = new Map<string, number>();
    const processor = {
      process: async ({ eventId }: { eventId: string }) => {
        runs.set(eventId, (runs.get(eventId) ?? 0) + 1);
        if (runs.get(eventId) === 1) await released;
        return 'done';
      },
    } as unknown as EventProcessor;
    const { logger, lines } = recordingLogger();
    const worker = new EventWorker({ connection, queueName, prefix: ns.prefix, concurrency: JOBS, lockDurationMs: LOCK_MS, stalledIntervalMs: LOCK_MS, processor, logger });
    cleanups.push(() => worker.close(true));
    worker.start();
    const ids = Array.from({ length: JOBS }, (_, index) => `lapse-${index}`);
    for (const id of ids) await jobs.add('process-event', { eventId: id }, { jobId: id });
    await waitFor('every job to run', async () => ids.every((id) => runs.get(id) === 1), { timeoutMs: 30_000 });

    await proxy.stop();
    // Nobody renews the locks: Redis lets them expire (within WORKER_LOCK_DURATION_MS).
    await waitFor('every job lock to lapse', async () => (await direct.exists(...ids.map((id) => `${ns.prefix}:${queueName}:${id}:lock`))) === 0, { timeoutMs: 30_000 });
    release();
    await proxy.restart();
    await waitFor('every job to complete on its second run', async () => (await jobs.getJobCounts('completed')).completed === JOBS && ids.every((id) => runs.get(id) === 2), {
      timeoutMs: 60_000,
    });
    const lockLines = () => lines.filter((line) => line.message.startsWith('job locks lost'));
    const workerErrorLines = () => lines.filter((line) => line.message === 'worker error');
    // Each first run's end was refused (its lock gone): one report per job at least, however it is logged.
    await waitFor('the lost locks to be reported', async () => lockLines().length + workerErrorLines().length >= 1);
    await worker.close(true); // writes the summary of what was counted since

    const workerErrors = workerErrorLines().map((line) => String((line.fields.error as Error).message));
    // The first at once, then summaries: one an interval (a minute), whatever the machine's speed; here one, at close.
    const [first, ...summaries] = lockLines().map(({ fields }) => ({ count: fields.count as number, intervalSeconds: fields.intervalSeconds, error: String((fields.error as Error).message) }));
    expect({ workerErrors, first: first?.count, summaries: summaries.map((summary) => summary.intervalSeconds) }).toEqual({
      workerErrors: [],
      first: 1,
      summaries: summaries.map(() => 60),
    });
    expect(summaries.length).toBeGreaterThanOrEqual(1);
    expect(summaries.reduce((sum, summary) => sum + summary.count, first!.count)).toBeGreaterThanOrEqual(JOBS);
    for (const { error } of [first!, ...summaries]) expect(error).toMatch(/^(Missing lock for job|could not renew lock for job|Lock mismatch for job)/);
  }, 120_000);
});
