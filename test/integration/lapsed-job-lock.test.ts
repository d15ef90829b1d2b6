/**
 * A run whose BullMQ job lock lapsed while the run was still alive (its worker lost Redis for longer than
 * WORKER_LOCK_DURATION_MS, or its event loop stalled): BullMQ hands the job out again, the second handler finds the
 * run alive in PostgreSQL (its claim and heartbeat are recent), skips it and completes the job, which is then gone.
 * When the live run ends with a retry (BullMQ's backoff, or a delay of its own: a Retry-After, a wait for a
 * destination), BullMQ refuses the move: the job is no longer this worker's. The event, FAILED or PENDING in
 * PostgreSQL, was then left without a job until the reconciler found it (RECONCILER_STALE_MS and up to an interval
 * more). The worker now adds the event's next job itself, under the event's job id, after the same delay.
 *
 * The lapse is made by deleting the job's lock key in Redis while the first run waits for the destination's answer:
 * that is all a lapse is (the key expired unrenewed), and the other worker's stalled check then does the rest.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import winston from 'winston';
import type { Logger } from '../../services/shared/logging/logger.js';
import { HttpForwarder } from '../../services/worker/delivery/http-forwarder.js';
import { EventWorker } from '../../services/worker/event-worker.js';
import { ClaimHeartbeat, confirmClaimAfterMs, liveClaimWindowMs } from '../../services/worker/processing/claim-heartbeat.js';
import { EventHandlerRegistry } from '../../services/worker/processing/event-handlers.js';
import { EventProcessor } from '../../services/worker/processing/event-processor.js';
import { ProcessingStore } from '../../services/worker/processing/processing-store.js';
import { RouteTable } from '../../services/worker/routing/route-table.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

// The job lock: another claim leaves a run alone while its claim or heartbeat is under 2/5 of it (12 s). No
// reconciler runs here: only the worker's own retry can complete the event.
const LOCK_MS = 30_000;
const ATTEMPTS = 4;
const QUEUE = 'lapsed-lock';
const STALLED_CHECK_MS = 200;
const silent = winston.createLogger({ silent: true });

let db: TestDatabase;
let ns: TestQueueNamespace;
let redis: Redis;
let jobs: Queue;
let counter = 0;

/**
 * A destination that holds the first request for each event until {@link release} answers it with the status and
 * headers given; every later request is answered 200 at once.
 */
class HoldingDestination {
  readonly requests: { eventId: string; at: number }[] = [];
  private readonly held = new Map<string, ServerResponse>();
  private server?: Server;

