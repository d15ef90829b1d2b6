/**
 * An event whose destination is paused (or over its rate limit, or behind an open circuit) waits: nothing is sent,
 * no attempt is used, nothing failed (README, Destination protection). Its `webhook.deliver` span says so without an
 * error (`webhook.waiting`, status unset) when there is one, but the `webhook.process` span ends with status ERROR and the
 * waiting note as its message, because EventProcessor.process marks every error it sees, the EventWaitingError that
 * only reschedules the job included. A paused destination or a rate limit then shows as failing traces in the
 * tracing UI, and in any error rate derived from span status (span metrics), though not one delivery failed.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { adminRequest } from '../support/admin-client.js';
import type { HttpSink } from '../support/http-sink.js';
import type { ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import type { TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';
import type { OtlpTraceReceiver } from './support/otlp-receiver.js';
import { startTracedStripeSinkService } from './support/traced-service.js';

const STRIPE_SECRET = 'whsec_waiting_span_test';
const ADMIN_TOKEN = 'waiting-span-admin-token-0123456789';

let db: TestDatabase;
let receiver: OtlpTraceReceiver;
let sink: HttpSink;
let service: ServiceProcess;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, receiver, sink, service, stop } = await startTracedStripeSinkService({
    env: { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, ADMIN_API_TOKEN: ADMIN_TOKEN },
    destination: 'billing',
  }));
}, 90_000);

afterAll(async () => {
  await stop?.();
});

describe('an event waiting for a paused destination', () => {
  it('leaves its webhook.process span without an error status (nothing failed)', async () => {
    const paused = await adminRequest(service.baseUrl, ADMIN_TOKEN, 'POST', '/admin/destinations/billing/pause');
    expect(paused.status).toBe(200);

    const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: 'evt_waiting_span', type: 'invoice.paid' });
    const response = await postWebhook(service.baseUrl, 'stripe', body, headers);
    expect(response.status).toBe(202);
    const eventId = String(response.json!.id);

    const processSpan = await waitFor('the process span of the waiting event', () =>
      receiver.spans.find((span) => span.name === 'webhook.process' && span.attributes['webhook.event_id'] === eventId),
    );
    // The event waits (PENDING, no attempt used) and nothing was sent.
    const { rows } = await db.pool.query<{ status: string; attempts: number; last_error: string | null }>('SELECT status, attempts, last_error FROM webhook_events WHERE id = $1', [eventId]);
    expect(rows[0]).toMatchObject({ status: 'PENDING', attempts: 0 });
    expect(rows[0]!.last_error).toContain('paused');
    expect(sink.requestsFor(eventId)).toHaveLength(0);
    // A wait is not a failure: the processing span must not say ERROR (as webhook.deliver does not when a delivery
    // is put off once it waited for a slot: `webhook.waiting`, status unset).
    expect(processSpan.status).not.toMatchObject({ code: 'STATUS_CODE_ERROR' });
    // It says why it waits instead (README, Observability).
    expect(String(processSpan.attributes['webhook.waiting'])).toContain('billing paused');
  }, 60_000);
});
