/**
 * SIGTERM on a worker whose last attempt (JOB_ATTEMPTS) of a fanned-out event is still sending to a healthy, slow
 * destination (answering 200 just under DELIVERY_TIMEOUT_MS), with the chart's values for the lock, the delivery
 * timeout and the drain: the drain lets the attempt end, so the next worker finds the event COMPLETED, and the
 * last-attempt rule (a claim taking over a PROCESSING event at JOB_ATTEMPTS dead-letters it) never sees it. Each
 * destination took the event once.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { makeEvents } from '../support/provider-simulator.js';
import type { ServiceProcess } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';
import { FaultStack } from './support/fault-stack.js';
import { RecordingDestination } from './support/recording-destination.js';

const JOB_ATTEMPTS = 2;
const DELIVERY_TIMEOUT_MS = 10_000;
// crm fails the first attempt at once, then answers 200 just under the delivery timeout; erp takes it at once.
const crm = new RecordingDestination('crm', (_id, nth) => (nth === 1 ? { status: 503 } : { status: 200, delayMs: DELIVERY_TIMEOUT_MS - 1500 }));
const erp = new RecordingDestination('erp');
let stack: FaultStack;
let ingress: ServiceProcess;
let worker: ServiceProcess;
let redis: Redis | undefined;

beforeAll(async () => {
  stack = await FaultStack.create({
    destinations: { crm: { destination: crm }, erp: { destination: erp } },
    routes: [{ provider: 'stripe', to: ['crm', 'erp'] }],
    env: {
      JOB_ATTEMPTS: String(JOB_ATTEMPTS),
      JOB_BACKOFF_MS: '1000',
      DELIVERY_TIMEOUT_MS: String(DELIVERY_TIMEOUT_MS),
      WORKER_LOCK_DURATION_MS: '30000',
      WORKER_STALLED_INTERVAL_MS: '30000',
      SHUTDOWN_TIMEOUT_MS: '25000',
    },
  });
  [ingress, worker] = await Promise.all([stack.start('ingress'), stack.start('worker')]);
});

afterAll(async () => {
  redis?.disconnect();
  await stack?.teardown();
});

describe('SIGTERM during the last attempt of a fanned-out event to a slow, healthy destination', () => {
  it('completes the event, each destination taking it once; the next worker sends nothing and dead-letters nothing', async () => {
    const provider = stack.provider(() => [ingress.baseUrl]);
    await provider.run(makeEvents('termlast', 1), { ratePerSecond: 10, concurrency: 1 });
    await provider.close();
    const { rows } = await stack.db.pool.query<{ id: string }>('SELECT id FROM webhook_events');
    expect(rows).toHaveLength(1);
    const id = rows[0]!.id;
    const state = async () =>
      (await stack.db.pool.query<{ status: string; attempts: number; last_error: string | null }>('SELECT status, attempts, last_error FROM webhook_events WHERE id = $1', [id]))
        .rows[0]!;

    await waitFor('the last attempt in flight at crm', () => crm.inFlight.has(id), { timeoutMs: 60_000, intervalMs: 20 });
    expect(await state()).toMatchObject({ status: 'PROCESSING', attempts: JOB_ATTEMPTS });
    redis = new Redis(stack.redis.url);
    const jobKey = `${stack.env.QUEUE_PREFIX}:webhook-events:${id}`;
    expect(await redis.exists(jobKey)).toBe(1);
    worker.signal('SIGTERM');
    expect(await worker.exited(40_000)).toEqual({ code: 0, signal: null });
    expect(await state()).toMatchObject({ status: 'COMPLETED', attempts: JOB_ATTEMPTS });

    // The job ended with the attempt (removed on completion): nothing is left in Redis to claim the event again.
    expect(await redis.exists(jobKey)).toBe(0);
    const next = await stack.start('worker');
    await waitFor('the next worker started', () => next.jsonLogs().some((line) => line.message === 'service started'), { timeoutMs: 30_000, intervalMs: 100 });
    console.log(`sigterm on the last attempt: crm=${JSON.stringify(crm.answers.get(id))} erp=${JSON.stringify(erp.answers.get(id))} ${JSON.stringify(await state())}`);
    expect(await state()).toMatchObject({ status: 'COMPLETED', attempts: JOB_ATTEMPTS });
    expect(crm.answers.get(id)).toEqual([503, 200]);
    expect(erp.answers.get(id)).toEqual([200]);
  });
});
