/**
 * PayPal's certificate host answering 408 Request Timeout: the host gave up waiting (on its side, or a proxy in
 * front of it did), which says nothing about the certificate URL. It is a host that cannot answer now, like a 5xx
 * or a 429: the webhook is answered 503 with Retry-After (PayPal retries), nothing is counted as a failed
 * verification, and the URL is not remembered as refused, so PayPal's retry downloads the certificate again and,
 * once the host answers, is accepted.
 *
 * Before: a 408 was taken as the host's verdict on the URL (a 4xx), the genuine event answered 401 "certificate
 * rejected", and the URL remembered as refused for 5 minutes: every retry meanwhile was a 401 without a download.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PaypalFixture } from '../../support/paypal-fixture.js';
import { startPaypalIngress } from '../../support/paypal-ingress.js';
import type { InProcessService } from '../../support/service-harness.js';
import { postWebhook } from '../../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../../support/test-redis.js';

const PAYPAL_WEBHOOK_ID = 'WH-HOST-TIMEOUT-TEST';

let db: TestDatabase;
let ns: TestQueueNamespace;
let paypal: PaypalFixture;
let app: InProcessService;
/** An allowed certificate host (trusted TLS): answers 408 while `timingOut`, else the signing certificate. */
let certificateHost: Server;
let certificateHostPort = 0;
let timingOut = true;
let downloads = 0;

beforeAll(async () => {
  [db, paypal] = await Promise.all([createTestDatabase(), new PaypalFixture().start()]);
  ns = createQueueNamespace();
  const signingCertificate = readFileSync(join(paypal.dir, 'signing.crt'), 'utf8');
  certificateHost = createServer({ key: readFileSync(join(paypal.dir, 'tls.key')), cert: readFileSync(join(paypal.dir, 'tls.crt')) }, (_req, res) => {
    downloads++;
    if (timingOut) {
      res.writeHead(408, { connection: 'close' });
      res.end('request timeout');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-pem-file' });
    res.end(signingCertificate);
  });
  await new Promise<void>((resolve) => certificateHost.listen(0, '127.0.0.1', resolve));
  certificateHostPort = (certificateHost.address() as AddressInfo).port;
  app = await startPaypalIngress(paypal, { db, ns }, {
    PAYPAL_WEBHOOK_ID,
    PAYPAL_CERT_HOSTS: `localhost:${certificateHostPort}`,
  });
});

afterAll(async () => {
  await app?.stop();
  if (certificateHost) {
    certificateHost.closeAllConnections();
    await new Promise<void>((resolve) => certificateHost.close(() => resolve()));
  }
  await paypal?.stop();
  await ns?.cleanup();
  await db?.drop();
});

describe('PayPal certificate host answering 408 Request Timeout', () => {
  it('is a host that cannot answer now: 503 with Retry-After, the URL not remembered, the retry accepted once the host answers', async () => {
    const certUrl = `https://localhost:${certificateHostPort}/v1/notifications/certs/CERT-408-timeout`;
    const body = JSON.stringify({ id: 'WH-HOST-TIMEOUT-1', event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: {} });

    const send = () => postWebhook(app.baseUrl, 'paypal', body, paypal.headers(body, PAYPAL_WEBHOOK_ID, undefined, certUrl));

    const first = await send();
    const afterFirst = downloads;
    // Still timing out: the next request downloads again (a URL remembered as refused would be a 401 with none).
    const second = await send();
    const afterSecond = downloads;
    // The host answers again: PayPal's retry (a new transmission) is verified and stored.
    timingOut = false;
    const retry = await send();

    // All observations at once, so a failure shows the whole sequence.
    expect({
      first: { status: first.status, retryAfter: first.headers.get('retry-after'), statusCode: first.json?.statusCode },
      second: { status: second.status, downloads: afterSecond - afterFirst },
      retry: { status: retry.status, duplicate: retry.json?.duplicate, downloads: downloads - afterSecond },
    }).toEqual({
      first: { status: 503, retryAfter: expect.stringMatching(/^\d+$/), statusCode: 503 },
      second: { status: 503, downloads: 1 },
      retry: { status: 202, duplicate: false, downloads: 1 },
    });
  });
});
