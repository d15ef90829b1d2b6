/**
 * "Secrets, signatures and payloads are never logged" (README, Observability) — and spans are held to the same rule.
 * A route transform that fails on an event's payload records JSONata's error text in the attempt's error, the
 * worker's warn lines and the deliver/process spans' status. Several JSONata messages quote the offending payload
 * value ("Unable to cast value to a number: {{value}}", "The values {{value}} and {{value2}} either side of operator
 * …"), so the payload's data ends up in the logs, the exported spans and PostgreSQL's last_error.
 *
 * A real service process with tracing on (OTLP gRPC to a receiver started here) takes a signed Stripe event whose
 * field a route's `$number()` cannot cast.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ServiceProcess } from '../support/service-process.js';
import { postWebhook, signedStripeRequest } from '../support/signing.js';
import type { TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';
import type { OtlpTraceReceiver } from './support/otlp-receiver.js';
import { startTracedStripeSinkService } from './support/traced-service.js';

const STRIPE_SECRET = 'whsec_transform_payload_test';
/** A payload value (think: a customer's e-mail or a card holder's name) that must stay out of logs and spans. */
const PAYLOAD_VALUE = `customer-${randomBytes(6).toString('hex')}@example.com`;

let db: TestDatabase;
let receiver: OtlpTraceReceiver;
let service: ServiceProcess;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, receiver, service, stop } = await startTracedStripeSinkService({
    env: { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, JOB_BACKOFF_MS: '600000' },
    destination: 'billing',
    // A route author's everyday transform: a field expected to be numeric.
    transform: '{"amount": $number(data.amount), "id": $id}',
  }));
}, 90_000);

afterAll(async () => {
  await stop?.();
});

describe('a route transform failing on an event', () => {
  it("keeps the payload's values out of the log lines, the exported spans and the stored error", async () => {
    // The sender put a non-number where the route expects one (a data error, the very case transforms fail on).
    const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: 'evt_transform_leak', type: 'invoice.paid', data: { amount: PAYLOAD_VALUE } });
    const response = await postWebhook(service.baseUrl, 'stripe', body, headers);
    expect(response.status).toBe(202);
    const eventId = String(response.json!.id);

    const failedLine = await waitFor('the transform failure to be logged', () =>
      service.jsonLogs().find((line) => line.message === 'route transform failed; recorded as a failed attempt' && line.eventId === eventId),
    );
    // The failure itself is reported (code and position are what an operator needs to fix the route)…
    expect(String(failedLine.error)).toContain('JSONata D3030');
    await waitFor('the failed deliver span to be exported', () =>
      receiver.spans.find((span) => span.name === 'webhook.deliver' && span.status.code === 'STATUS_CODE_ERROR' && receiver.trace(span.traceId).some((s) => s.attributes['webhook.event_id'] === eventId)),
    );
    const { rows } = await db.pool.query<{ last_error: string | null }>('SELECT last_error FROM webhook_events WHERE id = $1', [eventId]);

    // …but not the payload's data.
    expect(service.logs.filter((line) => line.includes(PAYLOAD_VALUE))).toEqual([]);
    expect(receiver.spans.filter((span) => JSON.stringify(span).includes(PAYLOAD_VALUE)).map((span) => `${span.name}: ${span.status.message}`)).toEqual([]);
    expect(rows[0]?.last_error ?? '').not.toContain(PAYLOAD_VALUE);
  }, 60_000);
});
