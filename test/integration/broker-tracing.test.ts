/**
 * Trace context through the brokers, as deployed: a real service process with the OpenTelemetry preload, exporting
 * to a real OTLP receiver, publishing to the machine's RabbitMQ and NATS. A consumer that continues the message's
 * `traceparent` joins the webhook's trace under the publish span.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OtlpTraceReceiver } from '../observability/support/otlp-receiver.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { AMQP_URL, JetStreamTap, NATS_URL, natsHeaders, RabbitTap, uniqueSuffix } from './support/broker-taps.js';

const STRIPE_SECRET = 'whsec_broker_tracing_secret';
const TRACEPARENT = /^00-([\da-f]{32})-([\da-f]{16})-0[01]$/;
/** A static one, which the injected trace context replaces (never published beside it). */
const STATIC_TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const sfx = uniqueSuffix();
const names = { exchange: `tracing-test-${sfx}`, queue: `tracing-all-${sfx}`, stream: `TRACING_TEST_${sfx}`, subjectPrefix: `tracing-test-${sfx}` };

let db: TestDatabase;
let ns: TestQueueNamespace;
let receiver: OtlpTraceReceiver;
let service: ServiceProcess;
let routes: TempRoutesFile;
let rabbit: RabbitTap;
let jetstream: JetStreamTap;

beforeAll(async () => {
  [db, receiver, rabbit, jetstream] = await Promise.all([createTestDatabase(), new OtlpTraceReceiver().start(), RabbitTap.open(), JetStreamTap.open()]);
  ns = createQueueNamespace();
  await rabbit.bindQueue(names.queue, names.exchange, '#');
  await jetstream.createStream(names.stream, [`${names.subjectPrefix}.>`]);
  routes = writeRoutesFile({
    destinations: {
      bus: { type: 'amqp', url: AMQP_URL, exchange: names.exchange, routingKey: '{provider}.{eventType}', headers: { Traceparent: STATIC_TRACEPARENT } },
      stream: { type: 'nats', url: NATS_URL, subject: `${names.subjectPrefix}.{provider}.{eventType}`, headers: { Traceparent: STATIC_TRACEPARENT } },
    },
    routes: [{ provider: 'stripe', to: ['bus', 'stream'] }],
  });
  service = new ServiceProcess(
    {
      SERVICE_ROLE: 'all',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      ROUTES_FILE: routes.path,
      RECONCILER_INTERVAL_MS: '600000',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    },
    await freePort(),
    { preloadTelemetry: true },
  );
  await service.start();
});

afterAll(async () => {
  await service?.kill();
  await receiver?.stop();
  await rabbit?.close();
  await jetstream?.close();
  await ns?.cleanup();
  await db?.drop();
  routes?.remove();
});

describe('trace context in broker messages', () => {
  it('each message carries the traceparent of its publish span, a producer span under webhook.deliver in the webhook trace', async () => {
    const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: `evt_broker_trace_${sfx}`, type: 'invoice.paid' });
    const response = await postWebhook(service.baseUrl, 'stripe', body, headers);
    expect(response.status).toBe(202);
    const eventId = String(response.json!.id);

    const [amqpMessage] = await waitFor('the AMQP message', async () => {
      const found = await rabbit.messagesFor(names.queue, eventId);
      return found.length > 0 ? found : undefined;
    });
    const [natsMessage] = await waitFor('the JetStream message', async () => {
      const found = await jetstream.messagesFor(names.stream, eventId);
      return found.length > 0 ? found : undefined;
    });
    // One trace context each, the publish span's: the destinations' static `Traceparent` is left out.
    const traceparentNames = (keys: string[]) => keys.filter((name) => name.toLowerCase() === 'traceparent');
    expect(traceparentNames(Object.keys(amqpMessage!.properties.headers ?? {}))).toEqual(['traceparent']);
    expect(traceparentNames([...(natsMessage!.header ?? [])].map(([name]) => name))).toEqual(['traceparent']);
    const amqpTraceparent = String((amqpMessage!.properties.headers as Record<string, unknown>).traceparent ?? '');
    const natsTraceparent = natsHeaders(natsMessage!).traceparent ?? '';
    expect(amqpTraceparent).toMatch(TRACEPARENT);
    expect(natsTraceparent).toMatch(TRACEPARENT);
    const [, traceId, amqpParent] = TRACEPARENT.exec(amqpTraceparent)!;
    const [, natsTraceId, natsParent] = TRACEPARENT.exec(natsTraceparent)!;
    expect(natsTraceId).toBe(traceId);

    // A parent span ends after its children (the process span only once the attempt is recorded), so it may come in
    // a later export batch: wait for both publish spans, both deliver spans and the process span.
    const spans = await waitFor(
      'the publish, deliver and process spans to be exported',
      () => {
        const trace = receiver.trace(traceId!);
        const count = (name: string) => trace.filter((span) => span.name === name).length;
        return trace.some((span) => span.spanId === amqpParent) &&
          trace.some((span) => span.spanId === natsParent) &&
          count('webhook.deliver') >= 2 &&
          count('webhook.process') >= 1
          ? trace
          : undefined;
      },
      { timeoutMs: 15_000 },
    );
    const byId = new Map(spans.map((span) => [span.spanId, span]));
    const amqpPublish = byId.get(amqpParent!)!;
    const natsPublish = byId.get(natsParent!)!;
    expect(amqpPublish).toMatchObject({
      name: `${names.exchange} publish`,
      kind: 'SPAN_KIND_PRODUCER',
      attributes: { 'messaging.system': 'rabbitmq', 'messaging.destination.name': names.exchange, 'messaging.rabbitmq.destination.routing_key': 'stripe.invoice.paid', 'messaging.message.id': eventId },
    });
    expect(natsPublish).toMatchObject({
      name: `${names.subjectPrefix}.stripe.invoice.paid publish`,
      kind: 'SPAN_KIND_PRODUCER',
      attributes: { 'messaging.system': 'nats', 'messaging.destination.name': `${names.subjectPrefix}.stripe.invoice.paid`, 'messaging.nats.stream': names.stream },
    });
    for (const [publish, destination, type] of [
      [amqpPublish, 'bus', 'amqp'],
      [natsPublish, 'stream', 'nats'],
    ] as const) {
      const deliver = byId.get(publish.parentSpanId)!;
      expect(deliver).toMatchObject({ name: 'webhook.deliver', attributes: { 'webhook.destination': destination, 'webhook.destination.type': type } });
      expect(byId.get(deliver.parentSpanId)).toMatchObject({ name: 'webhook.process', attributes: { 'webhook.event_id': eventId } });
    }
    // The whole story is one trace, rooted at the webhook's HTTP request.
    expect(spans.some((span) => span.name === 'POST /webhooks/:provider' && span.parentSpanId === '')).toBe(true);
  });
});
