/**
 * The other half of worker-sigterm-redis-down-waiting.test.ts: a drain that closes without Redis lets go of a job
 * whose delay could not reach Redis (EventWorker.delay). Nothing may be lost by that: the job stays active in Redis
 * under a lock nobody renews, and once Redis answers again the stalled check of any worker puts it back in the queue
 * within WORKER_LOCK_DURATION_MS + WORKER_STALLED_INTERVAL_MS, and its event (PENDING in PostgreSQL) is delivered.
 *
 * Redis keeps its data here (the worker is cut off by a proxy, Redis itself runs on), and the reconciler stays out
 * of the way, so the job can only come back through the stalled check.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Job } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import winston from 'winston';
import { eventJobId } from '../../services/shared/queue/event-job.js';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';
import { FaultStack } from '../faults/support/fault-stack.js';
import { RecordingDestination } from '../faults/support/recording-destination.js';

jest.setTimeout(120_000);

const destination = new RecordingDestination('orders');
let stack: FaultStack;
let proxy: TcpProxy;

beforeAll(async () => {
  stack = await FaultStack.create({
    destinations: { orders: { destination } },
    routes: [{ provider: 'stripe', to: ['orders'] }],
    // WORKER_LOCK_DURATION_MS 2 s and WORKER_STALLED_INTERVAL_MS 1 s come from the fault stack.
    env: { RECONCILER_INTERVAL_MS: '600000' },
  });
  proxy = new TcpProxy('127.0.0.1', stack.redis.port);
  await proxy.start();
});

afterAll(async () => {
  await proxy?.stop();
  await stack?.teardown();
});

describe('a job let go by a drain without Redis', () => {
  it('returns through the stalled check once Redis answers, and its event is delivered', async () => {
    const draining = await stack.start('worker', { REDIS_URL: `redis://127.0.0.1:${proxy.port}/0` });
    const { rows } = await stack.db.pool.query<{ id: string }>(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
       VALUES ('stripe', 'evt_let_go_returns', 'invoice.paid', '{}', '\\x7b7d', 'application/json', 'PENDING') RETURNING id`,
    );
    const id = rows[0]!.id;
    // Hold the event's row: the worker's claim waits on it until its Redis is cut off.
    const blocker = new pg.Client({ connectionString: stack.db.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT id FROM webhook_events WHERE id = $1 FOR UPDATE', [id]);

    const connection = new Redis(stack.redis.url, { maxRetriesPerRequest: 1 });
    const queue = new EventQueue({
      connection,
      name: 'webhook-events',
      prefix: stack.env.QUEUE_PREFIX!,
      attempts: 8,
      backoffMs: 100,
      logger: winston.createLogger({ silent: true }),
    });
    await queue.enqueue({ eventId: id });
    const jobState = async () => (await Job.fromId(queue.queue, eventJobId(id)))?.getState();

    try {
      await waitFor(
        "the worker's claim to wait on the row",
        async () =>
          (
            await stack.db.pool.query(
              `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' AND query LIKE '%SET status = ''PROCESSING''%'`,
              [stack.db.name],
            )
          ).rowCount === 1,
        { timeoutMs: 20_000, intervalMs: 50 },
      );
      await proxy.stop();
      await blocker.query('COMMIT');
      await blocker.end();
      await waitFor(
        'the event to wait for its destination state',
        async () =>
          (await stack.db.pool.query(`SELECT 1 FROM webhook_events WHERE id = $1 AND status = 'PENDING' AND last_error LIKE 'waiting:%'`, [id]))
            .rowCount === 1,
        { timeoutMs: 20_000, intervalMs: 50 },
      );
      draining.signal('SIGTERM');
      expect((await draining.exited(30_000)).code).toBe(0);
      // BullMQ recorded nothing for it: still active, its lock left to lapse.
      expect(await jobState()).toBe('active');

      const returnedFrom = Date.now();
      await stack.start('worker');
      await waitFor(
        'the event to be delivered',
        async () => (await stack.db.pool.query(`SELECT 1 FROM webhook_events WHERE id = $1 AND status = 'COMPLETED'`, [id])).rowCount === 1,
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      // Lock 2 s + stalled checks every 1 s (the first only marks it), with room for a loaded machine.
      expect(Date.now() - returnedFrom).toBeLessThan(10_000);
      expect(destination.requestCount).toBe(1);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });
});
