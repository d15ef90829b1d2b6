import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { gzipSync } from 'node:zlib';
import { startInProcessIngress, type InProcessIngress } from '../support/in-process-ingress.js';
import { signedStripeRequest } from '../support/signing.js';

/**
 * The ingress's body budget (BodyMemoryBudget) is MAX_BODY_BYTES x DATABASE_POOL_SIZE / 2, at least twice
 * MAX_BODY_BYTES, and a compressed body first takes a decoder's 64 KiB from it (encoded-body.ts, DECODER_BYTES).
 * Its own doc says "one must always fit, with its decoder"; it does not when the budget is under 64 KiB plus the
 * body: MAX_BODY_BYTES=4096 with the default pool of 20 gives a 40 KiB budget, so every compressed webhook, however
 * small, is refused 503 (Retry-After: 5, outcome overloaded) on an idle ingress, for ever: the provider retries until
 * it gives up. Before the budget the same request was 202. (Also MAX_BODY_BYTES=32768 with DATABASE_POOL_SIZE<=4: a
 * 64 KiB budget, the decoder takes all of it, and the first inflated byte is refused.)
 */
const SECRET = 'whsec_small_limit_budget';
let app: InProcessIngress;

beforeAll(async () => {
  app = await startInProcessIngress({ STRIPE_WEBHOOK_SECRET: SECRET, MAX_BODY_BYTES: '4096', LOG_LEVEL: 'warn' });
});

afterAll(async () => {
  await app?.stop();
});

describe('a small MAX_BODY_BYTES: the body budget still takes one compressed body of that size', () => {
  it('accepts a correctly signed gzip webhook far under the limit on an idle ingress (observed: 503 every time)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const request = signedStripeRequest(SECRET, { id: `evt_small_limit_gzip_${i}` });
      expect(request.body.length).toBeLessThan(1024);
      const response = await fetch(`${app.baseUrl}/webhooks/stripe`, {
        method: 'POST',
        body: gzipSync(request.body),
        headers: { ...request.headers, 'content-encoding': 'gzip' },
      });
      await response.text();
      statuses.push(response.status);
    }
    // The same webhooks, sent uncompressed, are taken: nothing else is holding the budget.
    const plain = signedStripeRequest(SECRET, { id: 'evt_small_limit_plain' });
    expect((await fetch(`${app.baseUrl}/webhooks/stripe`, { method: 'POST', body: plain.body, headers: plain.headers })).status).toBe(202);
    expect(statuses).toEqual([202, 202, 202]);
  });
});
