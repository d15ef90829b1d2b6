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
import type { ServiceProcess } from '../support/service-process.js';
import { FaultStack } from '../faults/support/fault-stack.js';
import { RecordingDestination } from '../faults/support/recording-destination.js';
import { holdClaim } from './support/claim-without-redis.js';

jest.setTimeout(180_000);

const destination = new RecordingDestination('orders');
let stack: FaultStack;
let worker: ServiceProcess;

beforeAll(async () => {
  stack = await FaultStack.create({
    destinations: { orders: { destination } },
    routes: [{ provider: 'stripe', to: ['orders'] }],
    // The reconciler stays out of the way (it would only add the same job). SHUTDOWN_TIMEOUT_MS of 60 s: a drain that
    // waits for Redis ends only there, with exit 1, and a correct drain on a loaded machine is far within it.
    env: { RECONCILER_INTERVAL_MS: '600000', SHUTDOWN_TIMEOUT_MS: '60000' },
  });
  worker = await stack.start('worker');
});

afterAll(async () => {
  await stack?.teardown();
});

describe('worker SIGTERM while Redis is unreachable and a job is waiting for the destination state', () => {
  it('drains promptly with exit 0', async () => {
    // The worker's claim waits on the event's row until Redis is gone.
    const held = await holdClaim(stack, 'evt_sigterm_redis_down');
    await held.closeQueue();
    // The job claimed the event, could not read the destination state, gave its attempt back: PENDING, waiting.
    await held.claimWithoutRedis(() => stack.redis.stop());

    worker.signal('SIGTERM');
    const { code } = await worker.exited(90_000);
    // Exit 0: the drain ended on its own, not at SHUTDOWN_TIMEOUT_MS (exit 1); the job's processing is over (its end is
    // in PostgreSQL). No wall-clock bound (5 s before, which a loaded machine can exceed): the exit code tells them apart.
    // Any other exit shows the worker's last lines (but debug) with it: what the drain was doing.
    const lastLines = code === 0 ? [] : worker.jsonLogs().filter((line) => line.level !== 'debug').slice(-12).map((line) => [line.level, line.message, (line.error as { message?: string } | undefined)?.message].filter(Boolean).join(' '));
    expect({ code, lastLines }).toEqual({ code: 0, lastLines: [] });
  });
});
