import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { DestinationStateStore } from '../../services/shared/destinations/destination-state.js';
import { adminRequest } from '../support/admin-client.js';
import { adminDeliveries, readEventRow, waitForEventStatus, type EventStatusRow } from '../support/event-status.js';
import { startRoutedService, type RoutedService } from '../support/routed-service.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';
import { JetStreamTap, NATS_URL, RabbitTap, uniqueSuffix } from './support/broker-taps.js';
import { RabbitMqNode, skipOrFailWithoutRabbitmqNode } from './support/rabbitmq-node.js';

// A message the broker refuses for its size (NATS's max_payload, a stream's max_msg_size, RabbitMQ's
// max_message_size) is that event's failure, not the destination's: every other event still goes. It was counted as
// a `network_error`, against the destination's circuit, so one large event's retries opened the circuit (here at the
// second attempt) and every event to the destination waited behind it for the cooldown; the large event itself then
// waited too, and once it was the half-open probe its failure reopened the circuit without counting against its
// attempts, so it could hold the destination for good. Now it is an `internal_error` (as a message over
// `maxMessageBytes` already was): retried, dead-lettered at JOB_ATTEMPTS, the circuit left closed.

const STRIPE_SECRET = 'whsec_broker_oversize_stripe';
const ADMIN_TOKEN = 'broker-oversize-admin-token';
const JOB_ATTEMPTS = 3;
// Opens at the large event's second failed attempt, and would stay open past the test's end.
const BREAKER = { failureThreshold: 2, cooldownMs: 600_000 };
const env = {
  STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
  ADMIN_API_TOKEN: ADMIN_TOKEN,
  JOB_ATTEMPTS: String(JOB_ATTEMPTS),
  JOB_BACKOFF_MS: '20',
  // Bodies over NATS's default max_payload (1 MiB) are accepted, as with a larger MAX_BODY_BYTES in production.
  MAX_BODY_BYTES: String(2 * 1024 * 1024),
};

const sfx = uniqueSuffix();
let counter = 0;

