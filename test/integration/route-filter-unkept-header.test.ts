import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startRoutedService, type RoutedService } from '../support/routed-service.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';
import { JetStreamTap, NATS_URL, uniqueSuffix } from './support/broker-taps.js';

// README (Routing): filters run "over body, headers (the request headers kept with the event, lower-case), provider
// and eventType". Which headers are kept is written nowhere in README or CONTRACT: it is a fixed list in the ingress
// (user-agent, content-type, x-github-*, paypal-*, webhook-id, webhook-timestamp, x-request-id, and a provider's
// id/type headers). A filter on any other request header (a tenant header, `x-shopify-topic`, …) is accepted by
// ROUTES_FILE and then never matches: every event the route was meant to deliver is COMPLETED with nothing
// delivered, and nothing (log, metric, lastError) says why. Either the header must be there for the filter, or the
// start must refuse a filter on a header that is never kept.

const STRIPE_SECRET = 'whsec_unkept_header_test';
const sfx = uniqueSuffix();
const names = { stream: `UNKEPT_${sfx}`, subjectPrefix: `unkept-${sfx}` };

let service: RoutedService | undefined;
let startError: Error | undefined;
let jetstream: JetStreamTap;

beforeAll(async () => {
  jetstream = await JetStreamTap.open();
  await jetstream.createStream(names.stream, [`${names.subjectPrefix}.>`]);
  try {
    service = await startRoutedService(
      {
        destinations: { tenant: { type: 'nats', url: NATS_URL, subject: `${names.subjectPrefix}.{eventType}` } },
        routes: [{ provider: 'stripe', filter: { 'headers.x-tenant': 'acme' }, to: ['tenant'] }],
      },
      { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '20' },
    );
  } catch (error) {
    startError = error as Error;
  }
});

afterAll(async () => {
  await service?.stop();
  await jetstream?.close();
});

describe('a filter on a request header', () => {
  it('delivers the events whose header matches, or the start refuses the filter naming the header', async () => {
    if (startError) {
      expect(startError.message).toMatch(/x-tenant/);
      return;
    }
    const body = JSON.stringify({ id: `evt_unkept_${sfx}`, object: 'event', type: 'charge.succeeded', data: { object: { amount: 1 } } });
    const { db, app } = service!;
    const response = await postWebhook(app.baseUrl, 'stripe', body, {
      'content-type': 'application/json',
      'stripe-signature': stripeSignature(body, STRIPE_SECRET),
      'x-tenant': 'acme',
    });
    expect(response.status).toBe(202);
    const id = String(response.json!.id);
    const status = await waitFor(`event ${id} to end`, async () => {
      const { rows } = await db.pool.query('SELECT status FROM webhook_events WHERE id = $1', [id]);
      return ['COMPLETED', 'DEAD_LETTER'].includes(rows[0]?.status) ? String(rows[0].status) : undefined;
    });
    // What happens: COMPLETED, and the stream holds nothing: the filter saw no x-tenant header.
    expect({ status, delivered: (await jetstream.messagesFor(names.stream, id)).length }).toEqual({ status: 'COMPLETED', delivered: 1 });
  });
});
