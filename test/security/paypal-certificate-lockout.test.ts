/**
 * "A forged flood cannot lock real senders out", for PayPal: the one provider whose verification needs a download
 * (the signing certificate named by the unsigned PAYPAL-CERT-URL header) before any signature can be checked.
 *
 * - One client, already past its failed-verification budget, keeps naming fresh certificate URLs: every forgery
 *   still costs a download, and 16 of them hold every download slot, so PayPal's genuine events whose certificate
 *   is not cached yet (after a restart, a deploy, the 24 h cache expiry) are answered 503 for as long as the flood
 *   lasts.
 * - A genuine event whose certificate download fails for a transient reason (the certificate host answers 5xx)
 *   is answered 401 "certificate rejected" and counted as a failed verification, where nothing about its
 *   signature is known: it is a dependency outage (503), as the download-slot refusal already is.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PaypalFixture } from '../support/paypal-fixture.js';
import { startPaypalIngress } from '../support/paypal-ingress.js';
import type { InProcessService } from '../support/service-harness.js';
import { postWebhook } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const PAYPAL_WEBHOOK_ID = 'WH-LOCKOUT-TEST';
const FAILURE_LIMIT = 3;
const FORGER = '198.51.100.66';
const PAYPAL_EGRESS = '173.0.80.1';

let db: TestDatabase;
let ns: TestQueueNamespace;
let paypal: PaypalFixture;
let app: InProcessService;
/** An allowed certificate host (trusted TLS) in an outage: answers every download with 503. */
let outageHost = '';

beforeAll(async () => {
  [db, paypal] = await Promise.all([createTestDatabase(), new PaypalFixture().start()]);
  ns = createQueueNamespace();
  outageHost = await paypal.certificateHost((_req, res) => {
    res.writeHead(503, { 'retry-after': '1' });
    res.end('maintenance');
  });
  app = await startPaypalIngress(paypal, { db, ns }, {
    PAYPAL_WEBHOOK_ID,
    PAYPAL_CERT_HOSTS: [paypal.host, outageHost].join(','),
    VERIFICATION_FAILURE_LIMIT_PER_MINUTE: String(FAILURE_LIMIT),
    // The test's clients reach the ingress through a (loopback) proxy that names them in X-Forwarded-For.
    TRUST_PROXY: 'loopback',
  });
});

afterAll(async () => {
  await app?.stop();
  await paypal?.stop();
  await ns?.cleanup();
  await db?.drop();
});

let counter = 0;
/** A forgery (no key: a junk signature) naming `certUrl`, from the forger's address (or `from`). */
function forge(certUrl: string, from = FORGER) {
  const body = JSON.stringify({ id: `WH-FORGED-${++counter}`, event_type: 'PAYMENT.CAPTURE.COMPLETED' });
  const headers = {
    ...paypal.headers(body, PAYPAL_WEBHOOK_ID, undefined, certUrl),
    'paypal-transmission-sig': Buffer.alloc(256, counter % 256).toString('base64'),
    'x-forwarded-for': from,
  };
  return postWebhook(app.baseUrl, 'paypal', body, headers);
}

/** A genuine PayPal event, from PayPal's address (or `from`), signed with the certificate at `certUrl`. */
function genuine(certUrl: string, from = PAYPAL_EGRESS) {
  const body = JSON.stringify({ id: `WH-GENUINE-${++counter}`, event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: {} });
  return postWebhook(app.baseUrl, 'paypal', body, { ...paypal.headers(body, PAYPAL_WEBHOOK_ID, undefined, certUrl), 'x-forwarded-for': from });
}

