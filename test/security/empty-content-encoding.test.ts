import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startInProcessIngress, type InProcessIngress } from '../support/in-process-ingress.js';
import { signedStripeRequest } from '../support/signing.js';

/**
 * A webhook whose `Content-Encoding` header is present but empty: no coding applied, the body is the signed bytes.
 * The route took it before it read compressed bodies itself (body-parser reads `'' || 'identity'`), and still does
 * when the body has arrived whole before the route runs (readRawBody's `req.complete` branch, body-parser again);
 * readEncodedBody, though, is given '' (`?? 'identity'` keeps an empty string) and answers 415 "Unsupported content
 * encoding": a correctly signed webhook refused for good (the provider retries it until it gives up).
 */
const SECRET = 'whsec_empty_content_encoding';
let app: InProcessIngress;

beforeAll(async () => {
  app = await startInProcessIngress({ STRIPE_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'warn' });
});

afterAll(async () => {
  await app?.stop();
});

describe('an empty Content-Encoding header is no coding, as before the route inflated bodies itself', () => {
  it('stores a correctly signed webhook sent with `Content-Encoding:` empty (observed: 415, was 202)', async () => {
    const request = signedStripeRequest(SECRET, { id: 'evt_empty_content_encoding' });
    const response = await fetch(`${app.baseUrl}/webhooks/stripe`, { method: 'POST', body: request.body, headers: { ...request.headers, 'content-encoding': '' } });
    const body = (await response.json()) as Record<string, unknown>;
    expect({ status: response.status, body }).toMatchObject({ status: 202, body: { status: 'PENDING', duplicate: false } });
    const stored = await app.db.pool.query('SELECT count(*)::int AS n FROM webhook_events WHERE external_id = $1', ['evt_empty_content_encoding']);
    expect(stored.rows[0].n).toBe(1);
  });
});
