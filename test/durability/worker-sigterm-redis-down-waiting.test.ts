/**
 * README (Shutdown): "With Redis unreachable the drain does not wait for it: the worker lets the jobs running in the
 * process finish, then closes without Redis …, so the exit is still prompt and 0".
 *
 * A job that claimed its event just as Redis went away finds the destination state unreadable: its delivery waits
 * (no attempt used), the event goes back to PENDING in PostgreSQL, and the job is to be delayed in Redis. That delay
 * (and the readyAt stamp before it) runs on the worker's connection, which queues commands until Redis returns, so
 * the job never ends, the drain waits for it, and SHUTDOWN_TIMEOUT_MS forces exit 1.
 *
 * Real worker process, its own redis-server (stopped), real PostgreSQL. A row lock held by the test keeps the claim
 * waiting until Redis is gone, so the order is not a matter of timing.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import winston from 'winston';
import { EventQueue } from '../../services/shared/queue/event-queue.js';
import type { ServiceProcess } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';
import { FaultStack } from '../faults/support/fault-stack.js';
import { RecordingDestination } from '../faults/support/recording-destination.js';

jest.setTimeout(120_000);

const destination = new RecordingDestination('orders');
let stack: FaultStack;
let worker: ServiceProcess;

beforeAll(async () => {
  stack = await FaultStack.create({
    destinations: { orders: { destination } },
    routes: [{ provider: 'stripe', to: ['orders'] }],
    // The reconciler stays out of the way (it would only add the same job).
    env: { RECONCILER_INTERVAL_MS: '600000' },
  });
  worker = await stack.start('worker');
});

afterAll(async () => {
  await stack?.teardown();
});

describe('worker SIGTERM while Redis is unreachable and a job is waiting for the destination state', () => {
  it('drains promptly with exit 0', async () => {
    const { rows } = await stack.db.pool.query<{ id: string }>(
      `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
       VALUES ('stripe', 'evt_sigterm_redis_down', 'invoice.paid', '{}', '\\x7b7d', 'application/json', 'PENDING') RETURNING id`,
    );
    const id = rows[0]!.id;
    // Hold the event's row: the worker's claim waits on it.
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
    await queue.close();
    connection.disconnect();

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
    await stack.redis.stop();
    await blocker.query('COMMIT');
    await blocker.end();

    // The job claimed the event, could not read the destination state, gave its attempt back: PENDING, waiting.
    await waitFor(
      'the event to wait for its destination state',
      async () =>
        (await stack.db.pool.query(`SELECT 1 FROM webhook_events WHERE id = $1 AND status = 'PENDING' AND last_error LIKE 'waiting:%'`, [id]))
          .rowCount === 1,
      { timeoutMs: 20_000, intervalMs: 50 },
    );

    const signalledAt = Date.now();
    worker.signal('SIGTERM');
    const { code } = await worker.exited(30_000);
    const tookMs = Date.now() - signalledAt;
    if (code !== 0) console.log(worker.jsonLogs().filter((l) => l.level !== "debug").slice(-12).map((l) => `${l.level} ${l.message} ${JSON.stringify(l).slice(0, 160)}`).join("\n"));
    // SHUTDOWN_TIMEOUT_MS is 10 s here; the job's processing is over (its end is in PostgreSQL).
    expect({ code, promptly: tookMs < 5000 }).toEqual({ code: 0, promptly: true });
  });
});
