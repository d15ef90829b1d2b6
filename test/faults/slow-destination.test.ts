import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makeEvents } from '../support/provider-simulator.js';
import type { ServiceProcess } from '../support/service-process.js';
import { FaultStack, reportFigures, settle } from './support/fault-stack.js';
import { RecordingDestination } from './support/recording-destination.js';

// A healthy but slow destination: every request is answered 200 in 80% of its timeout. Nothing it does is a fault,
// so every delivery must succeed on its first attempt, whatever the load. The timeout is 5 s rather than the chart's
// 10 s to keep the scenario short; the ratio is what matters. (At 2 s, the 400 ms margin is within what a busy 2-core
// machine adds to a round trip; 1 s of margin is not.)
const TIMEOUT_MS = 5000;
const ANSWER_MS = Math.round(TIMEOUT_MS * 0.8);
const EVENTS = 300;

// Requests open at the destination at once. Every request is answered after exactly ANSWER_MS, so while none is cut
// off by the worker (asserted below: no timeout) this counts what was really open; a cut-off request would still be
// counted until its answer was due.
let inFlight = 0;
let peakInFlight = 0;
const slow = new RecordingDestination('slow', () => {
  inFlight++;
  peakInFlight = Math.max(peakInFlight, inFlight);
  setTimeout(() => inFlight--, ANSWER_MS).unref();
  return { status: 200, delayMs: ANSWER_MS };
});
let stack: FaultStack;
let ingress: ServiceProcess;

beforeAll(async () => {
  stack = await FaultStack.create({
    destinations: { slow: { destination: slow, timeoutMs: TIMEOUT_MS } },
    routes: [{ provider: 'stripe', to: ['slow'] }],
    // As the chart runs the worker: 128 jobs in flight per process, a 10 s default timeout, the chart's pool and locks.
    env: {
      WORKER_CONCURRENCY: '128',
      DELIVERY_TIMEOUT_MS: '10000',
      DATABASE_POOL_SIZE: '20',
      WORKER_LOCK_DURATION_MS: '30000',
      WORKER_STALLED_INTERVAL_MS: '30000',
    },
  });
  // Two workers, as the chart's worker.replicaCount: up to 256 deliveries in flight at the one destination.
  [ingress] = await Promise.all([stack.start('ingress'), stack.start('worker'), stack.start('worker')]);
});

afterAll(async () => {
  await stack?.teardown();
});

describe('a destination answering in 80% of its timeout, under a burst (chart concurrency, 2 workers)', () => {
  it('delivers every event once: no timeout, no duplicate, no dead letter', async () => {
    const startedAt = Date.now();
    const events = makeEvents('slowdest', EVENTS);
    const provider = stack.provider(() => [ingress.baseUrl]);
    const outcomes = await provider.run(events, { ratePerSecond: 1000, concurrency: 32 });
    await provider.close();

    const figures = await settle({ scenario: 'destination answering in 80% of its timeout (burst, 2 workers × 128)', stack, events, outcomes, provider, startedAt });
    reportFigures(figures);
    const { rows } = await stack.db.pool.query<{ attempts: number; failed: number; timeouts: number }>(
      `SELECT count(*)::int AS attempts,
              count(*) FILTER (WHERE NOT succeeded)::int AS failed,
              count(*) FILTER (WHERE error LIKE 'timed out%')::int AS timeouts
         FROM delivery_attempts`,
    );
    const attempts = rows[0]!;
    console.log(
      `slow destination: ${slow.requestCount} requests received, peak ${peakInFlight} in flight; ` +
        `${attempts.attempts} attempts recorded, ${attempts.failed} failed, ${attempts.timeouts} timed out`,
    );
    if (figures.lost > 0 || figures.unfinished > 0) console.log(await stack.diagnose());
    expect(stack.unhandled()).toEqual([]);

    // The burst really outran the old 64 connections per worker: more than 2 × 64 requests were open at once.
    expect(peakInFlight).toBeGreaterThan(128);
    expect(attempts).toEqual({ attempts: EVENTS, failed: 0, timeouts: 0 });
    expect(slow.requestCount).toBe(EVENTS);
    expect(figures).toMatchObject({ sent: EVENTS, accepted: EVENTS, stored: EVENTS, delivered: EVENTS, deliveredTwice: 0, deadLettered: 0, lost: 0, unfinished: 0 });
  });
});
