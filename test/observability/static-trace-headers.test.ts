/**
 * An HTTP destination's static `headers` may name `traceparent` or `tracestate` (any case). With tracing on, the undici
 * instrumentation injects the delivery span's `traceparent` (and `tracestate` when the trace carries one) after the
 * forwarder built its headers, so the request carried two of each, and receivers read either one. Now, with tracing
 * on, the static ones are left out (the injected context wins) and the worker names them in its start warning; with
 * tracing off nothing injects, so a static `tracestate` is sent, and `traceparent` is the event's stored one, as
 * before. A static header named like one the forwarder signs with (`Webhook-Signature`) is never sent beside the
 * forwarder's own, tracing on or off. Checked on the header lines as they arrive (`req.rawHeaders`).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpSink, type SinkRequest } from '../support/http-sink.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { freePort, ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { OtlpTraceReceiver } from './support/otlp-receiver.js';

const STRIPE_SECRET = 'whsec_static_trace_headers';
const STATIC_TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const STATIC_TRACESTATE = 'static=1';
const STATIC_SIGNATURE = 'v1,c3RhdGljLXNpZ25hdHVyZQ==';
const CALLER_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = /^00-[\da-f]{32}-[\da-f]{16}-0[01]$/;

let db: TestDatabase;
let ns: TestQueueNamespace;
let routes: TempRoutesFile;
let receiver: OtlpTraceReceiver;
const sink = new HttpSink();
let service: ServiceProcess | undefined;

beforeAll(async () => {
  [db, receiver] = await Promise.all([createTestDatabase(), new OtlpTraceReceiver().start(), sink.start()]);
  ns = createQueueNamespace();
  routes = writeRoutesFile({
    destinations: {
      billing: {
        url: `${sink.url}/billing`,
        secret: 'whsec_ZGVtby1kZXN0aW5hdGlvbi1zZWNyZXQtMTIzNDU2Nzg=',
        headers: { Traceparent: STATIC_TRACEPARENT, tracestate: STATIC_TRACESTATE, 'Webhook-Signature': STATIC_SIGNATURE, 'X-Team': 'billing' },
      },
    },
    routes: [{ provider: 'stripe', to: ['billing'] }],
  });
});

afterAll(async () => {
  await service?.kill();
  await sink.stop();
  await receiver?.stop();
  routes?.remove();
  await ns?.cleanup();
  await db?.drop();
});

async function start(tracing: boolean): Promise<ServiceProcess> {
  await service?.kill();
  service = new ServiceProcess(
    {
      SERVICE_ROLE: 'all',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      ROUTES_FILE: routes.path,
      POD_DELETION_COST_ENABLED: 'false',
      ...(tracing ? { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '50' } : {}),
    },
    await freePort(),
    { preloadTelemetry: tracing },
  );
  return service.start();
}

/** Posts one event (with the caller's trace context when `callerTrace`) and returns what the destination received. */
async function deliver(id: string, callerTrace: boolean): Promise<SinkRequest> {
  const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id });
  const trace: Record<string, string> = callerTrace ? { traceparent: `00-${CALLER_TRACE_ID}-00f067aa0ba902b7-01`, tracestate: 'caller=1' } : {};
  const response = await postWebhook(service!.baseUrl, 'stripe', body, { ...headers, ...trace });
  expect(response.status).toBe(202);
  const eventId = String(response.json!.id);
  return waitFor(`the destination to receive ${id}`, () => sink.requestsFor(eventId)[0], { timeoutMs: 30_000 });
}

/** The values of every header line named `name` (any case), as sent. */
function lines(request: SinkRequest, name: string): string[] {
  return request.rawHeaders.flatMap((value, i) => (i % 2 === 0 && value.toLowerCase() === name ? [request.rawHeaders[i + 1]!] : []));
}

function startWarnings(process: ServiceProcess) {
  return process.jsonLogs().filter((line) => typeof line.message === 'string' && line.message.startsWith('static headers a delivery sets itself'));
}

describe('static trace-context and signature headers of an HTTP destination', () => {
  it('with tracing on, only the injected traceparent and tracestate are sent, and the start warning names the static ones', async () => {
    const running = await start(true);
    const request = await deliver('evt_static_trace_on', true);

    const traceparents = lines(request, 'traceparent');
    expect(traceparents).toHaveLength(1);
    expect(traceparents[0]).toMatch(TRACEPARENT);
    // The caller's trace, continued by the delivery's span.
    expect(traceparents[0]).toContain(CALLER_TRACE_ID);
    expect(lines(request, 'tracestate')).toEqual(['caller=1']);
    const signatures = lines(request, 'webhook-signature');
    expect(signatures).toHaveLength(1);
    expect(signatures[0]).not.toBe(STATIC_SIGNATURE);
    expect(lines(request, 'x-team')).toEqual(['billing']);

    expect(startWarnings(running)).toEqual([
      expect.objectContaining({ level: 'warn', destination: 'billing', headers: ['Traceparent', 'tracestate', 'Webhook-Signature'] }),
    ]);
  }, 120_000);

  it('with tracing off, the event\'s stored traceparent and the static tracestate are sent, each once', async () => {
    const running = await start(false);
    const request = await deliver('evt_static_trace_off', false);

    const traceparents = lines(request, 'traceparent');
    expect(traceparents).toHaveLength(1);
    expect(traceparents[0]).toMatch(TRACEPARENT);
    expect(traceparents[0]).not.toBe(STATIC_TRACEPARENT);
    expect(lines(request, 'tracestate')).toEqual([STATIC_TRACESTATE]);
    const signatures = lines(request, 'webhook-signature');
    expect(signatures).toHaveLength(1);
    expect(signatures[0]).not.toBe(STATIC_SIGNATURE);
    expect(lines(request, 'x-team')).toEqual(['billing']);

    expect(startWarnings(running)).toEqual([expect.objectContaining({ level: 'warn', destination: 'billing', headers: ['Webhook-Signature'] })]);
  }, 120_000);
});
