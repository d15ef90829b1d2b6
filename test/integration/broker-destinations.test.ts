import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { adminRequest } from '../support/admin-client.js';
import { adminDeliveries, readEventRow, waitForEventStatus } from '../support/event-status.js';
import { startRoutedService, type RoutedService } from '../support/routed-service.js';
import type { InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import type { TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';
import { AMQP_URL, JetStreamTap, NATS_URL, natsHeaders, RabbitTap, uniqueSuffix } from './support/broker-taps.js';

// RabbitMQ and NATS JetStream destinations, end to end through a real service (ingress + worker in one process)
// against the machine's RabbitMQ and NATS, on exchanges, queues, streams and subjects of this run's own.

const STRIPE_SECRET = 'whsec_broker_test_stripe';
const ADMIN_TOKEN = 'broker-test-admin-token';
const DESTINATION_SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const JOB_ATTEMPTS = 3;

const sfx = uniqueSuffix();
const names = {
  exchange: `webhooks-test-${sfx}`,
  /** An exchange the test never declares nor binds anything to: the service declares it; messages are unroutable. */
  lonelyExchange: `webhooks-lonely-${sfx}`,
  queue: `webhooks-all-${sfx}`,
  /** Takes nothing: RabbitMQ nacks whatever is routed to it. */
  fullQueue: `webhooks-full-${sfx}`,
  lateQueue: `webhooks-late-${sfx}`,
  stream: `WEBHOOKS_TEST_${sfx}`,
  subjectPrefix: `webhooks-test-${sfx}`,
  lateStream: `WEBHOOKS_LATE_${sfx}`,
  lateSubjectPrefix: `webhooks-late-${sfx}`,
};

let db: TestDatabase;
let app: InProcessService;
let routed: RoutedService | undefined;
let rabbit: RabbitTap;
let jetstream: JetStreamTap;

let counter = 0;
async function sendStripe(type: string, rawBody?: string): Promise<{ id: string; body: string }> {
  const body = rawBody ?? JSON.stringify({ id: `evt_broker_${sfx}_${counter++}`, object: 'event', type, data: { object: { n: counter } } });
  const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
  expect(response.status).toBe(202);
  return { id: String(response.json!.id), body };
}

const eventRow = (id: string) => readEventRow(db.pool, id);
const waitForStatus = (id: string, status: string, timeoutMs = 20_000) => waitForEventStatus(db.pool, id, status, timeoutMs);
const deliveries = (id: string) => adminDeliveries(app.baseUrl, ADMIN_TOKEN, id);

const replay = async (id: string) => expect(await adminRequest(app.baseUrl, ADMIN_TOKEN, 'POST', `/admin/events/${id}/replay`)).toMatchObject({ status: 202 });

beforeAll(async () => {
  [rabbit, jetstream] = await Promise.all([RabbitTap.open(), JetStreamTap.open()]);
  await rabbit.bindQueue(names.queue, names.exchange, 'stripe.#');
  await rabbit.bindQueue(names.fullQueue, names.exchange, 'stripe.full.#', { 'x-max-length': 0, 'x-overflow': 'reject-publish' });
  rabbit.forget(names.lonelyExchange);
  await jetstream.createStream(names.stream, [`${names.subjectPrefix}.>`]);
  routed = await startRoutedService(
    {
      destinations: {
        bus: { type: 'amqp', url: AMQP_URL, exchange: names.exchange, routingKey: '{provider}.{eventType}', secret: DESTINATION_SECRET },
        lonelyBus: { type: 'amqp', url: AMQP_URL, exchange: names.lonelyExchange, routingKey: '{provider}.{eventType}', timeoutMs: 5000 },
        stream: { type: 'nats', url: NATS_URL, subject: `${names.subjectPrefix}.{provider}.{eventType}`, secret: DESTINATION_SECRET },
        lateStream: { type: 'nats', url: NATS_URL, subject: `${names.lateSubjectPrefix}.{eventType}`, timeoutMs: 2000 },
      },
      routes: [
        { provider: 'stripe', events: ['invoice.*'], to: ['bus', 'stream'] },
        { provider: 'stripe', events: ['full.*'], to: ['bus'] },
        { provider: 'stripe', events: ['lonely.*'], to: ['lonelyBus'] },
        { provider: 'stripe', events: ['late.*'], to: ['bus', 'lateStream'] },
      ],
    },
    {
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      JOB_ATTEMPTS: String(JOB_ATTEMPTS),
      JOB_BACKOFF_MS: '20',
    },
  );
  ({ db, app } = routed);
});

afterAll(async () => {
  await routed?.stop();
  await rabbit?.close();
  await jetstream?.close();
});

describe('RabbitMQ destinations (type: amqp)', () => {
  it('publish the original bytes, persistent and confirmed, to the topic exchange with the templated routing key; messageId and webhook headers as the contract says', async () => {
    const body = `{ "type":"invoice.paid",  "id":"evt_amqp_${sfx}", "note":"caf\u00e9" }`;
    const { id } = await sendStripe('invoice.paid', body);
    expect(await waitForStatus(id, 'COMPLETED')).toMatchObject({ attempts: 1, last_error: null });

    const [message, ...more] = await waitFor('the message in the bound queue', async () => {
      const found = await rabbit.messagesFor(names.queue, id);
      return found.length > 0 ? found : undefined;
    });
    expect(more).toEqual([]);
    expect(message!.content.equals(Buffer.from(body, 'utf8'))).toBe(true);
    expect(message!.fields).toMatchObject({ exchange: names.exchange, routingKey: 'stripe.invoice.paid' });
    expect(message!.properties).toMatchObject({ messageId: id, deliveryMode: 2, contentType: 'application/json', type: 'invoice.paid' });
    const headers = message!.properties.headers as Record<string, unknown>;
    expect(headers).toMatchObject({ 'webhook-id': id, 'x-webhook-provider': 'stripe', 'x-webhook-event-type': 'invoice.paid' });
    expect(Math.abs(Number(headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(30);
    // The signature covers the bytes in the message, with the event id and timestamp in the headers.
    const stringHeaders = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, String(value)]));
    expect(new Webhook(DESTINATION_SECRET).verify(message!.content.toString('utf8'), stringHeaders)).toMatchObject({ type: 'invoice.paid' });
    expect(await rabbit.isDurableTopicExchange(names.exchange)).toBe(true);

    expect(await deliveries(id)).toEqual(
      expect.arrayContaining([expect.objectContaining({ destination: 'bus', attempt: 1, succeeded: true, statusCode: null, error: null })]),
    );
  });

  it('a message the broker refuses (basic.nack: the queue it routes to rejects publishes) is a failed attempt: success needs the confirm', async () => {
    const { id } = await sendStripe('full.now');
    const dead = await waitForStatus(id, 'DEAD_LETTER');
    expect(dead.attempts).toBe(JOB_ATTEMPTS);
    expect(dead.last_error).toBe(`bus: RabbitMQ refused the message (basic.nack) on exchange "${names.exchange}"`);
    const recorded = await deliveries(id);
    expect(recorded.map((d) => [d.destination, d.attempt, d.succeeded])).toEqual([
      ['bus', 1, false],
      ['bus', 2, false],
      ['bus', 3, false],
    ]);
    // The catch-all queue took each publish (a nack is per message, not per queue): at least once, same messageId.
    expect((await rabbit.messagesFor(names.queue, id)).length).toBe(JOB_ATTEMPTS);
  });

  it('a routing key no queue is bound for is a failed attempt (returned: published mandatory), dead-lettered; bound and replayed, it is delivered', async () => {
    const { id, body } = await sendStripe('lonely.thing');
    const dead = await waitForStatus(id, 'DEAD_LETTER');
    expect(dead.attempts).toBe(JOB_ATTEMPTS);
    expect(dead.last_error).toBe(`lonelyBus: unroutable: no queue is bound to exchange "${names.lonelyExchange}" for routing key "stripe.lonely.thing" (312 NO_ROUTE)`);
    // The service declared the exchange: durable, topic.
    expect(await rabbit.isDurableTopicExchange(names.lonelyExchange)).toBe(true);

    await rabbit.bindQueue(names.lateQueue, names.lonelyExchange, 'stripe.lonely.*');
    await replay(id);
    expect(await waitForStatus(id, 'COMPLETED')).toMatchObject({ attempts: 1, last_error: null });
    const received = await rabbit.messagesFor(names.lateQueue, id);
    expect(received).toHaveLength(1);
    expect(received[0]!.content.toString('utf8')).toBe(body);
  });
});

describe('NATS JetStream destinations (type: nats)', () => {
  it('publish the original bytes to the templated subject, acknowledged by the stream; Nats-Msg-Id is the event id and destination; webhook headers as for HTTP', async () => {
    const body = `{"type":"invoice.finalized","id":"evt_nats_${sfx}","amount":1.50}`;
    const { id } = await sendStripe('invoice.finalized', body);
    await waitForStatus(id, 'COMPLETED');

    const stored = await jetstream.messagesFor(names.stream, id);
    expect(stored).toHaveLength(1);
    const [message] = stored;
    expect(message!.subject).toBe(`${names.subjectPrefix}.stripe.invoice.finalized`);
    expect(Buffer.from(message!.data).equals(Buffer.from(body, 'utf8'))).toBe(true);
    const headers = natsHeaders(message!);
    expect(headers).toMatchObject({ 'Nats-Msg-Id': `${id}:stream`, 'webhook-id': id, 'x-webhook-provider': 'stripe', 'x-webhook-event-type': 'invoice.finalized', 'content-type': 'application/json' });
    expect(new Webhook(DESTINATION_SECRET).verify(body, headers)).toMatchObject({ amount: 1.5 });
    expect((await deliveries(id)).find((d) => d.destination === 'stream')).toMatchObject({ attempt: 1, succeeded: true });
  });

  it("a replay within the duplicate window is stored again, under the round's Nats-Msg-Id (RabbitMQ gets it again, same messageId)", async () => {
    const { id } = await sendStripe('invoice.replayed');
    await waitForStatus(id, 'COMPLETED');
    expect(await jetstream.messagesFor(names.stream, id)).toHaveLength(1);

    await replay(id);
    await waitFor('the replay to complete', async () => {
      const row = await eventRow(id);
      const rows = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM delivery_attempts WHERE event_id = $1 AND destination = $2 AND replay = 1 AND succeeded', [id, 'stream']);
      return row?.status === 'COMPLETED' && rows.rows[0]!.n === 1;
    });
    // The same id would have been acked `duplicate` and stored nothing: the replay dropped, yet recorded a success.
    const stored = await jetstream.messagesFor(names.stream, id);
    expect(stored.map((message) => natsHeaders(message)['Nats-Msg-Id'])).toEqual([`${id}:stream`, `${id}:stream:1`]);
    const amqpCopies = await waitFor('the second AMQP copy', async () => {
      const found = await rabbit.messagesFor(names.queue, id);
      return found.length === 2 ? found : undefined;
    });
    expect(amqpCopies.map((message) => message.properties.messageId)).toEqual([id, id]);
  });

  it('a subject no stream captures is a failed attempt that names it; retries re-send only there; with the stream created, a replay delivers it', async () => {
    const { id, body } = await sendStripe('late.arrival');
    const dead = await waitForStatus(id, 'DEAD_LETTER');
    expect(dead.attempts).toBe(JOB_ATTEMPTS);
    expect(dead.last_error).toBe(`lateStream: no JetStream stream captures subject "${names.lateSubjectPrefix}.late.arrival" (no responders; is JetStream enabled?)`);
    const recorded = await deliveries(id);
    expect(recorded.filter((d) => d.destination === 'bus').map((d) => [d.attempt, d.succeeded])).toEqual([[1, true]]);
    expect(recorded.filter((d) => d.destination === 'lateStream').map((d) => [d.attempt, d.succeeded])).toEqual([
      [1, false],
      [2, false],
      [3, false],
    ]);
    // "Already delivered" is per destination: RabbitMQ got it once, not once per attempt.
    expect(await rabbit.messagesFor(names.queue, id)).toHaveLength(1);

    await jetstream.createStream(names.lateStream, [`${names.lateSubjectPrefix}.>`]);
    await replay(id);
    await waitForStatus(id, 'COMPLETED');
    const stored = await jetstream.messagesFor(names.lateStream, id);
    expect(stored).toHaveLength(1);
    expect(Buffer.from(stored[0]!.data).toString('utf8')).toBe(body);
    // A dead letter's replay goes only to the destinations that have not taken the event.
    expect(await rabbit.messagesFor(names.queue, id)).toHaveLength(1);
  });
});

describe('metrics', () => {
  it('counts broker deliveries in webhook_delivery_attempts_total{destination,result} and their duration', async () => {
    const text = await (await fetch(`${app.baseUrl}/metrics`)).text();
    const value = (labels: string) => Number(new RegExp(`^webhook_delivery_attempts_total\\{${labels}\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    expect(value('destination="bus",result="success"')).toBeGreaterThanOrEqual(1);
    expect(value('destination="stream",result="success"')).toBeGreaterThanOrEqual(1);
    // A subject no stream captures, filled in from the event: the event's failure, not the destination's.
    expect(value('destination="lateStream",result="internal_error"')).toBeGreaterThanOrEqual(JOB_ATTEMPTS);
    expect(value('destination="bus",result="network_error"')).toBeGreaterThanOrEqual(JOB_ATTEMPTS);
    expect(text).toMatch(/^webhook_delivery_duration_seconds_count\{destination="stream"\} [1-9]/m);
  });
});
