import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makeEvents } from '../support/provider-simulator.js';
import type { ServiceProcess } from '../support/service-process.js';
import { FaultStack, reportFigures, settle } from './support/fault-stack.js';
import { RecordingDestination } from './support/recording-destination.js';

const COPIES = 5;
const billing = new RecordingDestination('billing');
const analytics = new RecordingDestination('analytics');
let stack: FaultStack;
let ingressA: ServiceProcess;
let ingressB: ServiceProcess;

beforeAll(async () => {
  stack = await FaultStack.create({
    destinations: { billing: { destination: billing }, analytics: { destination: analytics } },
    routes: [{ provider: 'stripe', to: ['billing', 'analytics'] }],
  });
  [ingressA, ingressB] = await Promise.all([stack.start('ingress'), stack.start('ingress'), stack.start('worker')]);
});

afterAll(async () => {
  await stack?.teardown();
});

describe('a duplicate storm: every event sent five times at once, to two ingress processes', () => {
  it('stores one row and delivers once per destination for each event', async () => {
    const startedAt = Date.now();
    const events = makeEvents('storm', 150);
    const provider = stack.provider(() => [ingressA.baseUrl, ingressB.baseUrl]);
    const outcomes = await provider.run(events, { ratePerSecond: 40, concurrency: 8, copies: COPIES });
    await provider.close();

    const figures = await settle({ scenario: `duplicate storm (x${COPIES}, 2 ingress)`, stack, events, outcomes, provider, startedAt });
    reportFigures(figures);
    if (figures.lost > 0 || figures.unfinished > 0) console.log(await stack.diagnose());
    expect(stack.unhandled()).toEqual([]);

    // Both ingress processes took copies of the same events.
    const targets = new Set(provider.responses.map((response) => response.target));
    expect(targets).toEqual(new Set([ingressA.baseUrl, ingressB.baseUrl]));
    expect(provider.responses).toHaveLength(events.length * COPIES);
    for (const outcome of outcomes) {
      // All five copies were answered with the same event id; exactly one of them was the new event (202).
      expect(outcome.acceptances).toHaveLength(COPIES);
      expect(new Set(outcome.acceptances.map((acceptance) => acceptance.id)).size).toBe(1);
      expect(outcome.acceptances.filter((acceptance) => acceptance.status === 202 && !acceptance.duplicate)).toHaveLength(1);
      expect(outcome.acceptances.filter((acceptance) => acceptance.status === 200 && acceptance.duplicate)).toHaveLength(COPIES - 1);
    }
    const { rows } = await stack.db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_events WHERE provider = 'stripe'");
    expect(rows[0]!.n).toBe(events.length);
    expect(billing.requestCount).toBe(events.length);
    expect(analytics.requestCount).toBe(events.length);
    expect(figures).toMatchObject({ sent: events.length, accepted: events.length, stored: events.length, delivered: events.length, deliveredTwice: 0, lost: 0, unfinished: 0 });
  });
});
