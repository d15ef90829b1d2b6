/**
 * Tracing end to end, as deployed: a real service process with the OpenTelemetry preload (`--import
 * instrumentation.ts`, ESM on Node 24), exporting over OTLP gRPC to a real gRPC receiver started here.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { HttpSink } from '../support/http-sink.js';
import type { ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';
import type { OtlpTraceReceiver, ReceivedSpan } from './support/otlp-receiver.js';
import { startTracedStripeSinkService } from './support/traced-service.js';

const STRIPE_SECRET = 'whsec_tracing_test_secret';
const POD_NAME = 'tracing-test-pod-0';

let receiver: OtlpTraceReceiver;
let sink: HttpSink;
let service: ServiceProcess;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ receiver, sink, service, stop } = await startTracedStripeSinkService({ env: { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, POD_NAME } }));
});

afterAll(async () => {
  await stop?.();
});

const TRACEPARENT = /^00-([\da-f]{32})-([\da-f]{16})-0[01]$/;

/** The chain of spans from `span` up to its trace's root, following parent ids. */
function ancestry(span: ReceivedSpan, spans: ReceivedSpan[]): ReceivedSpan[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const chain = [span];
  let current = span;
  while (current.parentSpanId && byId.has(current.parentSpanId)) {
    current = byId.get(current.parentSpanId)!;
    chain.push(current);
  }
  return chain;
}

function requestLogLine(logs: Record<string, unknown>[], predicate: (line: Record<string, unknown>) => boolean) {
  return logs.find((line) => line.message === 'request' && predicate(line));
}

