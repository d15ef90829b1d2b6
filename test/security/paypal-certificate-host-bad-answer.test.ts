/**
 * PayPal's certificate host (or a proxy or CDN before it) answering 200 with something that is no certificate (an
 * error page), or with a body over the 64 KiB limit: the host's failure, not the sender's forgery. Such a download
 * was taken as a refused certificate: 401 (a failed verification counted against PayPal's address) and the URL
 * remembered as refused for 5 minutes, so every genuine PayPal event signed with that certificate was refused for
 * those 5 minutes, retries included, without another download.
 *
 * - Error page or oversized body: 503 with Retry-After (PayPal retries), not counted (no RateLimit headers), not
 *   remembered: the next request downloads again, and once the host serves the certificate the event is accepted.
 * - A certificate that parses but cannot verify PayPal's signatures (not RSA) is the host's answer about this URL:
 *   still 401, and still remembered (the next request is refused without a download).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PaypalFixture } from '../support/paypal-fixture.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
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
      case 'recovering': // the error page once, then the certificate
        return count === 1 ? answer('text/html', errorPage) : answer('application/x-pem-file', signingCert);
      case 'ec': // a certificate, but no RSA key
        return answer('application/x-pem-file', ecCert);
      default:
        res.writeHead(404);
        return res.end();
    }
  });
  app = await startInProcessService(
    {
      SERVICE_ROLE: 'ingress',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      PAYPAL_WEBHOOK_ID,
      PAYPAL_CERT_HOSTS: hostName,
    },
    { paypalDispatcher: paypal.agent },
  );
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
  it('an error page: 503 with Retry-After, not counted, not remembered (the retry downloads again)', async () => {
    const first = await genuine('/error-page/CERT-1');
    const retry = await genuine('/error-page/CERT-1');
    // Observed before: 401 (counted) then 401 without a download (the URL remembered as refused for 5 minutes).
    expect({ first: seen(first), retry: seen(retry), downloads: downloads.get('/error-page/CERT-1') }).toEqual({
      first: unavailable,
      retry: unavailable,
      downloads: 2,
    });
  });

  it('a body over the size limit: 503 with Retry-After, not counted, not remembered', async () => {
    const first = await genuine('/big/CERT-2');
    const retry = await genuine('/big/CERT-2');
    expect({ first: seen(first), retry: seen(retry), downloads: downloads.get('/big/CERT-2') }).toEqual({
      first: unavailable,
      retry: unavailable,
      downloads: 2,
    });
  });

  it('once the host serves the certificate again, the retry of the event is accepted', async () => {
    const first = await genuine('/recovering/CERT-3');
    const retry = await genuine('/recovering/CERT-3');
    expect({ first: seen(first), retry: retry.status, downloads: downloads.get('/recovering/CERT-3') }).toEqual({
      first: unavailable,
      retry: 202,
      downloads: 2,
    });
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
