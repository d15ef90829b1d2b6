import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import winston from 'winston';
import { HttpForwarder } from '../../services/worker/delivery/http-forwarder.js';
import { EventHandlerRegistry } from '../../services/worker/processing/event-handlers.js';
import { EventProcessor } from '../../services/worker/processing/event-processor.js';
import { ProcessingStore } from '../../services/worker/processing/processing-store.js';
import { RouteInputReader } from '../../services/worker/routing/route-input-reader.js';
import { RouteTable } from '../../services/worker/routing/route-table.js';
import { parseRoutes } from '../../services/worker/routing/routes-file.js';
import { adminDeliveries, readEventRow, waitForEventStatus } from '../support/event-status.js';
import { HttpSink } from '../support/http-sink.js';
import { startRefusedWorker } from '../support/refused-start.js';
import { startRoutedService, type RoutedService } from '../support/routed-service.js';
import { writeRoutesFile } from '../support/routes-file.js';
import type { InProcessService } from '../support/service-harness.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { AMQP_URL, JetStreamTap, NATS_URL, natsHeaders, RabbitTap, uniqueSuffix } from './support/broker-taps.js';
import { WORKER_CONFIRM_CLAIM_AFTER_MS } from '../support/worker-claim-bound.js';

// Route filters (MongoDB-style queries, sift) and transforms (JSONata), through a real service: HTTP destinations
// and the machine's RabbitMQ and NATS JetStream.

const STRIPE_SECRET = 'whsec_filters_test_stripe';
const ADMIN_TOKEN = 'filters-test-admin-token';
const DESTINATION_SECRET = `whsec_${randomBytes(24).toString('base64')}`;
const JOB_ATTEMPTS = 3;
const BIG_CHARGE_TRANSFORM = '{ "id": id, "amount": data.object.amount, "kind": "big-" & $eventType }';

const sfx = uniqueSuffix();
const names = { exchange: `filters-test-${sfx}`, queue: `filters-all-${sfx}`, stream: `FILTERS_TEST_${sfx}`, subjectPrefix: `filters-test-${sfx}` };

let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let routed: RoutedService | undefined;
let rabbit: RabbitTap;
let jetstream: JetStreamTap;

const sinks = { big: new HttpSink(), all: new HttpSink(), agents: new HttpSink(), refunds: new HttpSink(), broken: new HttpSink() };

let counter = 0;
async function sendStripe(type: string, amount: number, headers: Record<string, string> = {}): Promise<{ id: string; body: string; externalId: string }> {
  const externalId = `evt_filters_${sfx}_${counter++}`;
  const body = JSON.stringify({ id: externalId, object: 'event', type, data: { object: { amount, currency: 'eur' } } });
  const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET), ...headers });
  expect(response.status).toBe(202);
  return { id: String(response.json!.id), body, externalId };
}

const eventRow = (id: string) => readEventRow(db.pool, id);
const waitForStatus = (id: string, status: string) => waitForEventStatus(db.pool, id, status);
const deliveries = (id: string) => adminDeliveries(app.baseUrl, ADMIN_TOKEN, id);

const verify = (body: Buffer, headers: Record<string, unknown>) =>
  new Webhook(DESTINATION_SECRET).verify(body.toString('utf8'), Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, String(value)])));

