import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpSink } from '../support/http-sink.js';
import { startRoutedService, type RoutedService } from '../support/routed-service.js';
import { postWebhook, stripeSignature } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';

// A transform's result had no size bound: one that builds a body far larger than any the service accepts (a
// `$pad("x", 300000000)` held ~900 MB in one JSONata step) was written out and sent to the destination, and at its
// worst OOM-killed the worker on every retry. The worker now bounds a transform's result by MAX_BODY_BYTES, the
// largest body it accepts (README, Routing: "Limits of transforms"): a larger one is the destination's failed
// attempt with the reason in lastError, retried and dead-lettered like any failing transform, and nothing is sent.

const STRIPE_SECRET = 'whsec_transform_bound_test';
const sfx = `${process.pid}_${Date.now()}`;

let service: RoutedService | undefined;
const sink = new HttpSink();

beforeAll(async () => {
  await sink.start();
  service = await startRoutedService(
    {
      destinations: { billing: { url: `${sink.url}/billing` }, echo: { url: `${sink.url}/echo` } },
      routes: [
        { provider: 'stripe', transform: '{ "a": data, "b": data, "c": data }', to: ['billing'] },
        { provider: 'stripe', transform: '{ "id": id }', to: ['echo'] },
      ],
    },
    { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET, MAX_BODY_BYTES: '2048', JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '20' },
  );
});

afterAll(async () => {
  await service?.stop();
  await sink.stop();
});

describe('a transform whose result is larger than MAX_BODY_BYTES', () => {
  it('is the destination\'s failed attempt naming the limit, nothing sent; other destinations get theirs', async () => {
    const id = `evt_bound_${sfx}`;
    const body = JSON.stringify({ id, object: 'event', type: 'charge.succeeded', data: { note: 'x'.repeat(1000) } });
    const response = await postWebhook(service!.app.baseUrl, 'stripe', body, { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, STRIPE_SECRET) });
    expect(response.status).toBe(202);
    const eventId = String(response.json!.id);
    const row = await waitFor(`event ${eventId} to end`, async () => {
      const { rows } = await service!.db.pool.query('SELECT status, last_error FROM webhook_events WHERE id = $1', [eventId]);
      return ['COMPLETED', 'DEAD_LETTER'].includes(rows[0]?.status) ? (rows[0] as { status: string; last_error: string | null }) : undefined;
    });
    expect({ status: row.status, lastError: row.last_error }).toEqual({
      status: 'DEAD_LETTER',
      lastError: "billing: transform of routes.0 failed: JSONata: the transform's result as JSON is over 2048 bytes, the largest body a transform may send (MAX_BODY_BYTES); nothing is sent",
    });
    expect(sink.requests.filter((request) => request.path === '/billing' && request.headers['webhook-id'] === eventId)).toEqual([]);
    expect(sink.requestsFor(eventId).map((request) => [request.path, request.body.toString('utf8')])).toEqual([['/echo', JSON.stringify({ id })]]);
  });
});
