import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makeEvents } from '../support/provider-simulator.js';
import { waitFor } from '../support/wait-for.js';
import type { ServiceProcess } from '../support/service-process.js';
import { FaultStack, reportFigures, settle } from './support/fault-stack.js';
import { RecordingDestination } from './support/recording-destination.js';

// A destination down for 60 s under steady load, behind a circuit breaker; every event also goes to a healthy
// destination. Two workers, as the chart runs them.
const DOWN_MS = 60_000;
const LOAD_SECONDS = 65;
const RATE = 6;
const BREAKER = { failureThreshold: 5, cooldownMs: 5000 };
const CONCURRENCY = 16;

let downUntil = Number.POSITIVE_INFINITY;
const requestsWhileDown: number[] = [];
const down = new RecordingDestination('down', () => {
  if (Date.now() < downUntil) {
    requestsWhileDown.push(Date.now());
    return { status: 503 };
  }
  return { status: 200 };
});
const healthy = new RecordingDestination('healthy');
let stack: FaultStack;
let ingress: ServiceProcess;
let workers: ServiceProcess[];

beforeAll(async () => {
  stack = await FaultStack.create({
    destinations: { down: { destination: down, circuitBreaker: BREAKER }, healthy: { destination: healthy } },
    routes: [{ provider: 'stripe', to: ['down', 'healthy'] }],
    env: { WORKER_CONCURRENCY: String(CONCURRENCY), ADMIN_API_TOKEN: 'outage-admin-token' },
  });
  let worker1: ServiceProcess;
  let worker2: ServiceProcess;
  [ingress, worker1, worker2] = await Promise.all([stack.start('ingress'), stack.start('worker'), stack.start('worker')]);
  workers = [worker1, worker2];
}, 90_000);

afterAll(async () => {
  await stack?.teardown();
});

describe('a destination down for 60 s under load, behind a circuit breaker (2 workers)', () => {
  it('loses nothing and dead-letters nothing; requests to the down destination stay few; the healthy destination is not held up', async () => {
    const startedAt = Date.now();
    downUntil = startedAt + DOWN_MS;
    const events = makeEvents('outage', LOAD_SECONDS * RATE);
    const provider = stack.provider(() => [ingress.baseUrl]);
    // Half-way through the outage, operators see the circuit open and the events waiting for it (the admin API).
    const observed = waitFor(
      'the admin API to show the down destination open with events waiting, half-way through the outage',
      async () => {
        if (Date.now() < startedAt + DOWN_MS / 2) return undefined;
        const response = await fetch(`${ingress.baseUrl}/admin/destinations`, { headers: { authorization: 'Bearer outage-admin-token' } });
        const body = (await response.json()) as { items: { name: string; state: { circuit: string; waiting: { events: number } } }[] };
        const state = body.items.find((item) => item.name === 'down')!.state;
        return state.circuit !== 'closed' && state.waiting.events > 0 ? state : undefined;
      },
      { timeoutMs: DOWN_MS - 5000, intervalMs: 500 },
    );
    const outcomes = await provider.run(events, { ratePerSecond: RATE, concurrency: 8 });
    await provider.close();
    const heldDuringOutage = await observed;

    const figures = await settle(
      { scenario: `destination down ${DOWN_MS / 1000} s under load (circuit breaker ${BREAKER.failureThreshold} / ${BREAKER.cooldownMs} ms)`, stack, events, outcomes, provider, startedAt },
      { timeoutMs: 60_000 },
    );
    reportFigures(figures);
    const { rows } = await stack.db.pool.query<{ max_attempts: number; failed_rows: number; dead: number }>(
      `SELECT max(attempts)::int AS max_attempts,
              (SELECT count(*)::int FROM delivery_attempts WHERE NOT succeeded) AS failed_rows,
              count(*) FILTER (WHERE status = 'DEAD_LETTER')::int AS dead
         FROM webhook_events`,
    );
    // The healthy destination took each event within seconds of its acceptance, outage or not.
    const lag = outcomes.map((outcome) => {
      const id = outcome.eventId!;
      const first = healthy.sink.requestsFor(id)[0];
      return first ? first.at - startedAt : Number.POSITIVE_INFINITY;
    });
    const probes = requestsWhileDown.filter((at) => at > startedAt + 2 * BREAKER.cooldownMs).length;
    console.log(
      `destination down ${DOWN_MS / 1000} s: ${requestsWhileDown.length} requests reached it while down (${probes} after the first ${(2 * BREAKER.cooldownMs) / 1000} s: the probes), ` +
        `${rows[0]!.failed_rows} failed attempts recorded, max attempts per event ${rows[0]!.max_attempts}, ` +
        `${heldDuringOutage.waiting.events} events waiting half-way through (circuit ${heldDuringOutage.circuit}); ` +
        `all delivered ${((Date.now() - downUntil) / 1000).toFixed(1)} s after recovery (incl. a 0.5 s settle)`,
    );
    if (figures.lost > 0 || figures.unfinished > 0) console.log(await stack.diagnose());
    expect(stack.unhandled()).toEqual([]);

    expect(figures).toMatchObject({ sent: events.length, accepted: events.length, stored: events.length, delivered: events.length, deadLettered: 0, lost: 0, unfinished: 0 });
    expect(rows[0]!.dead).toBe(0);
    expect(heldDuringOutage.circuit).not.toBe('closed');
    expect(heldDuringOutage.waiting.events).toBeGreaterThan(0);
    // Bounded: the failures that opened it, what was in flight then (2 workers × concurrency), one probe per cooldown.
    expect(requestsWhileDown.length).toBeLessThanOrEqual(BREAKER.failureThreshold + 2 * CONCURRENCY + Math.ceil(DOWN_MS / BREAKER.cooldownMs) + 2);
    expect(Math.max(...lag)).toBeLessThan(LOAD_SECONDS * 1000 + 10_000);
    for (const worker of workers) expect(worker.jsonLogs().some((line) => line.message === 'event dead-lettered')).toBe(false);
  }, 180_000);
});
