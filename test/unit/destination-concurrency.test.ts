import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { ConcurrencyLimit } from '../../services/worker/delivery/concurrency-limit.js';
import { DestinationSlots } from '../../services/worker/delivery/destination-slots.js';
import { HttpForwarder, type ForwardedEvent } from '../../services/worker/delivery/http-forwarder.js';
import { WorkerStoppingError } from '../../services/worker/delivery/worker-stopping-error.js';
import { registry } from '../../services/shared/metrics/metrics.js';
import type { Destination } from '../../services/worker/routing/route-table.js';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A destination that counts the requests open on it at once (from arrival to the end of the answer) and answers
 * each after `delayMs`, or when the test calls `releaseAll()` when `delayMs` is undefined.
 */
class CountingDestination {
  open = 0;
  peak = 0;
  received = 0;
  private readonly held: ServerResponse[] = [];
  private readonly server: Server;

  constructor(private readonly delayMs?: number) {
    this.server = createServer((request: IncomingMessage, response: ServerResponse) => {
      request.resume();
      request.on('end', () => {
        this.received++;
        this.open++;
        this.peak = Math.max(this.peak, this.open);
        response.on('close', () => this.open--);
        if (this.delayMs === undefined) this.held.push(response);
        else setTimeout(() => response.end('ok'), this.delayMs);
      });
    });
  }

  get holding(): number {
    return this.held.length;
  }

