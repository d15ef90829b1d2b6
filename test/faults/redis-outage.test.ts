import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as delay } from 'node:timers/promises';
import { makeEvents } from '../support/provider-simulator.js';
import type { ServiceProcess } from '../support/service-process.js';
import { FaultStack, reportFigures, settle } from './support/fault-stack.js';
import { RecordingDestination } from './support/recording-destination.js';

const destination = new RecordingDestination('orders');
let stack: FaultStack;
let ingress: ServiceProcess;
let worker: ServiceProcess;

beforeAll(async () => {
  stack = await FaultStack.create({
    destinations: { orders: { destination } },
    routes: [{ provider: 'stripe', to: ['orders'] }],
  });
  [ingress, worker] = await Promise.all([stack.start('ingress'), stack.start('worker')]);
});

afterAll(async () => {
  await stack?.teardown();
});

describe('Redis stopped for several seconds under load, then restarted (empty)', () => {
  it('keeps answering 2xx, and processes every accepted event afterwards', async () => {
    const startedAt = Date.now();
    const events = makeEvents('redis', 240);
    const provider = stack.provider(() => [ingress.baseUrl]);
    const outage = { from: 0, to: 0, health: 0, ready: 0, redisStatus: '' };
    const [outcomes] = await Promise.all([
      provider.run(events, { ratePerSecond: 40, concurrency: 16 }),
      (async () => {
        await delay(1500);
        outage.from = Date.now();
        await stack.redis.stop(); // SIGKILL: no persistence, so jobs queued before the outage are gone too
        await delay(1000);
        const health = await fetch(`${ingress.baseUrl}/health`);
        outage.health = health.status;
        outage.redisStatus = ((await health.json()) as { details: { redis: { status: string } } }).details.redis.status;
        outage.ready = (await fetch(`${ingress.baseUrl}/health/ready`)).status;
        await delay(3000);
        await stack.redis.start();
        outage.to = Date.now();
      })(),
    ]);
    await provider.close();

    const figures = await settle({ scenario: 'Redis down 4 s (restarted empty)', stack, events, outcomes, provider, startedAt });
    reportFigures(figures);
    if (figures.lost > 0 || figures.unfinished > 0) console.log(await stack.diagnose());
    expect(stack.unhandled()).toEqual([]);

    // The outage was real (the full health report saw it) and the ingress stayed ready: Redis does not gate it.
    expect(outage).toMatchObject({ health: 503, redisStatus: 'down', ready: 200 });
    // While Redis was down the ingress answered every request, with 2xx, and quickly.
    const duringOutage = provider.responses.filter((r) => r.startedAt >= outage.from && r.finishedAt <= outage.to);
    expect(duringOutage.length).toBeGreaterThan(100);
    expect(duringOutage.filter((r) => r.status !== 202)).toEqual([]);
    expect(Math.max(...duringOutage.map((r) => r.finishedAt - r.startedAt))).toBeLessThan(2000);
    expect(provider.summary().byStatus).toEqual({ 202: events.length });
    expect(figures).toMatchObject({ sent: events.length, accepted: events.length, stored: events.length, delivered: events.length, lost: 0, unfinished: 0 });
    // The events accepted while Redis was down (and the jobs the empty Redis forgot) came back through the reconciler.
    expect(worker.jsonLogs().some((line) => line.message === 'reconciler enqueued stranded events')).toBe(true);
  });
});
