/**
 * PayPal's certificate host (or a proxy or CDN before it) answering 200 with something that is no certificate (an
 * error page), or with a body over the 64 KiB limit: the host's failure, not the sender's forgery. Such a download
 * was taken as a refused certificate: 401 (a failed verification counted against PayPal's address) and the URL
 * remembered as refused for 5 minutes, so every genuine PayPal event signed with that certificate was refused for
 * those 5 minutes, retries included, without another download.
 *
 * - Error page or oversized body: 503 with Retry-After (PayPal retries), not counted (no RateLimit headers), not
 *   remembered as refused. The URL is answered 503 without another download for a minute (NO_CERTIFICATE_TTL_MS):
 *   with PAYPAL_CERT_HOSTS set a forger can name any page of an allowed host that answers 200 with HTML, and each
 *   request naming it cost a download, never counted (found by review: 20 downloads a minute per address, for good).
 *   Once the minute is over it is downloaded again, and a host serving the certificate again has the event accepted
 *   (the unit test paypal-verifier, with a clock).
 * - A certificate that parses but cannot verify PayPal's signatures (not RSA) is the host's answer about this URL:
 *   still 401, and still remembered (the next request is refused without a download).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PaypalFixture } from '../support/paypal-fixture.js';
import { startPaypalIngress } from '../support/paypal-ingress.js';
import type { InProcessService } from '../support/service-harness.js';
import { postWebhook } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

const PAYPAL_WEBHOOK_ID = 'WH-BAD-ANSWER-TEST';

let db: TestDatabase;
let ns: TestQueueNamespace;
let paypal: PaypalFixture;
let app: InProcessService;
/** A certificate host whose answers depend on the path's first segment (see beforeAll). */
let hostName = '';
const downloads = new Map<string, number>();

beforeAll(async () => {
  [db, paypal] = await Promise.all([createTestDatabase(), new PaypalFixture().start()]);
  ns = createQueueNamespace();
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: paypal.dir, stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ec.key', '-out', 'ec.crt',
    '-days', '30', '-subj', '/CN=messageverificationcerts.paypal.com');
  const signingCert = readFileSync(join(paypal.dir, 'signing.crt'), 'utf8');
  const ecCert = readFileSync(join(paypal.dir, 'ec.crt'), 'utf8');
  const errorPage = '<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>';
  hostName = await paypal.certificateHost((req, res) => {
    const path = req.url ?? '';
    const count = (downloads.get(path) ?? 0) + 1;
    downloads.set(path, count);
    const answer = (contentType: string, body: string) => {
      res.writeHead(200, { 'content-type': contentType });
      res.end(body);
    };
    switch (path.split('/')[1]) {
      case 'error-page': // a proxy's error page, answered 200
        return answer('text/html', errorPage);
      case 'big': // the certificate, and then some: over the 64 KiB limit
        return answer('application/x-pem-file', signingCert + '\n'.repeat(70 * 1024));
      case 'good': // the certificate
        return answer('application/x-pem-file', signingCert);
      case 'ec': // a certificate, but no RSA key
        return answer('application/x-pem-file', ecCert);
      default:
        res.writeHead(404);
        return res.end();
    }
  });
  app = await startPaypalIngress(paypal, { db, ns }, {
    PAYPAL_WEBHOOK_ID,
    PAYPAL_CERT_HOSTS: hostName,
  });
});

afterAll(async () => {
  await app?.stop();
  await paypal?.stop();
  await ns?.cleanup();
  await db?.drop();
});

let counter = 0;
/** A genuine PayPal event signed with the fixture's key, naming the certificate at `path` on the host. */
function genuine(path: string) {
  const body = JSON.stringify({ id: `WH-BAD-ANSWER-${++counter}`, event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: {} });
  return postWebhook(app.baseUrl, 'paypal', body, paypal.headers(body, PAYPAL_WEBHOOK_ID, undefined, `https://${hostName}${path}`));
}

/** What the sender sees of an answer: its status, whether to retry, and whether it was counted as a failure. */
const seen = (r: Awaited<ReturnType<typeof genuine>>) => ({
  status: r.status,
  code: r.json?.['code'],
  retryAfter: r.headers.get('retry-after') !== null,
  counted: r.headers.get('ratelimit') !== null,
});
const unavailable = { status: 503, code: 'SERVICE_UNAVAILABLE', retryAfter: true, counted: false };

describe('PayPal certificate host answering 200 with no certificate', () => {
  it('an error page: 503 with Retry-After, not counted, and not downloaded again for a minute however often it is named', async () => {
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(seen(await genuine('/error-page/CERT-1')));
    // Observed before the 503: 401 (counted) then 401 without a download (the URL refused for 5 minutes). With the
    // 503 alone: ten downloads, none counted (what a forger naming such a page got, up to 20 a minute per address).
    expect({ answers, downloads: downloads.get('/error-page/CERT-1') }).toEqual({ answers: Array(10).fill(unavailable), downloads: 1 });
  });

  it('a body over the size limit: the same', async () => {
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(seen(await genuine('/big/CERT-2')));
    expect({ answers, downloads: downloads.get('/big/CERT-2') }).toEqual({ answers: Array(3).fill(unavailable), downloads: 1 });
  });

  it('another certificate URL of the same host is downloaded: the minute holds one URL, not the host', async () => {
    expect(seen(await genuine('/error-page/CERT-3'))).toEqual(unavailable);
    expect((await genuine('/good/CERT-3')).status).toBe(202);
  });

  it('a certificate that parses but has no RSA key is still refused (401, counted) and remembered', async () => {
    const first = await genuine('/ec/CERT-4');
    const again = await genuine('/ec/CERT-4');
    const refused = { status: 401, code: 'UNAUTHORIZED', retryAfter: false, counted: true };
    expect({ first: seen(first), again: seen(again), downloads: downloads.get('/ec/CERT-4') }).toEqual({
      first: refused,
      again: refused,
      downloads: 1,
    });
  });
});
