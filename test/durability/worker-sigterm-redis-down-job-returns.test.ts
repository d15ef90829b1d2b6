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
import { eventJobId } from '../../services/shared/queue/event-job.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';
import { FaultStack } from '../faults/support/fault-stack.js';
import { RecordingDestination } from '../faults/support/recording-destination.js';
import { holdClaim } from './support/claim-without-redis.js';

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
    // The worker's claim waits on the event's row until its Redis is cut off.
    const held = await holdClaim(stack, 'evt_let_go_returns');
    const { id } = held;
    const jobState = async () => (await Job.fromId(held.queue.queue, eventJobId(id)))?.getState();

    try {
      await held.claimWithoutRedis(() => proxy.stop());
      draining.signal('SIGTERM');
      expect((await draining.exited(30_000)).code).toBe(0);
      // BullMQ recorded nothing for it: still active, its lock left to lapse.
      expect(await jobState()).toBe('active');

      // The reconciler is off (RECONCILER_INTERVAL_MS 10 min), so only the stalled check (lock 2 s, checks every 1 s) can
      // hand the job back within the deadline: no wall-clock bound of its own, which a loaded machine broke.
      await stack.start('worker');
      await waitFor(
        'the event to be delivered',
        async () => (await stack.db.pool.query(`SELECT 1 FROM webhook_events WHERE id = $1 AND status = 'COMPLETED'`, [id])).rowCount === 1,
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      expect(destination.requestCount).toBe(1);
    } finally {
      await held.closeQueue();
    }
  });
});