describe('one trace per webhook, across ingress, queue, worker and destination', () => {
  it('connects receive → verify → store → enqueue → process → deliver, and continues in the forwarded traceparent', async () => {
    const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: 'evt_trace_1', type: 'invoice.paid' });
    const response = await postWebhook(service.baseUrl, 'stripe', body, headers);
    expect(response.status).toBe(202);
    const eventId = String(response.json!.id);

    // The destination got the event, with a traceparent.
    const forwarded = await waitFor('the sink to receive the event', () => sink.requestsFor(eventId)[0]);
    const traceparent = String(forwarded.headers.traceparent ?? '');
    expect(traceparent).toMatch(TRACEPARENT);
    const [, traceId, forwardedParentId] = TRACEPARENT.exec(traceparent)!;

    // Every span arrived over OTLP gRPC: wait for the last ones (the worker's) to be exported.
    const spans = await waitFor(
      'the trace to be exported',
      () => {
        const trace = receiver.trace(traceId!);
        const names = new Set(trace.map((span) => span.name));
        const forwarded = trace.some((span) => span.scope === '@opentelemetry/instrumentation-undici');
        return forwarded && names.has('webhook.deliver') && names.has('webhook.process') && names.has('webhook.enqueue') && names.has('POST /webhooks/:provider') ? trace : undefined;
      },
      { timeoutMs: 15_000 },
    );

    // One root: the HTTP server span, carrying what the request was about and how it ended.
    const roots = spans.filter((span) => !spans.some((other) => other.spanId === span.parentSpanId));
    expect(roots).toHaveLength(1);
    const server = roots[0]!;
    expect(server).toMatchObject({ name: 'POST /webhooks/:provider', kind: 'SPAN_KIND_SERVER', scope: '@opentelemetry/instrumentation-http' });
    expect(server.parentSpanId).toBe('');
    expect(server.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/webhooks/:provider',
      'http.response.status_code': 202,
      'webhook.provider': 'stripe',
      'webhook.event_id': eventId,
      'webhook.outcome': 'accepted',
    });
    // The event type is set by the ingress handler (on the server span or the express handler span beneath it).
    expect(spans.some((span) => span.scope !== 'event-driven-integration-service/worker' && span.attributes['webhook.event_type'] === 'invoice.paid')).toBe(true);

    // Resource: the service name and the role and pod attributes.
    expect(server.resource).toMatchObject({
      'service.name': 'event-driven-integration-service',
      'service.instance.id': POD_NAME,
      'k8s.pod.name': POD_NAME,
      'deployment.role': 'all',
    });

    const named = (name: string) => spans.filter((span) => span.name === name);
    const [verify] = named('webhook.verify');
    const [store] = named('webhook.store');
    const [processSpan] = named('webhook.process');
    const [deliver] = named('webhook.deliver');
    const [enqueue] = named('webhook.enqueue');
    expect(verify && store && enqueue && processSpan && deliver).toBeTruthy();
    expect(enqueue!.parentSpanId).toBe(server.spanId);
    expect(enqueue!.attributes['webhook.event_id']).toBe(eventId);

    // Instrumented libraries: the pg insert under webhook.store, pg in the worker. (A webhook takes the ingress's
    // direct path, not Express: its route is on the server span, asserted above.) The enqueue's Redis commands are
    // the batch's, in no request's trace (see the concurrent webhooks below).
    const pgUnderStore = spans.filter((span) => span.scope === '@opentelemetry/instrumentation-pg' && ancestry(span, spans).includes(store!));
    expect(pgUnderStore.some((span) => String(span.attributes['db.query.text'] ?? '').includes('INSERT'))).toBe(true);
    expect(spans.filter((span) => span.scope === '@opentelemetry/instrumentation-pg' && ancestry(span, spans).includes(processSpan!)).length).toBeGreaterThan(0);

    // Order of the story: every span descends from the server span; process hangs under the ingress request;
    // the delivery attempt under process, its HTTP request under it; the forwarded traceparent names that request.
    for (const span of spans) expect(ancestry(span, spans).at(-1)).toBe(server);
    expect(ancestry(verify!, spans)).toContain(server);
    expect(ancestry(processSpan!, spans)).toContain(server);
    expect(deliver!.parentSpanId).toBe(processSpan!.spanId);
    const forwardRequest = spans.find((span) => span.scope === '@opentelemetry/instrumentation-undici' && span.parentSpanId === deliver!.spanId);
    expect(forwardRequest).toMatchObject({ kind: 'SPAN_KIND_CLIENT', attributes: { 'http.request.method': 'POST', 'http.response.status_code': 200 } });
    expect(forwardedParentId).toBe(forwardRequest!.spanId);
    expect(processSpan!.attributes).toMatchObject({ 'webhook.event_id': eventId, 'webhook.provider': 'stripe', 'webhook.event_type': 'invoice.paid' });
    expect(deliver!.attributes).toMatchObject({ 'webhook.destination': 'sink', 'http.response.status_code': 200 });

    // Logs of this request and of its job carry the same trace id.
    const logs = await waitFor('the job outcome log line', () => {
      const lines = service.jsonLogs();
      return lines.some((line) => line.message === 'event completed' && line.eventId === eventId) ? lines : undefined;
    });
    const requestLine = requestLogLine(logs, (line) => line.eventId === eventId);
    expect(requestLine).toMatchObject({ traceId, statusCode: 202, provider: 'stripe', outcome: 'accepted', level: 'info', role: 'all', service: 'event-driven-integration-service' });
    expect(requestLine!.spanId).toMatch(/^[\da-f]{16}$/);
    expect(requestLine!.correlationId).toBe(response.headers.get('x-correlation-id'));
    const jobLine = logs.find((line) => line.message === 'event completed' && line.eventId === eventId);
    expect(jobLine).toMatchObject({ traceId, provider: 'stripe', eventType: 'invoice.paid' });
    expect(spans.map((span) => span.spanId)).toContain(jobLine!.spanId);
  });

  it("gives each of many concurrent webhooks its own enqueue span, and no trace another request's Redis commands", async () => {
    // Concurrent requests share an enqueue batch (one Redis pipeline for many events). Run in the first request's
    // context, the batch's commands all landed in that one trace and the others showed no enqueue at all.
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, index) => {
        const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: `evt_trace_batch_${index}`, type: 'invoice.paid' });
        return postWebhook(service.baseUrl, 'stripe', body, headers);
      }),
    );
    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 202));
    const eventIds = answers.map((answer) => String(answer.json!.id));
    const enqueues = await waitFor('an enqueue span for every event', () => {
      const spans = receiver.spans.filter((span) => span.name === 'webhook.enqueue' && eventIds.includes(String(span.attributes['webhook.event_id'])));
      return spans.length >= eventIds.length ? spans : undefined;
    }, { timeoutMs: 15_000 });
    expect(new Set(enqueues.map((span) => span.attributes['webhook.event_id'])).size).toBe(eventIds.length);
    for (const enqueue of enqueues) {
      const trace = receiver.trace(enqueue.traceId);
      const server = trace.find((span) => span.spanId === enqueue.parentSpanId);
      expect(server).toMatchObject({ kind: 'SPAN_KIND_SERVER', attributes: { 'webhook.event_id': enqueue.attributes['webhook.event_id'] } });
      expect(trace.filter((span) => span.name === 'webhook.enqueue')).toHaveLength(1);
      // Redis client spans that reach the server span other than through the worker's processing could only be an
      // enqueue batch's. (A worker span whose parents are not exported yet reaches no root, and is not counted.)
      const outsideProcessing = trace.filter((span) => {
        const chain = ancestry(span, trace);
        return span.scope === '@opentelemetry/instrumentation-ioredis' && chain.at(-1) === server && !chain.some((s) => s.name === 'webhook.process');
      });
      expect(outsideProcessing.map((span) => span.name)).toEqual([]);
    }
  });

  it('puts the real trace id in error responses and their log line (401)', async () => {
    const { body } = signedStripeRequest(STRIPE_SECRET, { id: 'evt_trace_bad_sig' });
    const response = await postWebhook(service.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' });
    expect(response.status).toBe(401);
    const traceId = String(response.json!.traceId);
    expect(traceId).toMatch(/^[\da-f]{32}$/);

    const server = await waitFor('the 401 server span', () => receiver.trace(traceId).find((span) => span.kind === 'SPAN_KIND_SERVER'));
    expect(server.attributes).toMatchObject({ 'http.response.status_code': 401, 'webhook.provider': 'stripe', 'webhook.outcome': 'invalid_signature' });
    const verify = await waitFor('the failed verify span', () => receiver.trace(traceId).find((span) => span.name === 'webhook.verify'));
    expect(verify.status.code).toBe('STATUS_CODE_ERROR');

    const line = await waitFor('the 401 request log line', () =>
      requestLogLine(service.jsonLogs(), (l) => l.correlationId === response.json!.correlationId),
    );
    expect(line).toMatchObject({ traceId, statusCode: 401, outcome: 'invalid_signature' });
  });

  it('redacts configured secrets in exported spans: a destination that echoes one in its error answer', async () => {
    // The destination answers 500 with the provider secret in its body: the deliver span's status carries that text.
    sink.behaviour = (request) => (request.body.includes('evt_trace_echo') ? { status: 500, body: `rejected, key ${STRIPE_SECRET}` } : { status: 200 });
    try {
      const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: 'evt_trace_echo', type: 'invoice.paid' });
      const response = await postWebhook(service.baseUrl, 'stripe', body, headers);
      expect(response.status).toBe(202);
      const eventId = String(response.json!.id);
      const deliver = await waitFor(
        'the failed deliver span',
        () => receiver.spans.find((span) => span.name === 'webhook.deliver' && span.status.code === 'STATUS_CODE_ERROR' && receiver.trace(span.traceId).some((s) => s.attributes['webhook.event_id'] === eventId)),
        { timeoutMs: 15_000 },
      );
      expect(deliver.status.message).toBe('HTTP 500: rejected, key [REDACTED]');
      const secretMaterial = STRIPE_SECRET.slice('whsec_'.length);
      expect(receiver.spans.filter((span) => JSON.stringify(span).includes(secretMaterial))).toEqual([]);
    } finally {
      sink.behaviour = () => ({ status: 200 });
    }
  });

  it("continues the caller's trace when the request carries a traceparent", async () => {
    const callerTraceId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: 'evt_trace_parented' });
    const response = await postWebhook(service.baseUrl, 'stripe', body, { ...headers, traceparent: `00-${callerTraceId}-1122334455667788-01` });
    expect(response.status).toBe(202);
    const server = await waitFor('the server span of the parented trace', () => receiver.trace(callerTraceId).find((span) => span.kind === 'SPAN_KIND_SERVER'));
    expect(server.parentSpanId).toBe('1122334455667788');
    const forwarded = await waitFor('the forwarded request', () => sink.requestsFor(String(response.json!.id))[0]);
    expect(String(forwarded.headers.traceparent)).toContain(callerTraceId);
  });

  it('exports no spans for probes and scrapes, and no pg/redis spans outside a trace', async () => {
    await fetch(`${service.baseUrl}/health/ready`);
    await fetch(`${service.baseUrl}/metrics`);
    await fetch(`${service.baseUrl}/health`);
    // Give the exporter a few schedule delays to send anything it would.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const probeSpans = receiver.spans.filter((span) =>
      [span.attributes['url.path'], span.attributes['http.route']].some((value) => /^\/(health|metrics)/.test(String(value ?? ''))),
    );
    expect(probeSpans).toEqual([]);
    // Health checks run `SELECT 1` and a Redis SET: with requireParentSpan they make no orphan traces.
    const orphanClientSpans = receiver.spans.filter((span) => span.parentSpanId === '' && span.kind === 'SPAN_KIND_CLIENT');
    expect(orphanClientSpans).toEqual([]);
  });
});