describe('PayPal certificate downloads under a forged flood from one client', () => {
  it('a client past its failure budget cannot hold the download slots: a genuine event with an uncached certificate is accepted', async () => {
    // The forger spends its budget (and one more: 429) with quick forgeries.
    const spent = [];
    for (let i = 0; i <= FAILURE_LIMIT; i++) spent.push((await forge(`https://${paypal.host}/v1/notifications/certs/CERT-quick-${i}`)).status);
    expect(spent.at(-1)).toBe(429);

    // Then it keeps going, each forgery naming a fresh (slow) certificate URL.
    const flood = Array.from({ length: 16 }, (_, i) => forge(`https://${paypal.host}/v1/notifications/certs/slow/CERT-flood-${i}`));
    // Until the flood is answered, or holds every download slot (today's behaviour), whichever comes first.
    await Promise.race([Promise.all(flood), waitFor('the flood to hold every download slot', async () => paypal.slowDownloads >= 16)]);

    // PayPal's genuine event, signed with a certificate this process has not cached yet.
    const answer = await genuine(`https://${paypal.host}/v1/notifications/certs/CERT-rotated-1`);
    const forged = await Promise.all(flood);

    expect(forged.every((r) => r.status === 429)).toBe(true);
    // Observed today: 503 "Signing certificates cannot be fetched now" — and the same for every retry while the flood
    // lasts — because the over-budget forger still triggered 16 downloads.
    expect({ status: answer.status, overBudgetForgerHeldEverySlot: paypal.slowDownloads >= 16 }).toEqual({
      status: 202,
      overBudgetForgerHeldEverySlot: false,
    });
  });
});

describe("PayPal certificate downloads: one client's share", () => {
  it('a client gets at most 2 downloads at once; its further requests needing one get 503 without a download, others are served', async () => {
    const client = '198.51.100.77';
    const before = paypal.slowDownloads;
    const forged = [1, 2].map((i) => forge(`https://${paypal.host}/v1/notifications/certs/slow/CERT-share-${i}`, client));
    await waitFor('the client to hold its two download slots', async () => paypal.slowDownloads >= before + 2);
    const third = await forge(`https://${paypal.host}/v1/notifications/certs/slow/CERT-share-3`, client);
    // Meanwhile PayPal's event needing another certificate gets its own download.
    const answer = await genuine(`https://${paypal.host}/v1/notifications/certs/CERT-share-paypal`);
    expect({ third: third.status, ratelimit: third.headers.get('ratelimit'), paypal: answer.status }).toEqual({ third: 503, ratelimit: null, paypal: 202 });
    expect((await Promise.all(forged)).map((r) => r.status)).toEqual([401, 401]);
    expect(paypal.slowDownloads).toBe(before + 2);
  });

  it('an address past its failure budget still has its correctly signed events accepted when their certificate is at hand; one needing a download is answered 429 (retried later)', async () => {
    // PayPal and a forger behind one address (a shared proxy).
    const shared = '198.51.100.88';
    const certUrl = `https://${paypal.host}/v1/notifications/certs/CERT-shared-cached`;
    expect((await genuine(certUrl)).status).toBe(202);
    for (let i = 0; i <= FAILURE_LIMIT; i++) await forge(certUrl, shared);
    expect((await forge(certUrl, shared)).status).toBe(429);

    expect((await genuine(certUrl, shared)).status).toBe(202);
    const uncached = await genuine(`https://${paypal.host}/v1/notifications/certs/CERT-shared-uncached`, shared);
    expect({ status: uncached.status, retryAfter: uncached.headers.get('retry-after') !== null }).toEqual({ status: 429, retryAfter: true });
  });
});

describe('PayPal certificate host outage', () => {
  it('a genuine event whose certificate cannot be downloaded now is answered 503 (retry), not 401, and not counted as a failed verification', async () => {
    const answer = await genuine(`https://${outageHost}/v1/notifications/certs/CERT-during-outage`);
    // Observed today: 401 "Webhook signing certificate rejected", RateLimit headers (one failure counted against
    // PayPal's address) and outcome invalid_signature.
    expect({ status: answer.status, ratelimit: answer.headers.get('ratelimit') }).toEqual({ status: 503, ratelimit: null });
  });
});
