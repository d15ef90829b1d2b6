/**
 * A PayPal signing certificate that is not valid yet by our clock: PayPal starts signing with a new certificate as
 * soon as it is valid by PayPal's clock, and ours may lag a few seconds (or minutes) behind. Such a certificate was
 * refused as "expired or not yet valid" (401, a failed verification) and its URL remembered as refused for 5
 * minutes, so every PayPal event signed with it was answered 401 for those 5 minutes, retries included, although
 * the certificate was valid seconds later.
 *
 * - Not valid yet by less than the clock-skew allowance (5 minutes): used, the event is accepted.
 * - Not valid yet by more: 503 with Retry-After (PayPal retries), never 401, and not remembered as refused; the
 *   certificate is kept, so retries cost no new download (see the unit test for its use once valid).
 *
 * The other end likewise: a certificate was refused from the very moment of its notAfter by our clock, which may be
 * ahead of PayPal's, while PayPal still signs with it until its own clock gets there (every such event a 401, and
 * the URL remembered as refused for 5 minutes). Now it is used until its notAfter plus the same allowance; past that
 * it is refused as before (401).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PaypalFixture } from '../support/paypal-fixture.js';
import { startPaypalIngress } from '../support/paypal-ingress.js';
import type { InProcessService } from '../support/service-harness.js';
import { postWebhook } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';

const PAYPAL_WEBHOOK_ID = 'WH-CLOCK-SKEW-TEST';

let db: TestDatabase;
let ns: TestQueueNamespace;
let paypal: PaypalFixture;
let app: InProcessService;
/** A certificate host serving the fixture's signing key in certificates whose notBefore lies ahead of now. */
let hostName = '';
const downloads = new Map<string, number>();

/** `openssl ca` date (YYYYMMDDHHMMSSZ) `offsetMs` from now. */
function opensslDate(offsetMs: number): string {
  return new Date(Date.now() + offsetMs).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** A certificate for the fixture's signing key, valid from `notBeforeMs` from now until `notAfterMs` from now (default: 30 days later). */
function certificate(name: string, notBeforeMs: number, notAfterMs = notBeforeMs + 30 * 24 * 3600_000): string {
  const dir = paypal.dir;
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  // `openssl req -x509` (OpenSSL 3.0) cannot set notBefore; `openssl ca -selfsign -startdate` can.
  writeFileSync(
    join(dir, `${name}.cnf`),
    [
      '[ca]', 'default_ca = own', '[own]', `database = ${name}.index`, 'new_certs_dir = .', `serial = ${name}.serial`,
      'default_md = sha256', 'policy = any', 'unique_subject = no', '[any]', 'commonName = supplied',
    ].join('\n'),
  );
  writeFileSync(join(dir, `${name}.index`), '');
  writeFileSync(join(dir, `${name}.serial`), '01\n');
  openssl('req', '-new', '-key', 'signing.key', '-subj', '/CN=messageverificationcerts.paypal.com', '-out', `${name}.csr`);
  openssl('ca', '-batch', '-config', `${name}.cnf`, '-selfsign', '-keyfile', 'signing.key', '-in', `${name}.csr`, '-out', `${name}.crt`,
    '-notext', '-startdate', opensslDate(notBeforeMs), '-enddate', opensslDate(notAfterMs));
  return readFileSync(join(dir, `${name}.crt`), 'utf8');
}

beforeAll(async () => {
  [db, paypal] = await Promise.all([createTestDatabase(), new PaypalFixture().start()]);
  ns = createQueueNamespace();
  const certificates: Record<string, string> = {
    // PayPal's clock 90 s ahead of ours.
    soon: certificate('soon', 90_000),
    // Far ahead: not a clock difference, but no verdict on the event either.
    later: certificate('later', 2 * 3600_000),
    // Expired 90 s ago by our clock: PayPal's clock 90 s behind ours, still signing with it.
    lapsed: certificate('lapsed', -30 * 24 * 3600_000, -90_000),
    // Expired 2 h ago: no clock difference, an expired certificate.
    expired: certificate('expired', -30 * 24 * 3600_000, -2 * 3600_000),
  };
  hostName = await paypal.certificateHost((req, res) => {
    const path = req.url ?? '';
    downloads.set(path, (downloads.get(path) ?? 0) + 1);
    const pem = certificates[path.split('/')[1] ?? ''];
    if (pem === undefined) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'content-type': 'application/x-pem-file' });
    res.end(pem);
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
  const body = JSON.stringify({ id: `WH-SKEW-${++counter}`, event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: {} });
  return postWebhook(app.baseUrl, 'paypal', body, paypal.headers(body, PAYPAL_WEBHOOK_ID, undefined, `https://${hostName}${path}`));
}

describe('PayPal signing certificate not valid yet by our clock', () => {
  it('valid 90 s from now (clock skew): the event is accepted, and so is the next one, with one download', async () => {
    const first = await genuine('/soon/CERT-1');
    const second = await genuine('/soon/CERT-1');
    // Observed before: 401 and 401 (the URL remembered as refused for 5 minutes).
    expect({ first: first.status, second: second.status, downloads: downloads.get('/soon/CERT-1') }).toEqual({
      first: 202,
      second: 202,
      downloads: 1,
    });
  });

  it('valid 2 h from now: 503 with Retry-After (PayPal retries), not 401, and its retry needs no new download', async () => {
    const first = await genuine('/later/CERT-2');
    const retry = await genuine('/later/CERT-2');
    const seen = (r: Awaited<ReturnType<typeof genuine>>) => ({ status: r.status, retryAfter: r.headers.get('retry-after') !== null });
    // Observed before: 401 then 401 without a download (remembered as refused).
    expect({ first: seen(first), retry: seen(retry), downloads: downloads.get('/later/CERT-2') }).toEqual({
      first: { status: 503, retryAfter: true },
      retry: { status: 503, retryAfter: true },
      downloads: 1,
    });
    expect(retry.json?.['code']).toBe('SERVICE_UNAVAILABLE');
  });
});

describe('PayPal signing certificate expired by our clock', () => {
  it('expired 90 s ago (clock skew): the event is accepted, and so is the next one, with one download', async () => {
    const first = await genuine('/lapsed/CERT-3');
    const second = await genuine('/lapsed/CERT-3');
    // Observed before: 401 and 401 without a download (the URL remembered as refused for 5 minutes).
    expect({ first: first.status, second: second.status, downloads: downloads.get('/lapsed/CERT-3') }).toEqual({
      first: 202,
      second: 202,
      downloads: 1,
    });
  });

  it('expired 2 h ago: refused (401), and remembered as refused as before', async () => {
    const first = await genuine('/expired/CERT-4');
    const again = await genuine('/expired/CERT-4');
    expect({ first: first.status, again: again.status, downloads: downloads.get('/expired/CERT-4') }).toEqual({
      first: 401,
      again: 401,
      downloads: 1,
    });
  });
});
