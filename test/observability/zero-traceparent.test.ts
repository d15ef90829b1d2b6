/**
 * Tracing off (the chart's default). The request's trace id comes from the caller's `traceparent` when it sent one;
 * W3C Trace Context says an all-zero trace id is invalid and the header must then be ignored (a new trace started).
 * requestContextFor's pattern takes any 32 hex digits, zeros included (stored-traceparent.ts, on the same request,
 * refuses them), so every request from a client that sends the all-zero header (a misconfigured proxy or SDK stub) is
 * logged, answered and stored under the one trace id 000…0: the error body's `traceId`, the access lines, the
 * event's trace_id (the console's trace link), and nothing ties the worker's lines to the request any more.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { HttpSink } from '../support/http-sink.js';
import type { ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import { startStripeSinkService } from '../support/stripe-sink-service.js';
import type { TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';

const STRIPE_SECRET = 'whsec_zero_traceparent_test';
const ZERO_TRACEPARENT = '00-00000000000000000000000000000000-1111111111111111-01';
const TRACE_ID = /^(?!0{32})[\da-f]{32}$/;

let db: TestDatabase;
let sink: HttpSink;
let service: ServiceProcess;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, sink, service, stop } = await startStripeSinkService({ env: { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET } }));
}, 90_000);

afterAll(async () => {
  await stop?.();
});

describe('tracing off, a caller sending the invalid all-zero traceparent', () => {
  it('gets a trace id of its own per request, not 000…0 shared by all', async () => {
    const { body } = signedStripeRequest(STRIPE_SECRET, { id: 'evt_zero_trace_bad_sig' });
    const refused = await postWebhook(service.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00', traceparent: ZERO_TRACEPARENT });
    expect(refused.status).toBe(401);

    const accepted = signedStripeRequest(STRIPE_SECRET, { id: 'evt_zero_trace_ok', type: 'invoice.paid' });
    const response = await postWebhook(service.baseUrl, 'stripe', accepted.body, { ...accepted.headers, traceparent: ZERO_TRACEPARENT });
    expect(response.status).toBe(202);
    const eventId = String(response.json!.id);
    await waitFor('the event to be delivered', () => sink.requestsFor(eventId)[0]);
    const jobLine = await waitFor('the worker line', () => service.jsonLogs().find((line) => line.message === 'event completed' && line.eventId === eventId));
    const requestLine = service.jsonLogs().find((line) => line.message === 'request' && line.eventId === eventId);
    const { rows } = await db.pool.query<{ trace_id: string | null }>('SELECT trace_id FROM webhook_events WHERE id = $1', [eventId]);

    expect({
      errorBodyTraceId: refused.json!.traceId,
      requestLineTraceId: requestLine?.traceId,
      storedTraceId: rows[0]?.trace_id,
      workerLineTraceId: jobLine.traceId,
    }).toEqual({
      errorBodyTraceId: expect.stringMatching(TRACE_ID),
      requestLineTraceId: expect.stringMatching(TRACE_ID),
      storedTraceId: expect.stringMatching(TRACE_ID),
      // The worker's lines join the request's (README: they carry the request's correlationId and traceId).
      workerLineTraceId: requestLine?.traceId,
    });
  }, 60_000);
});