beforeAll(async () => {
  [rabbit, jetstream] = await Promise.all([RabbitTap.open(), JetStreamTap.open(), ...Object.values(sinks).map((sink) => sink.start())]);
  await rabbit.bindQueue(names.queue, names.exchange, '#');
  await jetstream.createStream(names.stream, [`${names.subjectPrefix}.>`]);
  routed = await startRoutedService(
    {
      destinations: {
        big: { url: `${sinks.big.url}/big`, secret: DESTINATION_SECRET },
        all: { url: `${sinks.all.url}/all` },
        agents: { url: `${sinks.agents.url}/agents` },
        refunds: { url: `${sinks.refunds.url}/refunds` },
        broken: { url: `${sinks.broken.url}/broken` },
        bus: { type: 'amqp', url: AMQP_URL, exchange: names.exchange, routingKey: '{provider}.{eventType}', secret: DESTINATION_SECRET },
        stream: { type: 'nats', url: NATS_URL, subject: `${names.subjectPrefix}.{eventType}`, secret: DESTINATION_SECRET },
      },
      routes: [
        // Big charges, reshaped, to billing and both brokers.
        { provider: 'stripe', events: ['charge.*'], filter: { 'body.data.object.amount': { $gte: 1000 } }, transform: BIG_CHARGE_TRANSFORM, to: ['big', 'bus', 'stream'] },
        // Every charge as it came, and `big` takes the small ones as they came: the first route that takes the event decides.
        { provider: 'stripe', events: ['charge.*'], to: ['all', 'big'] },
        // On a kept request header.
        { provider: 'stripe', events: ['agent.*'], filter: { 'headers.user-agent': { $regex: '^Stripe/' } }, to: ['agents'] },
        // Only routes with filters: an event none of them takes is COMPLETED with nothing delivered.
        { provider: 'stripe', events: ['refund.*'], filter: { 'body.data.object.amount': { $gte: 1000 }, provider: 'stripe' }, to: ['refunds'] },
        // A transform that fails on every payload (a string added to a number).
        { provider: 'stripe', events: ['broken.*'], transform: 'data.object.amount + data.object.currency', to: ['broken'] },
      ],
    },
    {
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      JOB_ATTEMPTS: String(JOB_ATTEMPTS),
      JOB_BACKOFF_MS: '20',
    },
  );
  ({ db, ns, app } = routed);
});

afterAll(async () => {
  await routed?.stop();
  await rabbit?.close();
  await jetstream?.close();
  await Promise.all(Object.values(sinks).map((sink) => sink.stop()));
});

describe('a route with a filter and a transform', () => {
  it('sends what the transform made of the payload, signed over the bytes sent, to HTTP, RabbitMQ and JetStream alike', async () => {
    const { id, externalId, body } = await sendStripe('charge.succeeded', 1500);
    await waitForStatus(id, 'COMPLETED');
    const expected = { id: externalId, amount: 1500, kind: 'big-charge.succeeded' };

    const [toBig] = sinks.big.requestsFor(id);
    expect(sinks.big.requestsFor(id)).toHaveLength(1);
    expect(JSON.parse(toBig!.body.toString('utf8'))).toEqual(expected);
    expect(toBig!.headers['content-type']).toBe('application/json');
    expect(verify(toBig!.body, toBig!.headers)).toEqual(expected);

    const [inQueue] = await waitFor('the AMQP message', async () => {
      const found = await rabbit.messagesFor(names.queue, id);
      return found.length > 0 ? found : undefined;
    });
    expect(inQueue!.content.equals(toBig!.body)).toBe(true);
    expect(verify(inQueue!.content, inQueue!.properties.headers as Record<string, unknown>)).toEqual(expected);

    const [inStream] = await jetstream.messagesFor(names.stream, id);
    expect(Buffer.from(inStream!.data).equals(toBig!.body)).toBe(true);
    expect(verify(Buffer.from(inStream!.data), natsHeaders(inStream!))).toEqual(expected);

    // The route without a transform sends the provider's bytes as they came.
    expect(sinks.all.requestsFor(id).map((request) => request.body.toString('utf8'))).toEqual([body]);
    expect((await deliveries(id)).map((d) => d.destination).sort()).toEqual(['all', 'big', 'bus', 'stream']);
  });

  it('sends nothing where the filter does not take the event; a destination another route names gets what that route sends', async () => {
    const { id, body } = await sendStripe('charge.succeeded', 999);
    await waitForStatus(id, 'COMPLETED');
    // `big` is named by the filtered route (not taken) and by the plain one: it gets the original bytes, once.
    expect(sinks.big.requestsFor(id).map((request) => request.body.toString('utf8'))).toEqual([body]);
    expect(sinks.all.requestsFor(id)).toHaveLength(1);
    expect(await rabbit.messagesFor(names.queue, id)).toEqual([]);
    expect(await jetstream.messagesFor(names.stream, id)).toEqual([]);
    expect((await deliveries(id)).map((d) => d.destination).sort()).toEqual(['all', 'big']);
  });

  it('filters on the request headers kept with the event', async () => {
    const fromStripe = await sendStripe('agent.seen', 1, { 'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)' });
    const fromCurl = await sendStripe('agent.seen', 1, { 'user-agent': 'curl/8.5.0' });
    await waitForStatus(fromStripe.id, 'COMPLETED');
    await waitForStatus(fromCurl.id, 'COMPLETED');
    expect(sinks.agents.requestsFor(fromStripe.id)).toHaveLength(1);
    expect(sinks.agents.requestsFor(fromCurl.id)).toHaveLength(0);
  });

  it('an event no route takes once filtered is COMPLETED with nothing delivered', async () => {
    const small = await sendStripe('refund.created', 10);
    const large = await sendStripe('refund.created', 5000);
    expect(await waitForStatus(small.id, 'COMPLETED')).toMatchObject({ attempts: 1, last_error: null });
    await waitForStatus(large.id, 'COMPLETED');
    expect(await deliveries(small.id)).toEqual([]);
    expect(sinks.refunds.requestsFor(small.id)).toHaveLength(0);
    expect(sinks.refunds.requestsFor(large.id)).toHaveLength(1);
  });
});

