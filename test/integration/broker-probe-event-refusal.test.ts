import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { DestinationStateStore } from '../../services/shared/destinations/destination-state.js';
import { adminRequest } from '../support/admin-client.js';
import { adminDeliveries, readEventRow, waitForEventStatus } from '../support/event-status.js';
import { startRoutedService, type RoutedService } from '../support/routed-service.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';
import { AMQP_URL, JetStreamTap, NATS_URL, RabbitTap, uniqueSuffix } from './support/broker-taps.js';

// The half-open probe of a broker destination that failed for its event's own reason (an `internal_error`: RabbitMQ
// returning it for an event-filled routing key, NATS finding no stream for an event-filled subject, a message over
// `maxMessageBytes`) freed the probe and left the circuit half-open. Nothing woke the events waiting behind it: they
// came back at their planned time, the cooldown and a spread of up to 5 minutes (here the 10-minute cooldown), though
// the broker was up. Now a refusal the broker sent back closes the circuit (it answered, as an HTTP 4xx does) and the
// waiting events are sent at once; a refusal made before anything was sent decides nothing, and the longest-waiting
// event is sent for to probe instead. Either way the failing event's attempt counts (retried after its backoff).
//
// The circuit is opened through the worker's own store (a failure at the threshold) rather than by a broker outage:
// what is tested is what the probe's outcome does, on real brokers; the cooldown is then ended by setting its end.

const STRIPE_SECRET = 'whsec_broker_probe_refusal';
const ADMIN_TOKEN = 'broker-probe-refusal-admin-token';
// Open for 10 minutes: a waiting event comes back by itself only after that.
const BREAKER = { failureThreshold: 1, cooldownMs: 600_000 };
// The probe's event retries only after the test: it cannot take the probe back from the waiting event.
const ENV = { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, ADMIN_API_TOKEN: ADMIN_TOKEN, JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '600000' };
const QUEUE = 'webhook-events';

const sfx = uniqueSuffix();
const names = { exchange: `probe-refusal-${sfx}`, queue: `probe-refusal-${sfx}-bound`, stream: `PROBE_REFUSAL_${sfx}`, prefix: `probe-refusal-${sfx}` };
let counter = 0;

let routed: RoutedService | undefined;
let rabbit: RabbitTap;
let jetstream: JetStreamTap;
let redis: Redis;
let state: DestinationStateStore;

async function send(type: string, padBytes = 0): Promise<string> {
  const body = JSON.stringify({ id: `evt_probe_refusal_${sfx}_${counter++}`, object: 'event', type, data: { object: { pad: 'a'.repeat(padBytes) } } });
  const response = await postWebhook(routed!.app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
  expect(response.status).toBe(202);
  return String(response.json!.id);
}

async function circuitOf(name: string): Promise<string> {
  const { json } = await adminRequest(routed!.app.baseUrl, ADMIN_TOKEN, 'GET', '/admin/destinations');
  return (json.items as { name: string; state: { circuit: string } }[]).find((item) => item.name === name)!.state.circuit;
}

async function closedTransitions(destination: string): Promise<number> {
  const text = await fetch(`${routed!.app.baseUrl}/metrics`).then((response) => response.text());
  return Number(new RegExp(`^webhook_destination_circuit_transitions_total\\{destination="${destination}",to="closed"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

/**
 * Opens `destination`'s circuit and, with `heldType`, has an event of that type wait behind it (returned); then ends
 * the cooldown, so that the next delivery to go is the probe. A held event's job waits ~10 minutes more.
 */
async function openThenCooledDown(destination: string, heldType?: string): Promise<string | undefined> {
  expect(await state.record(destination, 'failure', BREAKER)).toBe('opened');
  const held = heldType === undefined ? undefined : await send(heldType);
  if (held) {
    await waitFor(`event ${held} waiting for ${destination}'s open circuit`, async () => {
      const seen = await readEventRow(routed!.db.pool, held);
      return seen?.status === 'PENDING' && seen.last_error?.includes(`${destination} circuit open`) ? seen : undefined;
    });
  }
  await redis.hset(state.circuitKey(destination), 'openUntil', 0);
  return held;
}

/**
 * Sends an event of `probeType` (padded with `padBytes`), the first delivery back after the cooldown and so the probe,
 * and waits for its attempt, failed with `reason`: recorded against the circuit before the event's row is written.
 */
async function probeFailing(destination: string, probeType: string, reason: RegExp, padBytes = 0): Promise<string> {
  const probe = await send(probeType, padBytes);
  const row = await waitFor(
    `the probe ${probe}'s failed attempt`,
    async () => {
      const seen = await readEventRow(routed!.db.pool, probe);
      return seen?.status === 'FAILED' ? seen : undefined;
    },
    { timeoutMs: 30_000 },
  );
  expect(row.attempts).toBe(1);
  expect(row.last_error).toMatch(reason);
  const attempts = await adminDeliveries(routed!.app.baseUrl, ADMIN_TOKEN, probe);
  expect(attempts.map((attempt) => [attempt.destination, attempt.succeeded])).toEqual([[destination, false]]);
  return probe;
}

/**
 * With an event waiting behind the circuit, a probe the broker refused for its event has that event sent at once;
 * and the probe closes the circuit by itself, with nothing waiting (so not by a waiting event's success). In that
 * order: a circuit closed promotes the waiting events a second time 2 s on, which would send one held after it.
 */
