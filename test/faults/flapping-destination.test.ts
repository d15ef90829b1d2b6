import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makeEvents } from '../support/provider-simulator.js';
import type { ServiceProcess } from '../support/service-process.js';
import { FaultStack, reportFigures, settle } from './support/fault-stack.js';
import { RecordingDestination } from './support/recording-destination.js';

const JOB_ATTEMPTS = 4;
const SLOW_TIMEOUT_MS = 300;
// Fails every other request it gets for an event (the 1st, 3rd, …), so each event needs a retry.
const flappy = new RecordingDestination('flappy', (_id, nth) => ({ status: nth % 2 === 1 ? 500 : 200 }));
// For every third event, the first request is answered (200) only after the destination's timeout: the worker
// counts a failed attempt and retries, while the destination did take it (a receiver-side duplicate, by design).
let slowCounter = 0;
const slow = new RecordingDestination('slow', (_id, nth) => ({ status: 200, delayMs: nth === 1 && slowCounter++ % 3 === 0 ? SLOW_TIMEOUT_MS * 3 : 0 }));
// Down for good: events routed here only must end DEAD_LETTER with every attempt recorded.
const down = new RecordingDestination('down', () => ({ status: 503 }));
let stack: FaultStack;
let ingress: ServiceProcess;

const isAudit = (type: string) => type.startsWith('audit.');

beforeAll(async () => {
  stack = await FaultStack.create({
    destinations: { flappy: { destination: flappy }, slow: { destination: slow, timeoutMs: SLOW_TIMEOUT_MS }, down: { destination: down } },
    routes: [
      { provider: 'stripe', events: ['invoice.*'], to: ['flappy', 'slow'] },
      { provider: 'stripe', events: ['audit.*'], to: ['down'] },
    ],
    env: { JOB_ATTEMPTS: String(JOB_ATTEMPTS) },
  });
  [ingress] = await Promise.all([stack.start('ingress'), stack.start('worker')]);
});

afterAll(async () => {
  await stack?.teardown();
});

describe('destinations that flap, are slow past their timeout, or are down', () => {
  it('retries every event to COMPLETED or DEAD_LETTER with its attempts recorded; nothing stays PROCESSING', async () => {
    const startedAt = Date.now();
    const events = makeEvents('flap', 200, (index) => (index % 5 === 4 ? 'audit.logged' : 'invoice.paid'));
    const provider = stack.provider(() => [ingress.baseUrl]);
    const outcomes = await provider.run(events, { ratePerSecond: 50, concurrency: 16 });
    await provider.close();

    const figureInputs = {
      scenario: 'flapping / slow / down destinations',
      stack,
      events,
      outcomes,
      provider,
      startedAt,
      expectedDestinations: (type: string) => (isAudit(type) ? [down] : [flappy, slow]),
      deadLetterExpected: isAudit,
    };
    const figures = await settle(figureInputs);
    reportFigures(figures);
    if (figures.lost > 0 || figures.unfinished > 0) console.log(await stack.diagnose());
    expect(stack.unhandled()).toEqual([]);

    const audits = events.filter((event) => isAudit(event.type)).length;
    expect(figures).toMatchObject({ sent: events.length, accepted: events.length, stored: events.length, lost: 0, unfinished: 0 });
    expect(figures.delivered).toBe(events.length - audits);
    expect(figures.deadLettered).toBe(audits);

    const { rows } = await stack.db.pool.query<{ event_type: string; status: string; attempts: number; last_error: string | null; recorded: number; failed: number }>(
      `SELECT e.event_type, e.status, e.attempts, e.last_error,
              (SELECT count(*)::int FROM delivery_attempts d WHERE d.event_id = e.id) AS recorded,
              (SELECT count(*)::int FROM delivery_attempts d WHERE d.event_id = e.id AND NOT d.succeeded) AS failed
         FROM webhook_events e`,
    );
    expect(rows.filter((row) => !['COMPLETED', 'DEAD_LETTER'].includes(row.status))).toEqual([]);
    for (const row of rows.filter((r) => isAudit(r.event_type))) {
      // Every attempt went to the dead destination and is on record, with the reason.
      expect(row).toMatchObject({ status: 'DEAD_LETTER', attempts: JOB_ATTEMPTS, recorded: JOB_ATTEMPTS, failed: JOB_ATTEMPTS, last_error: expect.stringContaining('down: HTTP 503') });
    }
    for (const row of rows.filter((r) => !isAudit(r.event_type))) {
      // The first attempt failed at the flapping destination, and that failure is on record.
      expect(row.status).toBe('COMPLETED');
      expect(row.attempts).toBeGreaterThanOrEqual(2);
      expect(row.failed).toBeGreaterThanOrEqual(1);
    }
    // The flapping destination took each event exactly once: a destination that took an event is not sent it again.
    const invoiceIds = (await stack.db.pool.query<{ id: string }>("SELECT id FROM webhook_events WHERE event_type = 'invoice.paid'")).rows.map((r) => r.id);
    for (const id of invoiceIds) expect(flappy.deliveries(id)).toBe(1);
  });
});
