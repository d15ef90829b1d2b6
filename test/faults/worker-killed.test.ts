import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as delay } from 'node:timers/promises';
import { makeEvents } from '../support/provider-simulator.js';
import type { ServiceProcess } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';
import { FaultStack, reportFigures, settle } from './support/fault-stack.js';
import { RecordingDestination } from './support/recording-destination.js';

// Every delivery takes a while, so a kill always finds some in flight.
const destination = new RecordingDestination('crm', () => ({ status: 200, delayMs: 300 }));
let stack: FaultStack;
let ingress: ServiceProcess;
let worker: ServiceProcess;

beforeAll(async () => {
  stack = await FaultStack.create({
    destinations: { crm: { destination } },
    routes: [{ provider: 'stripe', to: ['crm'] }],
  });
  [ingress, worker] = await Promise.all([stack.start('ingress'), stack.start('worker')]);
});

afterAll(async () => {
  await stack?.teardown();
});

describe('a worker SIGKILLed mid-delivery, then started again', () => {
  it('ends every accepted event COMPLETED and delivered', async () => {
    const startedAt = Date.now();
    const events = makeEvents('sigkill', 200);
    const provider = stack.provider(() => [ingress.baseUrl]);
    const killed = { inFlight: 0, signal: '' as string | null };
    const [outcomes] = await Promise.all([
      provider.run(events, { ratePerSecond: 40, concurrency: 16 }),
      (async () => {
        await delay(2000);
        await waitFor('deliveries in flight', () => destination.inFlight.size >= 4, { timeoutMs: 5000, intervalMs: 5 });
        killed.inFlight = destination.inFlight.size;
        worker.signal('SIGKILL');
        killed.signal = (await worker.exited(5000)).signal;
        await delay(1000);
        worker = await stack.start('worker');
      })(),
    ]);
    await provider.close();

    const figures = await settle({ scenario: 'worker SIGKILL mid-delivery + restart', stack, events, outcomes, provider, startedAt });
    reportFigures(figures);
    if (figures.lost > 0 || figures.unfinished > 0) console.log(await stack.diagnose());
    expect(stack.unhandled()).toEqual([]);

    expect(killed.signal).toBe('SIGKILL');
    expect(killed.inFlight).toBeGreaterThanOrEqual(4);
    expect(figures).toMatchObject({ answered5xxOther: 0, hangs: 0, acceptedWithoutRow: 0 });
    expect(figures).toMatchObject({ sent: events.length, accepted: events.length, stored: events.length, delivered: events.length, lost: 0, unfinished: 0 });
    // At-least-once: only deliveries cut off by the kill may have been sent twice (webhook-id lets receivers dedupe).
    expect(figures.deliveredTwice).toBeLessThanOrEqual(16);
  });
});