async function send(routed: RoutedService, type: string, padBytes = 0): Promise<string> {
  const body = JSON.stringify({ id: `evt_oversize_${sfx}_${counter++}`, object: 'event', type, data: { object: { pad: 'a'.repeat(padBytes) } } });
  const response = await postWebhook(routed.app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
  expect(response.status).toBe(202);
  return String(response.json!.id);
}

async function circuitOf(routed: RoutedService, name: string): Promise<string> {
  const { json } = await adminRequest(routed.app.baseUrl, ADMIN_TOKEN, 'GET', '/admin/destinations');
  return (json.items as { name: string; state: { circuit: string } }[]).find((item) => item.name === name)!.state.circuit;
}

async function closedTransitions(routed: RoutedService, destination: string): Promise<number> {
  const text = await fetch(`${routed.app.baseUrl}/metrics`).then((response) => response.text());
  return Number(new RegExp(`^webhook_destination_circuit_transitions_total\\{destination="${destination}",to="closed"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

/**
 * The large event is dead-lettered after its JOB_ATTEMPTS, each failing with `reason`, and the destination's circuit
 * stays closed: an event of ordinary size sent after it is delivered at once.
 */
async function expectEventsOwnFailure(routed: RoutedService, destination: string, largeType: string, padBytes: number, smallType: string, reason: RegExp): Promise<void> {
  const large = await send(routed, largeType, padBytes);
  // Before: PENDING "waiting: <destination> circuit open" after its second attempt, for the 10-minute cooldown.
  const row = await waitFor(
    `event ${large} to be DEAD_LETTER`,
    async (): Promise<EventStatusRow> => {
      const seen = await readEventRow(routed.db.pool, large);
      // Thrown, so that a timeout names where the event stands (the status and the error it waits with).
      if (seen?.status !== 'DEAD_LETTER') throw new Error(`${seen?.status} after ${seen?.attempts} attempts: ${seen?.last_error}`);
      return seen;
    },
    { timeoutMs: 30_000 },
  );
  expect(row.attempts).toBe(JOB_ATTEMPTS);
  expect(row.last_error).toMatch(reason);
  const attempts = await adminDeliveries(routed.app.baseUrl, ADMIN_TOKEN, large);
  expect(attempts.map((attempt) => [attempt.destination, attempt.succeeded])).toEqual(Array.from({ length: JOB_ATTEMPTS }, () => [destination, false]));
  expect(await circuitOf(routed, destination)).toBe('closed');

  const small = await send(routed, smallType);
  expect(await waitForEventStatus(routed.db.pool, small, 'COMPLETED', 30_000)).toMatchObject({ attempts: 1, last_error: null });
  // Counted as the event's own failure in the metrics as well (internal_error), not as the broker's.
  const metrics = await fetch(`${routed.app.baseUrl}/metrics`).then((response) => response.text());
  expect(metrics).toMatch(new RegExp(`webhook_delivery_attempts_total\\{destination="${destination}",result="internal_error"\\} ${JOB_ATTEMPTS}\\b`));
  expect(metrics).toMatch(new RegExp(`webhook_delivery_attempts_total\\{destination="${destination}",result="network_error"\\} 0\\b`));
}

describe('NATS: a message too large for the server or the stream', () => {
  const names = { payloadStream: `OVERSIZE_PAYLOAD_${sfx}`, smallStream: `OVERSIZE_SMALL_${sfx}`, prefix: `oversize-${sfx}` };
  let jetstream: JetStreamTap;
  let routed: RoutedService | undefined;
  let maxPayload: number;

  beforeAll(async () => {
    jetstream = await JetStreamTap.open();
    maxPayload = jetstream.nc.info!.max_payload;
    await jetstream.createStream(names.payloadStream, [`${names.prefix}.payload.>`]);
    await jetstream.createStream(names.smallStream, [`${names.prefix}.small.>`], 120_000, { max_msg_size: 4096 });
    routed = await startRoutedService(
      {
        destinations: {
          payloadStream: { type: 'nats', url: NATS_URL, subject: `${names.prefix}.payload.{eventType}`, circuitBreaker: BREAKER },
          smallStream: { type: 'nats', url: NATS_URL, subject: `${names.prefix}.small.{eventType}`, circuitBreaker: BREAKER },
        },
        routes: [
          { provider: 'stripe', events: ['payload.*'], to: ['payloadStream'] },
          { provider: 'stripe', events: ['small.*'], to: ['smallStream'] },
        ],
      },
      env,
    );
  });

  afterAll(async () => {
    await routed?.stop();
    await jetstream?.close();
  });

  it("over the server's max_payload: dead-lettered naming the sizes; the circuit stays closed and the next event is delivered", async () => {
    await expectEventsOwnFailure(routed!, 'payloadStream', 'payload.large', maxPayload, 'payload.small', /is over the server's max_payload of \d+ bytes/);
    expect(await jetstream.messages(names.payloadStream)).toHaveLength(1);
  });

  it("over the stream's max_msg_size: dead-lettered with JetStream's reason; the circuit stays closed and the next event is delivered", async () => {
    await expectEventsOwnFailure(routed!, 'smallStream', 'small.large', 8192, 'small.small', /JetStream refused the message .*message size exceeds maximum allowed/);
    expect(await jetstream.messages(names.smallStream)).toHaveLength(1);
  });
});

describe('RabbitMQ: a message over the broker’s max_message_size', () => {
  if (skipOrFailWithoutRabbitmqNode('own-node test')) return;

  const MAX_MESSAGE_SIZE = 65_536;
  const names = { exchange: `oversize-${sfx}`, queue: `oversize-${sfx}-q`, goneExchange: `oversize-gone-${sfx}`, goneQueue: `oversize-gone-${sfx}-q` };
  let node: RabbitMqNode;
  let rabbit: RabbitTap;
  let routed: RoutedService | undefined;
  let redis: Redis | undefined;

  beforeAll(async () => {
    node = await RabbitMqNode.start([`max_message_size = ${MAX_MESSAGE_SIZE}`]);
    rabbit = await RabbitTap.open(node.url);
    await rabbit.bindQueue(names.queue, names.exchange, '#');
    await rabbit.bindQueue(names.goneQueue, names.goneExchange, '#');
    routed = await startRoutedService(
      {
        destinations: {
          bus: { type: 'amqp', url: node.url, exchange: names.exchange, routingKey: '{provider}.{eventType}', circuitBreaker: BREAKER },
          goneBus: { type: 'amqp', url: node.url, exchange: names.goneExchange, routingKey: '{provider}.{eventType}', circuitBreaker: BREAKER },
        },
        routes: [
          { provider: 'stripe', events: ['amqp.*'], to: ['bus'] },
          { provider: 'stripe', events: ['gone.*'], to: ['goneBus'] },
        ],
      },
      env,
    );
    redis = new Redis(routed.ns.redisUrl, { maxRetriesPerRequest: 1 });
  }, 120_000);

  afterAll(async () => {
    redis?.disconnect();
    await routed?.stop();
    await rabbit?.close();
    await node?.stop();
  }, 60_000);

  it('dead-lettered with the broker’s reason; the circuit stays closed and the next event is delivered', async () => {
    await expectEventsOwnFailure(routed!, 'bus', 'amqp.large', 2 * MAX_MESSAGE_SIZE, 'amqp.small', /RabbitMQ refused the message .*message size \d+ is larger than configured max size 65536/);
    const delivered = await waitFor('the small event in the queue', async () => {
      const found = await rabbit.messages(names.queue);
      return found.length > 0 ? found : undefined;
    });
    expect(delivered).toHaveLength(1);
  });

  // RabbitMQ checks a message against max_message_size before it looks for the exchange: its 406 comes even when the
  // destination's exchange is gone. Counted as the broker's answer (brokerAnswered), the refusal of a half-open
  // probe closed the circuit of a destination that could take nothing, and every event waiting behind it was sent
  // at once, to fail. Now it frees the probe without deciding: the circuit stays half-open, and the next delivery
  // probes (and here reopens it).
  it('as the half-open probe, a refusal over max_message_size decides nothing (RabbitMQ checks the size before the exchange): the circuit stays half-open', async () => {
    const state = new DestinationStateStore(redis!, `${routed!.ns.prefix}:webhook-events`);
    // Delivered once, so that the worker's connection has declared the exchange and does not declare it again.
    const first = await send(routed!, 'gone.first');
    expect(await waitForEventStatus(routed!.db.pool, first, 'COMPLETED', 30_000)).toMatchObject({ attempts: 1 });
    await rabbit.deleteExchange(names.goneExchange);
    // The circuit opened (through the worker's own store), its cooldown then ended: the next delivery is the probe.
    expect(await state.record('goneBus', 'failure', { ...BREAKER, failureThreshold: 1 })).toBe('opened');
    await redis!.hset(state.circuitKey('goneBus'), 'openUntil', 0);

    const large = await send(routed!, 'gone.large', 2 * MAX_MESSAGE_SIZE);
    // Each of its attempts (JOB_BACKOFF_MS apart) finds the probe free and is the probe.
    const row = await waitFor(
      `event ${large} to be DEAD_LETTER`,
      async (): Promise<EventStatusRow> => {
        const seen = await readEventRow(routed!.db.pool, large);
        if (seen?.status !== 'DEAD_LETTER') throw new Error(`${seen?.status} after ${seen?.attempts} attempts: ${seen?.last_error}`);
        return seen;
      },
      { timeoutMs: 30_000 },
    );
    expect(row.attempts).toBe(JOB_ATTEMPTS);
    expect(row.last_error).toMatch(/406 \(PRECONDITION-FAILED\) .*message size \d+ is larger than configured max size 65536/);
    // Before: `closed` at its first attempt (a transition to closed counted), though the exchange was gone.
    expect(await circuitOf(routed!, 'goneBus')).toBe('half-open');
    expect(await closedTransitions(routed!, 'goneBus')).toBe(0);

    // The next delivery probes, meets the missing exchange, and reopens the circuit: not counted against its event.
    const next = await send(routed!, 'gone.next');
    const waiting = await waitFor(`event ${next} waiting behind the reopened circuit`, async () => {
      const seen = await readEventRow(routed!.db.pool, next);
      return seen?.status === 'PENDING' && seen.last_error?.includes('goneBus circuit reopened by a failed probe') ? seen : undefined;
    });
    expect(waiting.last_error).toMatch(/404 \(NOT-FOUND\)/);
    expect(await circuitOf(routed!, 'goneBus')).toBe('open');
  });
});