async function expectProbeCloses(destination: string, heldType: string, probeType: string, reason: RegExp): Promise<string> {
  const held = (await openThenCooledDown(destination, heldType))!;
  await probeFailing(destination, probeType, reason);
  // Before: PENDING "waiting: <destination> circuit open" for the 10-minute cooldown.
  expect(await waitForEventStatus(routed!.db.pool, held, 'COMPLETED', 30_000)).toMatchObject({ attempts: 1, last_error: null });
  expect(await circuitOf(destination)).toBe('closed');
  expect(await closedTransitions(destination)).toBe(1);

  await openThenCooledDown(destination);
  await probeFailing(destination, probeType, reason);
  // Before: `half-open`, the probe freed, until some delivery came.
  expect(await circuitOf(destination)).toBe('closed');
  expect(await closedTransitions(destination)).toBe(2);
  return held;
}

beforeAll(async () => {
  [rabbit, jetstream] = await Promise.all([RabbitTap.open(), JetStreamTap.open()]);
  await rabbit.bindQueue(names.queue, names.exchange, 'stripe.*.bound');
  await jetstream.createStream(names.stream, [`${names.prefix}.stream.bound`]);
  routed = await startRoutedService(
    {
      destinations: {
        bus: { type: 'amqp', url: AMQP_URL, exchange: names.exchange, routingKey: '{provider}.{eventType}', circuitBreaker: BREAKER },
        smallBus: { type: 'amqp', url: AMQP_URL, exchange: names.exchange, routingKey: '{provider}.{eventType}', maxMessageBytes: 2000, circuitBreaker: BREAKER },
        // The same, for a test of its own: a circuit closed promotes its waiting events again 2 s on.
        tinyBus: { type: 'amqp', url: AMQP_URL, exchange: names.exchange, routingKey: '{provider}.{eventType}', maxMessageBytes: 2000, circuitBreaker: BREAKER },
        stream: { type: 'nats', url: NATS_URL, subject: `${names.prefix}.{eventType}`, circuitBreaker: BREAKER },
      },
      routes: [
        { provider: 'stripe', events: ['bus.*'], to: ['bus'] },
        { provider: 'stripe', events: ['small.*'], to: ['smallBus'] },
        { provider: 'stripe', events: ['tiny.*'], to: ['tinyBus'] },
        { provider: 'stripe', events: ['stream.*'], to: ['stream'] },
      ],
    },
    ENV,
  );
  redis = new Redis(routed.ns.redisUrl, { maxRetriesPerRequest: 1 });
  state = new DestinationStateStore(redis, `${routed.ns.prefix}:${QUEUE}`);
});

afterAll(async () => {
  redis?.disconnect();
  await routed?.stop();
  await rabbit?.close();
  await jetstream?.close();
});

describe('a half-open probe the broker refuses for its event', () => {
  it('RabbitMQ returning it (an event-filled routing key no queue is bound for) closes the circuit: a waiting event is sent at once', async () => {
    const held = await expectProbeCloses('bus', 'bus.bound', 'bus.unbound', /unroutable: no queue is bound to exchange "[^"]+" for routing key "stripe\.bus\.unbound"/);
    expect(await rabbit.messagesFor(names.queue, held)).toHaveLength(1);
  });

  it('NATS finding no stream (an event-filled subject) closes the circuit: a waiting event is sent at once', async () => {
    const held = await expectProbeCloses('stream', 'stream.bound', 'stream.unbound', /no JetStream stream captures subject "[^"]+\.stream\.unbound"/);
    expect((await jetstream.messages(names.stream)).map((message) => message.header?.get('webhook-id'))).toEqual([held]);
  });
});

describe('a half-open probe that failed before anything was sent (over maxMessageBytes)', () => {
  const reason = /over destination "(small|tiny)Bus"'s maxMessageBytes \(2000\); not sent/;

  it('decides nothing: the circuit stays half-open and the next delivery probes', async () => {
    await openThenCooledDown('smallBus');
    await probeFailing('smallBus', 'small.large', reason, 5000);
    expect(await circuitOf('smallBus')).toBe('half-open');
    const next = await send('small.bound');
    expect(await waitForEventStatus(routed!.db.pool, next, 'COMPLETED', 30_000)).toMatchObject({ attempts: 1, last_error: null });
    expect(await circuitOf('smallBus')).toBe('closed');
  });

  it('the event waiting longest is sent for to probe at once, and closes the circuit', async () => {
    const held = (await openThenCooledDown('tinyBus', 'tiny.bound'))!;
    await probeFailing('tinyBus', 'tiny.large', reason, 5000);
    // Before: the probe was freed, but nothing probed until the held event's own time came, 10 minutes on.
    expect(await waitForEventStatus(routed!.db.pool, held, 'COMPLETED', 30_000)).toMatchObject({ attempts: 1, last_error: null });
    expect(await circuitOf('tinyBus')).toBe('closed');
    // Closed once, by the held event's success: the large event's probe decided nothing.
    expect(await closedTransitions('tinyBus')).toBe(1);
    expect(await rabbit.messagesFor(names.queue, held)).toHaveLength(1);
  });
});
