import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startRoutedService, type RoutedService } from '../support/routed-service.js';
import type { InProcessService } from '../support/service-harness.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import type { TestDatabase } from '../support/test-database.js';
import { waitFor } from '../support/wait-for.js';
import { JetStreamTap, NATS_URL, uniqueSuffix } from './support/broker-taps.js';

// A transform whose result holds a number JSON cannot carry (Infinity or NaN: a division by a payload's zero) is a
// transform that failed for this event (README, Routing: "A transform that fails for an event … is a failed attempt
// with JSONata's error in lastError"; JSONata itself refuses to serialise them: `$string(1/0)` is error D3001). The
// worker's JSON.stringify turns them into `null` instead, and the event is COMPLETED with a body that says the value
// is null: the consumer gets wrong data, and nothing records that anything went wrong.

const STRIPE_SECRET = 'whsec_non_finite_test';
const sfx = uniqueSuffix();
const names = { stream: `NONFINITE_${sfx}`, subjectPrefix: `nonfinite-${sfx}` };

let db: TestDatabase;
let app: InProcessService;
let service: RoutedService | undefined;
let jetstream: JetStreamTap;

beforeAll(async () => {
  jetstream = await JetStreamTap.open();
  await jetstream.createStream(names.stream, [`${names.subjectPrefix}.>`]);
  service = await startRoutedService(
    {
      destinations: { stream: { type: 'nats', url: NATS_URL, subject: `${names.subjectPrefix}.{eventType}` } },
      routes: [{ provider: 'stripe', transform: '{ "id": id, "unitPrice": data.object.amount / data.object.quantity }', to: ['stream'] }],
    },
    { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '20' },
  );
  ({ db, app } = service);
});

afterAll(async () => {
  await service?.stop();
  await jetstream?.close();
});

describe('a transform whose result is a number JSON cannot carry', () => {
  it('(a division by zero: Infinity) is a failed transform, not a message saying null', async () => {
    const body = JSON.stringify({ id: `evt_nonfinite_${sfx}`, object: 'event', type: 'charge.succeeded', data: { object: { amount: 1200, quantity: 0 } } });
    const response = await postWebhook(app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
    expect(response.status).toBe(202);
    const id = String(response.json!.id);
    const row = await waitFor(`event ${id} to end`, async () => {
      const { rows } = await db.pool.query('SELECT status, last_error FROM webhook_events WHERE id = $1', [id]);
      return ['COMPLETED', 'DEAD_LETTER'].includes(rows[0]?.status) ? (rows[0] as { status: string; last_error: string | null }) : undefined;
    });
    const stored = (await jetstream.messagesFor(names.stream, id)).map((message) => Buffer.from(message.data).toString('utf8'));
    // What happens: COMPLETED, and the stream holds {"id":"evt_…","unitPrice":null}.
    expect({ stored, status: row.status }).toEqual({ stored: [], status: 'DEAD_LETTER' });
    expect(row.last_error).toMatch(/^stream: transform of routes\.0 failed: /);
  });
});
