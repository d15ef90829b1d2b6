import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as delay } from 'node:timers/promises';
import { makeEvents } from '../support/provider-simulator.js';
import type { ServiceProcess } from '../support/service-process.js';
import { waitFor } from '../support/wait-for.js';
import { FaultStack, reportFigures, settle } from './support/fault-stack.js';
import { RecordingDestination } from './support/recording-destination.js';

const SLOW_MS = 1200;
const SHUTDOWN_TIMEOUT_MS = 8000;
// A slow destination: every delivery takes SLOW_MS (well within its timeout).
const destination = new RecordingDestination('archive', () => ({ status: 200, delayMs: SLOW_MS }));
let stack: FaultStack;
let ingress: ServiceProcess;
let worker: ServiceProcess;

beforeAll(async () => {
  stack = await FaultStack.create({
    destinations: { archive: { destination, timeoutMs: 5000 } },
    routes: [{ provider: 'stripe', to: ['archive'] }],
    env: { SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS), WORKER_CONCURRENCY: '16' },
  });
  [ingress, worker] = await Promise.all([stack.start('ingress'), stack.start('worker')]);
});

afterAll(async () => {
  await stack?.teardown();
});

async function statusOf(eventIds: string[]): Promise<string[]> {
  const { rows } = await stack.db.pool.query<{ status: string }>('SELECT status FROM webhook_events WHERE id = ANY($1::uuid[])', [eventIds]);
  return rows.map((row) => row.status);
}

describe('SIGTERM on a worker with slow deliveries in flight', () => {
  it('lets them finish (COMPLETED, delivered once), exits 0 within the timeout, and the next worker does the rest', async () => {
    const startedAt = Date.now();
    const events = makeEvents('worker_term', 80);
    const provider = stack.provider(() => [ingress.baseUrl]);
    const term = { inFlight: [] as string[], exit: { code: null as number | null, signal: null as string | null }, drainMs: 0, statusesAtExit: [] as string[] };
    const [outcomes] = await Promise.all([
      provider.run(events, { ratePerSecond: 40, concurrency: 16 }),
      (async () => {
        await delay(800);
        await waitFor('12 slow deliveries in flight', () => destination.inFlight.size >= 12, { timeoutMs: 10_000, intervalMs: 5 });
        term.inFlight = [...destination.inFlight];
        const signalledAt = Date.now();
        worker.signal('SIGTERM');
        term.exit = await worker.exited(SHUTDOWN_TIMEOUT_MS + 5000);
        term.drainMs = Date.now() - signalledAt;
        // What the drained worker left behind, before any other worker runs.
        term.statusesAtExit = await statusOf(term.inFlight);
        worker = await stack.start('worker');
      })(),
    ]);
    await provider.close();

    const figures = await settle({ scenario: 'worker SIGTERM, slow deliveries in flight', stack, events, outcomes, provider, startedAt });
    reportFigures(figures);
    console.log(`worker drain: ${term.drainMs} ms with ${term.inFlight.length} deliveries in flight, exit ${JSON.stringify(term.exit)}`);
    if (figures.lost > 0 || figures.unfinished > 0) console.log(await stack.diagnose());
    expect(stack.unhandled()).toEqual([]);

    expect(term.exit).toEqual({ code: 0, signal: null });
    expect(term.drainMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    // The deliveries in flight at the signal finished and were recorded by the worker that started them.
    expect(term.statusesAtExit).toEqual(term.inFlight.map(() => 'COMPLETED'));
    for (const id of term.inFlight) expect(destination.deliveries(id)).toBe(1);
    expect(figures).toMatchObject({ answered5xxOther: 0, hangs: 0, acceptedWithoutRow: 0 });
    expect(figures).toMatchObject({ sent: events.length, accepted: events.length, stored: events.length, delivered: events.length, lost: 0, unfinished: 0 });
    expect(figures.deliveredTwice).toBe(0);
  });
});