describe('a transform that fails at run time', () => {
  it('is a failed attempt with the JSONata error in lastError, retried and dead-lettered; the worker carries on', async () => {
    const { id } = await sendStripe('broken.now', 100);
    const dead = await waitForStatus(id, 'DEAD_LETTER');
    expect(dead.attempts).toBe(JOB_ATTEMPTS);
    expect(dead.last_error).toBe('broken: transform of routes.4 failed: JSONata T2002 at 20: The right side of the "+" operator must evaluate to a number');
    const recorded = await deliveries(id);
    expect(recorded.map((d) => [d.destination, d.attempt, d.succeeded])).toEqual([
      ['broken', 1, false],
      ['broken', 2, false],
      ['broken', 3, false],
    ]);
    expect(sinks.broken.requests).toHaveLength(0);
    // Other events go on being delivered.
    const next = await sendStripe('charge.refreshed', 1);
    await waitForStatus(next.id, 'COMPLETED');
    expect(sinks.all.requestsFor(next.id)).toHaveLength(1);
  });
});

describe('what a route reads of an event', () => {
  it('reads the payload only when a route with a filter or a transform matches, and once per attempt', async () => {
    const sink = new HttpSink();
    await sink.start();
    const reads: string[] = [];
    const reader = new RouteInputReader(db.pool);
    const processor = new EventProcessor({
      store: new ProcessingStore(db.pool),
      confirmClaimAfterMs: WORKER_CONFIRM_CLAIM_AFTER_MS,
      routes: new RouteTable(
        parseRoutes(`
destinations:
  a: { url: "${sink.url}/a" }
  b: { url: "${sink.url}/b" }
  c: { url: "${sink.url}/c" }
routes:
  - { provider: readco, events: ["plain.*"], to: [a, b] }
  - { provider: readco, events: ["shaped.*"], filter: { "body.n": { "$gt": 0 } }, transform: '{ "n": n }', to: [a, b] }
  - { provider: readco, events: ["shaped.*"], filter: { "body.n": { "$gt": 5 } }, to: [c] }
`),
      ),
      handlers: new EventHandlerRegistry(),
      forwarder: new HttpForwarder({ defaultTimeoutMs: 5000, defaultMaxConcurrency: 4 }),
      routeInputs: { read: (eventId) => (reads.push(eventId), reader.read(eventId)) },
      maxAttempts: JOB_ATTEMPTS,
      logger: winston.createLogger({ silent: true }),
    });
    const insert = async (type: string) => {
      const { rows } = await db.pool.query<{ id: string }>(
        `INSERT INTO webhook_events (provider, external_id, event_type, payload, raw_body, content_type, status)
         VALUES ('readco', $1, $2, '{"n": 3}'::jsonb, '{"n": 3}'::bytea, 'application/json', 'PENDING') RETURNING id`,
        [`evt_read_${sfx}_${counter++}`, type],
      );
      return rows[0]!.id;
    };
    try {
      const plain = await insert('plain.thing');
      expect(await processor.process({ eventId: plain })).toBe('completed');
      expect(reads).toEqual([]);
      expect(sink.requestsFor(plain).map((request) => request.body.toString('utf8'))).toEqual(['{"n": 3}', '{"n": 3}']);

      const shaped = await insert('shaped.thing');
      expect(await processor.process({ eventId: shaped })).toBe('completed');
      // Two filters and one transform, three destinations: one read.
      expect(reads).toEqual([shaped]);
      expect(sink.requestsFor(shaped).map((request) => [request.path, request.body.toString('utf8')]).sort()).toEqual([
        ['/a', '{"n":3}'],
        ['/b', '{"n":3}'],
      ]);
    } finally {
      await sink.stop();
    }
  });
});

