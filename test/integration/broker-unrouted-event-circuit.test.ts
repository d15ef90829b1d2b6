import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import { adminDeliveries, readEventRow, waitForEventStatus, type EventStatusRow } from '../support/event-status.js';
import { startRoutedService, type RoutedService } from '../support/routed-service.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';
import { AMQP_URL, JetStreamTap, NATS_URL, RabbitTap, uniqueSuffix } from './support/broker-taps.js';

// A routing key no queue is bound for (RabbitMQ returns the `mandatory` message) and a subject no stream captures
// (NATS: no responders) were `network_error`, counted against the destination's circuit. With a routing key or
// subject the event fills in (`{provider}.{eventType}`), that says only that nobody takes this event's type: a
// topic exchange's consumers bind the types they want, a stream may capture some subjects and not others. One
// unbound type's retries opened the circuit (here at the second attempt) and every other type to the destination
// waited for the cooldown; the unbound event, once the half-open probe, reopened it on each retry without using its
// attempts. Now such a refusal is the event's (`internal_error`): retried, dead-lettered, the circuit left closed.
// With a fixed routing key or subject every event goes to the same place, so nothing bound there is the
// destination's problem and still counts against its circuit.

const STRIPE_SECRET = 'whsec_broker_unrouted_stripe';
const ADMIN_TOKEN = 'broker-unrouted-admin-token';
const JOB_ATTEMPTS = 3;
// Opens at an event's second failed attempt, and would stay open past the test's end.
const BREAKER = { failureThreshold: 2, cooldownMs: 600_000 };

const sfx = uniqueSuffix();
const names = {
  exchange: `unrouted-${sfx}`,
  queue: `unrouted-${sfx}-bound`,
  /** Nothing is bound to it: every message the fixed routing key sends there is returned. */
  emptyExchange: `unrouted-empty-${sfx}`,
  stream: `UNROUTED_${sfx}`,
  prefix: `unrouted-${sfx}`,
};
let counter = 0;

let routed: RoutedService | undefined;
let rabbit: RabbitTap;
let jetstream: JetStreamTap;