  releaseAll(): void {
    for (const response of this.held.splice(0)) response.end('ok');
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  async stop(): Promise<void> {
    this.releaseAll();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const event = (n: number): ForwardedEvent => ({ id: `evt-${n}`, provider: 'stripe', eventType: 'invoice.paid', rawBody: Buffer.from('{}'), contentType: 'application/json' });

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});
afterAll(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function destinationServer(delayMs?: number): Promise<CountingDestination> {
  const server = await new CountingDestination(delayMs).start();
  cleanups.push(() => server.stop());
  return server;
}

function forwarder(defaultMaxConcurrency: number): HttpForwarder {
  const created = new HttpForwarder({ defaultTimeoutMs: 10_000, defaultMaxConcurrency });
  cleanups.push(() => created.close());
  return created;
}

async function metricValue(name: string, destination: string): Promise<number | undefined> {
  const metric = await registry.getSingleMetric(name)?.get();
  return metric?.values.find((value) => value.labels.destination === destination)?.value;
}

describe('ConcurrencyLimit', () => {
  it('lets at most `limit` hold a slot, hands freed slots out first come first served, and releases once', async () => {
    const limit = new ConcurrencyLimit(2);
    const order: number[] = [];
    const first = await limit.acquire();
    const second = await limit.acquire();
    const waiting = [3, 4, 5].map((n) => limit.acquire().then((release) => (order.push(n), release)));
    expect({ active: limit.active, waiting: limit.waiting }).toEqual({ active: 2, waiting: 3 });

    first();
    first(); // a second call gives nothing back twice
    const third = await waiting[0]!;
    expect({ active: limit.active, waiting: limit.waiting }).toEqual({ active: 2, waiting: 2 });
    second();
    third();
    const [fourth, fifth] = await Promise.all([waiting[1]!, waiting[2]!]);
    expect(order).toEqual([3, 4, 5]);
    fourth();
    fifth();
    expect({ active: limit.active, waiting: limit.waiting }).toEqual({ active: 0, waiting: 0 });
  });

  it('run() gives the slot back when the task throws', async () => {
    const limit = new ConcurrencyLimit(1);
    await expect(limit.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(limit.active).toBe(0);
    await expect(limit.run(async () => 'ok')).resolves.toBe('ok');
  });

  it('refuse() rejects the callers waiting and every later one; slots held stay held until released', async () => {
    const limit = new ConcurrencyLimit(1);
    const held = await limit.acquire();
    const waiting = limit.acquire();
    const stopping = new Error('stopping');
    limit.refuse(stopping);
    await expect(waiting).rejects.toBe(stopping);
    expect(limit.waiting).toBe(0);
    expect(limit.active).toBe(1);
    held();
    expect(limit.active).toBe(0);
    // A free slot is not handed out either.
    await expect(limit.acquire()).rejects.toBe(stopping);
  });

  it('refuses a limit that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new ConcurrencyLimit(bad)).toThrow(RangeError);
  });
});

describe('DestinationSlots (the broker publishers\' slots)', () => {
  it('runs afterSlotWait only for a delivery that waited, before beforeSend', async () => {
    const steps: string[] = [];
    const slots = new DestinationSlots(1, async () => void steps.push('beforeSend'));
    const destination = { name: 'broker', url: 'amqp://x' } as unknown as Destination;
    let finishFirst!: () => void;
    const first = slots.run(destination, () => new Promise<string>((resolve) => (finishFirst = () => resolve('first'))), {
      afterSlotWait: async () => void steps.push('first afterSlotWait'),
    });
    const second = slots.run(destination, async () => (steps.push('second sent'), 'second'), {
      afterSlotWait: async () => void steps.push('second afterSlotWait'),
    });
    await waitFor('the first holding the slot', async () => steps.length === 1);
    finishFirst();
    expect(await Promise.all([first, second])).toEqual(['first', 'second']);
    expect(steps).toEqual(['beforeSend', 'second afterSlotWait', 'beforeSend', 'second sent']);
  });

  it('a throwing afterSlotWait sends nothing and gives the slot back', async () => {
    const slots = new DestinationSlots(1);
    const destination = { name: 'broker2', url: 'nats://x' } as unknown as Destination;
    let finishFirst!: () => void;
    const first = slots.run(destination, () => new Promise<void>((resolve) => (finishFirst = resolve)));
    let sent = false;
    const second = slots.run(destination, async () => void (sent = true), { afterSlotWait: async () => Promise.reject(new Error('paused meanwhile')) });
    await waitFor('the first holding the slot', async () => finishFirst !== undefined);
    finishFirst();
    await first;
    await expect(second).rejects.toThrow('paused meanwhile');
    expect(sent).toBe(false);
    expect(await slots.run(destination, async () => 'free again')).toBe('free again');
  });

  it('runs slotHeld for every delivery, waited or not, after afterSlotWait and before beforeSend; a throwing one sends nothing', async () => {
    const steps: string[] = [];
    const slots = new DestinationSlots(1, async () => void steps.push('beforeSend'));
    const destination = { name: 'broker3', url: 'amqp://x' } as unknown as Destination;
    let finishFirst!: () => void;
    const first = slots.run(destination, () => new Promise<string>((resolve) => (finishFirst = () => resolve('first'))), {
      slotHeld: async () => void steps.push('first slotHeld'),
    });
    const second = slots.run(destination, async () => (steps.push('second sent'), 'second'), {
      afterSlotWait: async () => void steps.push('second afterSlotWait'),
      slotHeld: async () => void steps.push('second slotHeld'),
    });
    await waitFor('the first holding the slot', async () => steps.length === 2);
    finishFirst();
    expect(await Promise.all([first, second])).toEqual(['first', 'second']);
    expect(steps).toEqual(['first slotHeld', 'beforeSend', 'second afterSlotWait', 'second slotHeld', 'beforeSend', 'second sent']);

    let sent = false;
    await expect(slots.run(destination, async () => void (sent = true), { slotHeld: async () => Promise.reject(new Error('claim lost')) })).rejects.toThrow('claim lost');
    expect(sent).toBe(false);
    expect(await slots.run(destination, async () => 'free again')).toBe('free again');
  });

  it('stopStarting(): a publish waiting for a slot, or asked for later, throws WorkerStoppingError and runs nothing; the one holding a slot finishes', async () => {
    const slots = new DestinationSlots(1);
    const destination = { name: 'broker3', url: 'amqp://x' } as unknown as Destination;
    const later = { name: 'broker4', url: 'nats://x' } as unknown as Destination;
    let finishFirst!: () => void;
    const first = slots.run(destination, () => new Promise<string>((resolve) => (finishFirst = () => resolve('first'))));
    let sent = 0;
    const second = slots.run(destination, async () => void sent++);
    await waitFor('the first holding the slot', async () => finishFirst !== undefined);
    slots.stopStarting();
    await expect(second).rejects.toBeInstanceOf(WorkerStoppingError);
    await expect(slots.run(destination, async () => void sent++)).rejects.toThrow('broker3: not started, the worker is stopping');
    await expect(slots.run(later, async () => void sent++)).rejects.toBeInstanceOf(WorkerStoppingError);
    finishFirst();
    expect(await first).toBe('first');
    expect(sent).toBe(0);
  });
});

describe('HttpForwarder: requests in flight per destination', () => {
  it('a destination with maxConcurrency 2 never has more than 2 requests open, and a long wait for a slot is not a timeout', async () => {
    // Each answer takes at least 800 ms, the timeout is 2500 ms: the 10th forward waits at least 4 × 800 ms for its
    // slot, past its timeout, and must still succeed, since its timeout only starts once it holds a slot (each answer
    // has 1.7 s to spare before its own timeout, however loaded the machine).
    const ANSWER_MS = 800;
    const server = await destinationServer(ANSWER_MS);
    const destination: Destination = { name: 'narrow', url: server.url, timeoutMs: 2500, maxConcurrency: 2 };
    const http = forwarder(128);
    const calledAt = performance.now();
    const results = await Promise.all(Array.from({ length: 10 }, (_, n) => http.forward(event(n), destination).then((result) => ({ ...result, totalMs: performance.now() - calledAt }))));

    expect(results.map((result) => result.result)).toEqual(Array(10).fill('success'));
    expect(server.received).toBe(10);
    expect(server.peak).toBe(2);
    // durationMs is the destination's time, not the wait: what a forward took beyond its durationMs is at least its
    // wait for a slot, and with 2 slots each held at least ANSWER_MS, the i-th slot handed out came at least
    // floor(i / 2) answers after the first (a few ms allowed per answer for timers firing early and rounding).
    // Counting the wait in durationMs, that excess is about 0 for every forward.
    const waited = results.map((result) => result.totalMs - result.durationMs).sort((a, b) => a - b);
    expect(waited.map((ms, i) => ({ i, waitedLongEnough: ms >= Math.floor(i / 2) * (ANSWER_MS - 5) - 1 }))).toEqual(waited.map((_, i) => ({ i, waitedLongEnough: true })));
  });

  it('without maxConcurrency a destination gets the default (the worker concurrency) at once', async () => {
    const server = await destinationServer();
    const destination: Destination = { name: 'wide', url: server.url };
    const http = forwarder(5);
    const pending = Array.from({ length: 8 }, (_, n) => http.forward(event(n), destination));
    await waitFor('5 requests open at the destination', () => server.holding === 5);
    expect(await metricValue('webhook_destination_requests_in_flight', 'wide')).toBe(5);
    expect(await metricValue('webhook_destination_requests_waiting', 'wide')).toBe(3);
    server.releaseAll();
    await waitFor('the 3 that waited to be sent', () => server.holding === 3);
    server.releaseAll();
    expect((await Promise.all(pending)).every((result) => result.succeeded)).toBe(true);
    expect(server.peak).toBe(5);
    expect(await metricValue('webhook_destination_requests_in_flight', 'wide')).toBe(0);
    expect(await metricValue('webhook_destination_requests_waiting', 'wide')).toBe(0);
  });

  it("waiting for one destination's slot does not hold up another destination", async () => {
    const busy = await destinationServer(); // holds every answer until released
    const other = await destinationServer(0);
    const http = forwarder(128);
    const busyDestination: Destination = { name: 'busy', url: busy.url, maxConcurrency: 1 };
    const forwardsToBusy = [1, 2, 3].map((n) => http.forward(event(n), busyDestination));
    await waitFor('the busy destination to hold its one slot', () => busy.holding === 1);

    const result = await http.forward(event(9), { name: 'other', url: other.url, maxConcurrency: 1 });
    expect(result).toMatchObject({ destination: 'other', succeeded: true, statusCode: 200 });
    expect(busy.received).toBe(1); // the others still wait for the busy destination's slot

    busy.releaseAll();
    await waitFor('the second busy forward to be sent', () => busy.holding === 1);
    busy.releaseAll();
    await waitFor('the third busy forward to be sent', () => busy.holding === 1);
    busy.releaseAll();
    expect((await Promise.all(forwardsToBusy)).map((r) => r.result)).toEqual(['success', 'success', 'success']);
    expect(busy.peak).toBe(1);
  });

  it('stopStartingDeliveries(): forwards waiting for a slot throw WorkerStoppingError unsent, the one in flight finishes, later ones are refused', async () => {
    const server = await destinationServer(); // holds every answer until released
    const http = forwarder(128);
    const destination: Destination = { name: 'draining', url: server.url, maxConcurrency: 1 };
    const inFlight = http.forward(event(1), destination);
    const waiting = [2, 3, 4].map((n) => http.forward(event(n), destination));
    await waitFor('the first request open at the destination', () => server.holding === 1);
    expect(await metricValue('webhook_destination_requests_waiting', 'draining')).toBe(3);

    http.stopStartingDeliveries();
    for (const forward of waiting) await expect(forward).rejects.toBeInstanceOf(WorkerStoppingError);
    expect(await metricValue('webhook_destination_requests_waiting', 'draining')).toBe(0);
    await expect(http.forward(event(5), { name: 'new-lane', url: server.url })).rejects.toBeInstanceOf(WorkerStoppingError);

    server.releaseAll();
    expect(await inFlight).toMatchObject({ succeeded: true, statusCode: 200 });
    expect(server.received).toBe(1);
  });

  it('a forward that throws (a secret the signer cannot use) gives its slot back', async () => {
    const server = await destinationServer(0);
    const http = forwarder(128);
    const broken: Destination = { name: 'single', url: server.url, maxConcurrency: 1, secret: 'not base64!' };
    await expect(http.forward(event(1), broken)).rejects.toThrow(/Standard Webhooks secret/);
    await expect(http.forward(event(2), broken)).rejects.toThrow(/Standard Webhooks secret/);
    // The one slot is free again: a good forward to the same destination goes through.
    const result = await http.forward(event(3), { ...broken, secret: undefined });
    expect(result.succeeded).toBe(true);
    expect(server.received).toBe(1);
  });
});

describe('ROUTES_FILE maxConcurrency', () => {
  const withConcurrency = (value: unknown) =>
    parseRoutes(`destinations:\n  billing:\n    url: http://billing.internal/hooks\n    maxConcurrency: ${JSON.stringify(value)}\nroutes: []\n`, 'ROUTES_FILE /etc/routes.yaml');

  it('accepts a positive integer up to 1000', () => {
    expect(withConcurrency(1).destinations.billing!.maxConcurrency).toBe(1);
    expect(withConcurrency(1000).destinations.billing!.maxConcurrency).toBe(1000);
    expect(parseRoutes('destinations: { a: { url: "http://a" } }').destinations.a!.maxConcurrency).toBeUndefined();
  });

  it('refuses anything else, naming the file and the destination', () => {
    for (const bad of [0, -3, 1.5, 1001, '8']) {
      expect(() => withConcurrency(bad)).toThrow(/^ROUTES_FILE \/etc\/routes\.yaml: destination "billing": maxConcurrency: /);
    }
  });
});
