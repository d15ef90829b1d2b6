/**
 * "Does a failed verification cost more than a good one?", for PayPal: the certificate URL is an unsigned header, so
 * anyone can make the ingress download one, and a forger naming a fresh URL per request gets a download each.
 *
 * A download the certificate host refuses for good (404: a made-up certificate id) is a failed verification, so a
 * forger reaches its failure budget, after which it gets no downloads. One the host cannot answer now (5xx, 429, a
 * timeout) is rightly not counted (it says nothing about the request), and so bounded nothing: a forger whose
 * made-up URLs met a certificate host in trouble (or one shedding the very load it sends: PayPal answering the
 * ingress 429) had a download made for every forgery, for as long as it liked, two at a time, never answered 429.
 *
 * Now one client starts at most MAX_DOWNLOADS_PER_CLIENT_PER_MINUTE downloads a minute, whatever they end in; its
 * further requests that would need one are answered 503 (retry later) without a download. PayPal's own events need one
 * download per certificate, and requests for a certificate being downloaded share it.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MAX_DOWNLOADS_PER_CLIENT_PER_MINUTE } from '../../services/ingress/verification/paypal-download-rate.js';
import { PaypalFixture } from '../support/paypal-fixture.js';
import { startPaypalIngress } from '../support/paypal-ingress.js';
import type { InProcessService } from '../support/service-harness.js';
import { postWebhook } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

const PAYPAL_WEBHOOK_ID = 'WH-DOWNLOAD-RATE-TEST';
const FORGER = '198.51.100.67';
const PAYPAL_EGRESS = '173.0.80.2';

let db: TestDatabase;
let ns: TestQueueNamespace;
let paypal: PaypalFixture;
let app: InProcessService;
/** An allowed certificate host (trusted TLS) that cannot answer now: 503 to every download, which it counts. */
let troubledHost = '';
let troubledDownloads = 0;

beforeAll(async () => {
  [db, paypal] = await Promise.all([createTestDatabase(), new PaypalFixture().start()]);
  ns = createQueueNamespace();
  troubledHost = await paypal.certificateHost((_req, res) => {
    troubledDownloads++;
    res.writeHead(503, { 'retry-after': '1' });
    res.end('maintenance');
  });
  app = await startPaypalIngress(paypal, { db, ns }, {
    PAYPAL_WEBHOOK_ID,
    PAYPAL_CERT_HOSTS: [paypal.host, troubledHost].join(','),
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
/** A forgery (a junk signature) naming `certUrl`, from the forger's address. */
function forge(certUrl: string) {
  const body = JSON.stringify({ id: `WH-FORGED-${++counter}`, event_type: 'PAYMENT.CAPTURE.COMPLETED' });
  const headers = {
    ...paypal.headers(body, PAYPAL_WEBHOOK_ID, undefined, certUrl),
    'paypal-transmission-sig': Buffer.alloc(256, counter % 256).toString('base64'),
    'x-forwarded-for': FORGER,
  };
  return postWebhook(app.baseUrl, 'paypal', body, headers);
}

describe('PayPal certificate downloads a client can ask for', () => {
  it('are bounded per minute even when the certificate host cannot answer (before: one per forgery, without end)', async () => {
    const forgeries = MAX_DOWNLOADS_PER_CLIENT_PER_MINUTE + 10;
    const statuses: number[] = [];
    for (let i = 0; i < forgeries; i++) {
      statuses.push((await forge(`https://${troubledHost}/v1/notifications/certs/CERT-made-up-${i}`)).status);
    }
    // Every one a 503 (retry later): the host's trouble, or the client's downloads spent; none a verdict.
    expect(new Set(statuses)).toEqual(new Set([503]));
    expect(troubledDownloads).toBe(MAX_DOWNLOADS_PER_CLIENT_PER_MINUTE);

    // PayPal's genuine event needing a download of its own (another client) is not held back by the forger's.
    const body = JSON.stringify({ id: 'WH-GENUINE-RATE', event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: {} });
    const genuine = await postWebhook(app.baseUrl, 'paypal', body, {
      ...paypal.headers(body, PAYPAL_WEBHOOK_ID, undefined, `https://${paypal.host}/v1/notifications/certs/CERT-rate-genuine`),
      'x-forwarded-for': PAYPAL_EGRESS,
    });
    expect(genuine.status).toBe(202);
  });
});