async function send(type: string): Promise<string> {
  const body = JSON.stringify({ id: `evt_unrouted_${sfx}_${counter++}`, object: 'event', type, data: { object: {} } });
  const response = await postWebhook(routed!.app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
  expect(response.status).toBe(202);
  return String(response.json!.id);
}

async function circuitOf(name: string): Promise<string> {
  const { json } = await adminRequest(routed!.app.baseUrl, ADMIN_TOKEN, 'GET', '/admin/destinations');
  return (json.items as { name: string; state: { circuit: string } }[]).find((item) => item.name === name)!.state.circuit;
}

async function attemptsCounted(destination: string, result: string): Promise<number> {
  const text = await fetch(`${routed!.app.baseUrl}/metrics`).then((response) => response.text());
  return Number(new RegExp(`^webhook_delivery_attempts_total\\{destination="${destination}",result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

/**
 * The event nobody takes is dead-lettered after its JOB_ATTEMPTS, each failing with `reason`, as the event's own
 * failure; the circuit stays closed, and an event of a type that is bound, sent after it, is delivered at once.
 */
async function expectEventsOwnFailure(destination: string, unboundType: string, boundType: string, reason: RegExp): Promise<void> {
  const unbound = await send(unboundType);
  // Before: PENDING "waiting: <destination> circuit open" after its second attempt, for the 10-minute cooldown.
  const row = await waitFor(
    `event ${unbound} to be DEAD_LETTER`,
    async (): Promise<EventStatusRow> => {
      const seen = await readEventRow(routed!.db.pool, unbound);
      if (seen?.status !== 'DEAD_LETTER') throw new Error(`${seen?.status} after ${seen?.attempts} attempts: ${seen?.last_error}`);
      return seen;
    },
    { timeoutMs: 30_000 },
  );
  expect(row.attempts).toBe(JOB_ATTEMPTS);
  expect(row.last_error).toMatch(reason);
  const attempts = await adminDeliveries(routed!.app.baseUrl, ADMIN_TOKEN, unbound);
  expect(attempts.map((attempt) => [attempt.destination, attempt.succeeded])).toEqual(Array.from({ length: JOB_ATTEMPTS }, () => [destination, false]));
  expect(await circuitOf(destination)).toBe('closed');
  expect(await attemptsCounted(destination, 'internal_error')).toBe(JOB_ATTEMPTS);
  expect(await attemptsCounted(destination, 'network_error')).toBe(0);

  const bound = await send(boundType);
  expect(await waitForEventStatus(routed!.db.pool, bound, 'COMPLETED', 30_000)).toMatchObject({ attempts: 1, last_error: null });
}

/** With a fixed address the failure is the destination's: its circuit opens and the event waits, its attempts kept. */
async function expectDestinationsFailure(destination: string, type: string, reason: string): Promise<void> {
  const held = await send(type);
  const row = await waitFor(
    `event ${held} waiting for ${destination}'s open circuit`,
    async () => {
      const seen = await readEventRow(routed!.db.pool, held);
      return seen?.status === 'PENDING' && seen.last_error?.includes(`${destination} circuit open`) ? seen : undefined;
    },
    { timeoutMs: 30_000 },
  );
  expect(row.attempts).toBe(BREAKER.failureThreshold);
  expect(await circuitOf(destination)).toBe('open');
  const attempts = await adminDeliveries(routed!.app.baseUrl, ADMIN_TOKEN, held);
  expect(attempts.every((attempt) => attempt.error?.includes(reason))).toBe(true);
  expect(await attemptsCounted(destination, 'network_error')).toBe(BREAKER.failureThreshold);
}

beforeAll(async () => {
  [rabbit, jetstream] = await Promise.all([RabbitTap.open(), JetStreamTap.open()]);
  await rabbit.bindQueue(names.queue, names.exchange, 'stripe.amqp.bound');
  rabbit.forget(names.emptyExchange);
  await jetstream.createStream(names.stream, [`${names.prefix}.bound.>`]);
  routed = await startRoutedService(
    {
      destinations: {
        bus: { type: 'amqp', url: AMQP_URL, exchange: names.exchange, routingKey: '{provider}.{eventType}', circuitBreaker: BREAKER },
        fixedBus: { type: 'amqp', url: AMQP_URL, exchange: names.emptyExchange, routingKey: 'all.webhooks', circuitBreaker: BREAKER },
        stream: { type: 'nats', url: NATS_URL, subject: `${names.prefix}.{eventType}`, circuitBreaker: BREAKER },
        fixedStream: { type: 'nats', url: NATS_URL, subject: `${names.prefix}.fixed.all`, circuitBreaker: BREAKER },
      },
      routes: [
        { provider: 'stripe', events: ['amqp.*'], to: ['bus'] },
        { provider: 'stripe', events: ['fixed.amqp'], to: ['fixedBus'] },
        { provider: 'stripe', events: ['bound.*', 'unbound.*'], to: ['stream'] },
        { provider: 'stripe', events: ['fixed.nats'], to: ['fixedStream'] },
      ],
    },
    { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, ADMIN_API_TOKEN: ADMIN_TOKEN, JOB_ATTEMPTS: String(JOB_ATTEMPTS), JOB_BACKOFF_MS: '20' },
  );
});

afterAll(async () => {
  await routed?.stop();
  await rabbit?.close();
  await jetstream?.close();
});

describe('RabbitMQ: a routing key no queue is bound for', () => {
  it('filled in from the event: the event’s failure, dead-lettered; the circuit stays closed and a bound type is delivered', async () => {
    await expectEventsOwnFailure('bus', 'amqp.unbound', 'amqp.bound', /unroutable: no queue is bound to exchange "[^"]+" for routing key "stripe\.amqp\.unbound"/);
    const delivered = await waitFor('the bound type in its queue', async () => {
      const found = await rabbit.messages(names.queue);
      return found.length > 0 ? found : undefined;
    });
    expect(delivered).toHaveLength(1);
  });

  it('fixed: the destination’s failure, counted against its circuit', async () => {
    await expectDestinationsFailure('fixedBus', 'fixed.amqp', 'unroutable: no queue is bound');
  });
});

describe('NATS: a subject no stream captures', () => {
  it('filled in from the event: the event’s failure, dead-lettered; the circuit stays closed and a captured type is delivered', async () => {
    await expectEventsOwnFailure('stream', 'unbound.thing', 'bound.thing', /no JetStream stream captures subject "[^"]+\.unbound\.thing"/);
    expect(await jetstream.messages(names.stream)).toHaveLength(1);
  });

  it('fixed: the destination’s failure, counted against its circuit', async () => {
    await expectDestinationsFailure('fixedStream', 'fixed.nats', 'no JetStream stream captures subject');
  });
});
