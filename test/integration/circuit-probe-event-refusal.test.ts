import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { DestinationStateStore } from '../../services/shared/destinations/destination-state.js';
import { adminRequest } from '../support/admin-client.js';
import { adminDeliveries, readEventRow, waitForEventStatus, type EventStatusRow } from '../support/event-status.js';
import { HttpSink } from '../support/http-sink.js';
import { startRoutedService, type RoutedService } from '../support/routed-service.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';

// The half-open probe tests the destination, so its failure reopens the circuit without using the event's attempt.
// But when the destination answers the probe with a refusal of what this request carries (400, 409, 413, 415, 422),
// it has answered: the failure is the event's. It reopened the circuit all the same, without using the attempt, so an event
// the destination always refuses, chosen as the probe, reopened it on every cooldown and never used up its attempts:
// alone (or first back) it held the destination for good. Now such an answer closes the circuit (the destination is
// up) and uses the event's attempt, as any other failure of the event's does.

const STRIPE_SECRET = 'whsec_circuit_probe_refusal';
const ADMIN_TOKEN = 'circuit-probe-refusal-admin-token';
const JOB_ATTEMPTS = 3;
const BREAKER = { failureThreshold: 2, cooldownMs: 1000 };

let counter = 0;

async function send(routed: RoutedService, type: string): Promise<string> {
  const body = JSON.stringify({ id: `evt_probe_refusal_${process.pid}_${counter++}`, object: 'event', type, data: { object: {} } });
  const response = await postWebhook(routed.app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
  expect(response.status).toBe(202);
  return String(response.json!.id);
}

async function circuitOf(routed: RoutedService, name: string): Promise<string> {
  const { json } = await adminRequest(routed.app.baseUrl, ADMIN_TOKEN, 'GET', '/admin/destinations');
  return (json.items as { name: string; state: { circuit: string } }[]).find((item) => item.name === name)!.state.circuit;
}

describe('a half-open probe the destination refuses for the event (HTTP 4xx)', () => {
  // The destination is down for the first two requests (503: the circuit opens at the second), then up: it refuses
  // `refused.event` with 400 and takes everything else.
  const sink = new HttpSink((request, index) => (index < 2 ? { status: 503 } : request.headers['x-webhook-event-type'] === 'refused.event' ? { status: 400, body: 'bad amount' } : { status: 200 }));
  // Down, then refusing every request as unauthorized: the destination's secret, not the event.
  const unauthorizedSink = new HttpSink((_request, index) => (index < 2 ? { status: 503 } : { status: 401, body: 'bad signature' }));
  let routed: RoutedService | undefined;

  beforeAll(async () => {
    await sink.start();
    await unauthorizedSink.start();
    routed = await startRoutedService(
      {
        destinations: { refusing: { url: sink.url, circuitBreaker: BREAKER }, unauthorized: { url: unauthorizedSink.url, circuitBreaker: BREAKER } },
        routes: [
          { provider: 'stripe', events: ['refused.*', 'taken.*'], to: ['refusing'] },
          { provider: 'stripe', events: ['unauthorized.*'], to: ['unauthorized'] },
        ],
      },
      { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, ADMIN_API_TOKEN: ADMIN_TOKEN, JOB_ATTEMPTS: String(JOB_ATTEMPTS), JOB_BACKOFF_MS: '20' },
    );
  });

  afterAll(async () => {
    await routed?.stop();
    await sink.stop();
    await unauthorizedSink.stop();
  });

  it('closes the circuit and uses the event’s attempt: the event is dead-lettered, the next event delivered at once', async () => {
    const refused = await send(routed!, 'refused.event');
    // Before: PENDING "waiting: refusing circuit reopened by a failed probe (…400…)" after each cooldown, for good.
    const row = await waitFor(
      `event ${refused} to be DEAD_LETTER`,
      async (): Promise<EventStatusRow> => {
        const seen = await readEventRow(routed!.db.pool, refused);
        if (seen?.status !== 'DEAD_LETTER') throw new Error(`${seen?.status} after ${seen?.attempts} attempts: ${seen?.last_error}`);
        return seen;
      },
      { timeoutMs: 30_000 },
    );
    expect(row.attempts).toBe(JOB_ATTEMPTS);
    const attempts = await adminDeliveries(routed!.app.baseUrl, ADMIN_TOKEN, refused);
    expect(attempts.map((attempt) => attempt.statusCode)).toEqual([503, 503, 400]);
    expect(sink.requestsFor(refused)).toHaveLength(JOB_ATTEMPTS);
    expect(await circuitOf(routed!, 'refusing')).toBe('closed');
    const metrics = await fetch(`${routed!.app.baseUrl}/metrics`).then((response) => response.text());
    expect(metrics).toMatch(/webhook_destination_circuit_transitions_total\{destination="refusing",to="closed"\} 1\b/);
    expect(metrics).toMatch(/webhook_destination_circuit_transitions_total\{destination="refusing",to="reopened"\} 0\b/);

    const taken = await send(routed!, 'taken.event');
    expect(await waitForEventStatus(routed!.db.pool, taken, 'COMPLETED', 30_000)).toMatchObject({ attempts: 1, last_error: null });
  });

  it('a probe answered 401 (the destination’s secret or URL) still reopens the circuit and uses no attempt', async () => {
    const held = await send(routed!, 'unauthorized.event');
    const row = await waitFor(
      `event ${held} held by a reopened circuit`,
      async () => {
        const seen = await readEventRow(routed!.db.pool, held);
        return seen?.last_error?.includes('circuit reopened by a failed probe (HTTP 401') ? seen : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(row).toMatchObject({ status: 'PENDING', attempts: 2 });
    expect(unauthorizedSink.requests.length).toBeGreaterThanOrEqual(3);
    expect(await circuitOf(routed!, 'unauthorized')).not.toBe('closed');
  });
});

describe('a half-open probe whose transform fails for its event (nothing sent)', () => {
  // Open for 10 minutes: an event waiting behind the circuit comes back by itself only after that. The circuit is
  // opened through the worker's own store, and its cooldown ended by setting its end: what is tested is the probe.
  const LONG_BREAKER = { failureThreshold: 1, cooldownMs: 600_000 };
  const sink = new HttpSink();
  let routed: RoutedService | undefined;
  let redis: Redis;
  let state: DestinationStateStore;

  beforeAll(async () => {
    await sink.start();
    routed = await startRoutedService(
      {
        destinations: { shaped: { url: sink.url, circuitBreaker: LONG_BREAKER } },
        routes: [
          { provider: 'stripe', events: ['plain.*'], to: ['shaped'] },
          // A number plus a string: fails for every event of this type, before anything is sent.
          { provider: 'stripe', events: ['broken.*'], transform: 'data.object.amount + data.object.currency', to: ['shaped'] },
        ],
      },
      // The broken event retries only after the test: it cannot take the probe back from the waiting event.
      { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, ADMIN_API_TOKEN: ADMIN_TOKEN, JOB_ATTEMPTS: String(JOB_ATTEMPTS), JOB_BACKOFF_MS: '600000' },
    );
    redis = new Redis(routed.ns.redisUrl, { maxRetriesPerRequest: 1 });
    state = new DestinationStateStore(redis, `${routed.ns.prefix}:webhook-events`);
  });

  afterAll(async () => {
    redis?.disconnect();
    await routed?.stop();
    await sink.stop();
  });

  it('decides nothing, and the event waiting longest is sent for to probe at once (it closes the circuit)', async () => {
    expect(await state.record('shaped', 'failure', LONG_BREAKER)).toBe('opened');
    const held = await send(routed!, 'plain.event');
    await waitFor(`event ${held} waiting for the open circuit`, async () => {
      const seen = await readEventRow(routed!.db.pool, held);
      return seen?.status === 'PENDING' && seen.last_error?.includes('shaped circuit open') ? seen : undefined;
    });
    await redis.hset(state.circuitKey('shaped'), 'openUntil', 0);

    const broken = await send(routed!, 'broken.event');
    const row = await waitFor(
      `the probe ${broken}'s failed attempt`,
      async () => {
        const seen = await readEventRow(routed!.db.pool, broken);
        return seen?.status === 'FAILED' ? seen : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(row).toMatchObject({ attempts: 1 });
    expect(row.last_error).toMatch(/transform/i);
    expect(sink.requestsFor(broken)).toHaveLength(0);
    // Before: the probe was freed, but nothing probed until the held event's own time came, 10 minutes on.
    expect(await waitForEventStatus(routed!.db.pool, held, 'COMPLETED', 30_000)).toMatchObject({ attempts: 1, last_error: null });
    expect(sink.requestsFor(held)).toHaveLength(1);
    expect(await circuitOf(routed!, 'shaped')).toBe('closed');
  });
});