describe('a regular expression with nested quantifiers over a hostile payload', () => {
  // The worker runs in a process of its own (with a database and queues of its own, so neither service takes the
  // other's events): on a backtracking engine its event loop would never come back, and the test fails by the
  // deadline rather than hanging jest. On RE2 both events are done within moments.
  it('is answered at once by the worker, in a filter and in a transform, and the worker carries on', async () => {
    const sink = new HttpSink();
    const [ownDb] = await Promise.all([createTestDatabase(), sink.start()]);
    const ownNs = createQueueNamespace();
    const routes = writeRoutesFile({
      destinations: { notes: { url: `${sink.url}/notes` } },
      routes: [
        { provider: 'stripe', events: ['note.filtered'], filter: { 'body.data.object.note': { $regex: '^(a+)+$' } }, to: ['notes'] },
        { provider: 'stripe', events: ['note.transformed'], transform: '{ "id": id, "allAs": $contains(data.object.note, /^(a+)+$/) }', to: ['notes'] },
      ],
    });
    const service = new ServiceProcess(
      { SERVICE_ROLE: 'all', DATABASE_URL: ownDb.url, REDIS_URL: ownNs.redisUrl, QUEUE_PREFIX: ownNs.prefix, STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, ROUTES_FILE: routes.path },
      await freePort(),
    );
    const send = async (type: string, note: string) => {
      const externalId = `evt_redos_${sfx}_${counter++}`;
      const body = JSON.stringify({ id: externalId, object: 'event', type, data: { object: { note } } });
      const response = await postWebhook(service.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
      expect(response.status).toBe(202);
      return { id: String(response.json!.id), externalId };
    };
    const completed = (id: string) =>
      waitFor(
        `event ${id} to be COMPLETED`,
        async () => {
          const { rows } = await ownDb.pool.query<{ status: string }>('SELECT status FROM webhook_events WHERE id = $1', [id]);
          return rows[0]?.status === 'COMPLETED' || undefined;
        },
        { timeoutMs: 20_000 },
      );
    try {
      await service.start();
      const hostile = `${'a'.repeat(40)}!`;
      const filtered = await send('note.filtered', hostile);
      await completed(filtered.id);
      expect(sink.requestsFor(filtered.id)).toHaveLength(0);
      const transformed = await send('note.transformed', hostile);
      await completed(transformed.id);
      expect(sink.requestsFor(transformed.id).map((request) => JSON.parse(request.body.toString('utf8')))).toEqual([{ id: transformed.externalId, allAs: false }]);
      // And the filter still takes what it should.
      const plain = await send('note.filtered', 'aaaa');
      await completed(plain.id);
      expect(sink.requestsFor(plain.id)).toHaveLength(1);
    } finally {
      await service.kill();
      routes.remove();
      await sink.stop();
      await ownNs.cleanup();
      await ownDb.drop();
    }
  }, 120_000);
});

describe('a filter or transform that does not compile', () => {
  it('stops the start: exit code non-zero, one line naming ROUTES_FILE, the route and the problem', async () => {
    const badRoutes = writeRoutesFile({
      destinations: { fine: { url: 'http://127.0.0.1:9/fine' } },
      routes: [
        { provider: 'stripe', to: ['fine'] },
        { provider: 'stripe', events: ['charge.*'], transform: '{ "id": id, ', to: ['fine'] },
      ],
    });
    try {
      const { code, logs } = await startRefusedWorker(db, ns, badRoutes.path);
      expect(code).not.toBe(0);
      expect(code).not.toBeNull();
      const failed = logs.filter((line) => line.startsWith('Failed to start: '));
      expect(failed).toEqual([`Failed to start: ROUTES_FILE ${badRoutes.path}: routes.1.transform: the JSONata expression does not compile: JSONata S0203 at 12: Expected ":" before end of expression`]);
    } finally {
      badRoutes.remove();
    }
  });
});