  async start(): Promise<void> {
    this.server = createServer((request: IncomingMessage, response: ServerResponse) => {
      request.resume();
      request.on('end', () => {
        const eventId = String(request.headers['webhook-id']);
        const first = !this.requests.some((seen) => seen.eventId === eventId);
        this.requests.push({ eventId, at: Date.now() });
        if (first) this.held.set(eventId, response);
        else response.end('ok');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  isHolding(eventId: string): boolean {
    return this.held.has(eventId);
  }

  requestsFor(eventId: string): { at: number }[] {
    return this.requests.filter((request) => request.eventId === eventId);
  }

  /** Answers the held request; returns when it was answered. */
  release(eventId: string, status: number, headers: Record<string, string> = {}): number {
    const response = this.held.get(eventId)!;
    this.held.delete(eventId);
    response.writeHead(status, headers).end('answered');
    return Date.now();
  }

  async stop(): Promise<void> {
    for (const response of this.held.values()) response.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const destination = new HoldingDestination();
const forwarder = new HttpForwarder({ defaultTimeoutMs: 60_000, defaultMaxConcurrency: 8 });

/** A worker as the worker role builds one (live-claim window of the lock, heartbeat running), on this file's queue. */
function worker(logger: Logger) {
  const heartbeat = new ClaimHeartbeat({ pool: db.pool, lockDurationMs: LOCK_MS, logger: silent });
  heartbeat.start();
  const processor = new EventProcessor({
    store: new ProcessingStore(db.pool, { liveClaimWindowMs: liveClaimWindowMs(LOCK_MS) }),
    confirmClaimAfterMs: confirmClaimAfterMs(LOCK_MS),
    routes: new RouteTable({ destinations: { crm: { url: `${destination.url}/crm` } }, routes: [{ provider: 'lapseco', to: ['crm'] }] }),
    handlers: new EventHandlerRegistry(),
    forwarder,
    maxAttempts: ATTEMPTS,
    logger: silent,
    heartbeat,
  });
  const connection = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
  const eventWorker = new EventWorker({
    connection,
    queueName: QUEUE,
    prefix: ns.prefix,
    concurrency: 1,
    lockDurationMs: LOCK_MS,
    // Often, for a prompt hand-out once the lock is gone (a check sets the next one's earliest time for every worker).
    stalledIntervalMs: STALLED_CHECK_MS,
    processor,
    logger,
  });
  return {
    worker: eventWorker,
    async close() {
      await eventWorker.close(true);
      await heartbeat.stop();
      connection.disconnect();
    },
  };
}

/** A logger that keeps its warnings (message and fields). */
function recordingLogger(): { logger: Logger; warnings: { message: string; fields: Record<string, unknown> }[] } {
  const warnings: { message: string; fields: Record<string, unknown> }[] = [];
  const ignore = () => undefined;
  const logger = {
    warn: (message: string, fields: Record<string, unknown> = {}) => warnings.push({ message, fields }),
    info: ignore,
    error: ignore,
    debug: ignore,
  } as unknown as Logger;
  return { logger, warnings };
}

async function newEvent(): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
     VALUES ('lapseco', $1, 'thing.happened', '{}'::jsonb, '\\x7b7d'::bytea, 'application/json', 'PENDING') RETURNING id`,
    [`evt_lapse_${counter++}`],
  );
  return rows[0]!.id;
}

type Row = { status: string; attempts: number };
const row = async (id: string): Promise<Row> => (await db.pool.query<Row>('SELECT status, attempts FROM webhook_events WHERE id = $1', [id])).rows[0]!;

const running: { close(): Promise<void> }[] = [];

/**
 * The first worker takes the event's job and sends to the destination, which holds the request; the job's lock then
 * lapses, the second worker's stalled check hands the job to that worker, which skips the live run and completes the
 * job. Resolves once the job is gone from Redis, with the first worker's recorded warnings.
 */
async function lapseWhileTheRunIsAlive(id: string, backoffMs: number) {
  const first = recordingLogger();
  const a = worker(first.logger);
  running.push(a);
  a.worker.start();
  // As EventQueue adds them.
  await jobs.add('process-event', { eventId: id }, { jobId: id, attempts: ATTEMPTS, backoff: { type: 'fixed', delay: backoffMs }, removeOnComplete: true });
  await waitFor('the first run to send to the destination', () => destination.isHolding(id));

  // The other worker is idle (the first runs one job at a time): the job is handed to it once the lock is gone.
  const b = worker(silent);
  running.push(b);
  b.worker.start();
  await redis.del(`${ns.prefix}:${QUEUE}:${id}:lock`);
  await waitFor('the second worker to skip the live run and complete the job', async () => (await jobs.getJob(id)) === undefined);
  expect(await row(id)).toMatchObject({ status: 'PROCESSING', attempts: 1 });
  return first;
}

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  redis = new Redis(ns.redisUrl, { maxRetriesPerRequest: null });
  jobs = new Queue(QUEUE, { connection: redis, prefix: ns.prefix });
  await destination.start();
});

afterEach(async () => {
  for (const each of running.splice(0)) await each.close();
  await jobs.obliterate({ force: true });
});

afterAll(async () => {
  await jobs?.close();
  redis?.disconnect();
  await ns?.cleanup();
  await forwarder.close();
  await destination.stop();
  await db?.drop();
});

describe('a run whose job lock lapsed while it was alive', () => {
  it("is retried after BullMQ's backoff by a new job of the event, not left FAILED for the reconciler", async () => {
    const id = await newEvent();
    const backoffMs = 1500;
    const { warnings } = await lapseWhileTheRunIsAlive(id, backoffMs);

    // The attempt fails: a retry after the job's backoff, which BullMQ refuses (the job is not this worker's).
    const answered = destination.release(id, 500);
    const done = await waitFor('the event completed by its retry', async () => {
      const current = await row(id);
      return current.status === 'COMPLETED' ? current : undefined;
    }, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ attempts: 2 });
    // Sent once per attempt, the retry after the backoff (a delayed job runs no earlier than its delay).
    const sent = destination.requestsFor(id);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.at - answered).toBeGreaterThanOrEqual(backoffMs - 50);
    const replaced = warnings.filter((warning) => warning.message.startsWith('job no longer held by this worker'));
    expect(replaced).toHaveLength(1);
    expect(replaced[0]!.fields).toMatchObject({ eventId: id, jobId: id, added: true });
  }, 45_000);

  it("waits out a Retry-After in a new job of the event when BullMQ refuses this worker's delay", async () => {
    const id = await newEvent();
    const { warnings } = await lapseWhileTheRunIsAlive(id, 20);

    // Longer than the backoff: the worker delays the job itself (moveToDelayed), which BullMQ refuses.
    const answered = destination.release(id, 429, { 'retry-after': '2' });
    const done = await waitFor('the event completed after its Retry-After', async () => {
      const current = await row(id);
      return current.status === 'COMPLETED' ? current : undefined;
    }, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ attempts: 2 });
    const sent = destination.requestsFor(id);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.at - answered).toBeGreaterThanOrEqual(2000 - 50);
    const replaced = warnings.filter((warning) => warning.message.startsWith('job no longer held by this worker'));
    expect(replaced).toHaveLength(1);
    expect(replaced[0]!.fields).toMatchObject({ eventId: id, jobId: id, added: true });
  }, 45_000);

  it('is retried after its backoff also when no other worker took the job: the stalled check had put it back in the queue, to run at once', async () => {
    // The usual lapse: the lock expired and no worker has taken the job since (the stalled check put it back in the
    // queue, or has not come to it yet). BullMQ refuses the retry (the lock is gone), and a job that runs at once is
    // there: without a replacement delayed by the backoff, the retry came as soon as the worker was free.
    const id = await newEvent();
    const backoffMs = 3000;
    const first = recordingLogger();
    const a = worker(first.logger);
    running.push(a);
    a.worker.start();
    await jobs.add('process-event', { eventId: id }, { jobId: id, attempts: ATTEMPTS, backoff: { type: 'fixed', delay: backoffMs }, removeOnComplete: true });
    await waitFor('the run to send to the destination', () => destination.isHolding(id));
    await redis.del(`${ns.prefix}:${QUEUE}:${id}:lock`);
    // The worker's own stalled check (every 200 ms) puts the job back in the queue; the worker runs one job at a time
    // and is busy with this run, so nobody takes it.
    await waitFor('the stalled check to put the job back in the queue', async () => (await jobs.getJobState(id)) === 'waiting');

    const answered = destination.release(id, 500);
    const done = await waitFor('the event completed by its retry', async () => {
      const current = await row(id);
      return current.status === 'COMPLETED' ? current : undefined;
    }, { timeoutMs: 15_000 });
    expect(done).toMatchObject({ attempts: 2 });
    const sent = destination.requestsFor(id);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.at - answered).toBeGreaterThanOrEqual(backoffMs - 50);
    const replaced = first.warnings.filter((warning) => warning.message.startsWith('job no longer held by this worker'));
    expect(replaced.map((warning) => warning.fields)).toMatchObject([{ eventId: id, jobId: id, added: true }]);
  }, 45_000);
});
