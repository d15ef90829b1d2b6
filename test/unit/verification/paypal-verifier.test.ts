import { execFileSync } from 'node:child_process';
import { sign as cryptoSign, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import CRC32 from 'crc-32';
import { Agent } from 'undici';
import { createPaypalVerifier, type PaypalVerifierOptions } from '../../../services/ingress/verification/paypal-verifier.js';
import { checkCertificateUrl, parseCertHosts } from '../../../services/ingress/verification/paypal-certificate-url.js';
import { FailureBudgetSpentError, WebhookVerificationError } from '../../../services/ingress/verification/verification-errors.js';
import type { WebhookClient } from '../../../services/ingress/verification/webhook-request.js';
import type { PaypalCertificateStore, SharedCertificate } from '../../../services/ingress/verification/paypal-certificate-store.js';
import { rejection, webhookRequest } from './helpers.js';
import { DependencyUnavailableError } from '../../../services/shared/errors/app-error.js';
import { CLOCK_SKEW_MS, NO_CERTIFICATE_TTL_MS } from '../../../services/ingress/verification/paypal-certificate-cache.js';

const WEBHOOK_ID = '1JE4291016473214C';
const DAY_MS = 24 * 60 * 60 * 1000;

let dir: string;
let signingKey: string;
let signingCert: string;
let ecCert: string;
let futureCert: string;
let futureNotBefore = 0;
let server: Server;
let port: number;
let agent: Agent;
const hits = new Map<string, number>();

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'paypal-verifier-'));
  // TLS identity of the local "PayPal" host (self-signed, trusted through the dispatcher only).
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'tls.key', '-out', 'tls.crt', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
  // PayPal's message-signing certificate (valid 30 days from now).
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'signing.key', '-out', 'signing.crt', '-days', '30',
    '-subj', '/CN=messageverificationcerts.paypal.com');
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ec.key', '-out', 'ec.crt',
    '-days', '30', '-subj', '/CN=ec');
  // The same key in a certificate valid only from an hour from now (`openssl ca` can set notBefore; `req -x509` cannot).
  writeFileSync(join(dir, 'future.cnf'), ['[ca]', 'default_ca = own', '[own]', 'database = future.index', 'new_certs_dir = .',
    'serial = future.serial', 'default_md = sha256', 'policy = any', 'unique_subject = no', '[any]', 'commonName = supplied'].join('\n'));
  writeFileSync(join(dir, 'future.index'), '');
  writeFileSync(join(dir, 'future.serial'), '01\n');
  openssl('req', '-new', '-key', 'signing.key', '-subj', '/CN=messageverificationcerts.paypal.com', '-out', 'future.csr');
  const opensslDate = (at: number) => new Date(at).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
  futureNotBefore = Math.floor((Date.now() + 3600_000) / 1000) * 1000;
  openssl('ca', '-batch', '-config', 'future.cnf', '-selfsign', '-keyfile', 'signing.key', '-in', 'future.csr', '-out', 'future.crt',
    '-notext', '-startdate', opensslDate(futureNotBefore), '-enddate', opensslDate(futureNotBefore + 30 * DAY_MS));
  futureCert = readFileSync(join(dir, 'future.crt'), 'utf8');
  signingKey = readFileSync(join(dir, 'signing.key'), 'utf8');
  signingCert = readFileSync(join(dir, 'signing.crt'), 'utf8');
  ecCert = readFileSync(join(dir, 'ec.crt'), 'utf8');
  const tlsCert = readFileSync(join(dir, 'tls.crt'), 'utf8');

  server = createServer({ key: readFileSync(join(dir, 'tls.key')), cert: tlsCert }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://localhost');
    hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1);
    const pem = (body: string) => {
      res.writeHead(200, { 'content-type': 'application/x-pem-file' });
      res.end(body);
    };
    // /certs/<name>/<anything>: the tail only makes distinct URLs (distinct cache entries) of one certificate.
    switch (url.pathname.split('/').slice(0, 3).join('/')) {
      case '/certs/good':
        return pem(signingCert);
      case '/certs/future':
        return pem(futureCert);
      case '/certs/chain':
        return pem(signingCert + ecCert);
      case '/certs/slow':
        setTimeout(() => pem(signingCert), 150);
        return;
      case '/certs/redirect':
        res.writeHead(302, { location: '/certs/good' });
        return res.end();
      case '/certs/big':
        return pem(signingCert + 'x'.repeat(70 * 1024));
      case '/certs/garbage':
        return pem('not a certificate');
      case '/certs/ec':
        return pem(ecCert);
      case '/certs/hang':
        return; // never answers
      case '/certs/unavailable':
        res.writeHead(503, { 'retry-after': '1' });
        return res.end('maintenance');
      case '/certs/throttled':
        res.writeHead(429);
        return res.end();
      case '/certs/gone':
        res.writeHead(410);
        return res.end();
      default:
        res.writeHead(404);
        return res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  agent = new Agent({ connect: { ca: tlsCert } });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await agent.close();
  rmSync(dir, { recursive: true, force: true });
});

function certUrl(path: string, host = 'localhost'): string {
  return `https://${host}:${port}${path}`;
}

/** A request's sender, as the webhook route describes it to verifiers. */
function client(key: string, spentBudget = false): WebhookClient {
  return { key, hasSpentFailureBudget: () => spentBudget };
}

function verifier(options: Partial<PaypalVerifierOptions> = {}) {
  return createPaypalVerifier({ webhookId: WEBHOOK_ID, certHosts: [`localhost:${port}`], dispatcher: agent, ...options });
}

const event = { id: 'WH-2WR32451HC0233532-67976317FL4543714', event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: { amount: '10.00', note: 'Grüße' } };
const body = JSON.stringify(event);

function paypalHeaders(
  url: string,
  options: { payload?: string; webhookId?: string; time?: string; transmissionId?: string; algo?: string } = {},
): Record<string, string> {
  const transmissionId = options.transmissionId ?? '69cd13f0-d67a-11e5-baa3-778b53f4ae55';
  const time = options.time ?? new Date().toISOString();
  const crc = CRC32.buf(Buffer.from(options.payload ?? body)) >>> 0;
  const message = `${transmissionId}|${time}|${options.webhookId ?? WEBHOOK_ID}|${crc}`;
  return {
    'paypal-transmission-id': transmissionId,
    'paypal-transmission-time': time,
    'paypal-transmission-sig': cryptoSign('sha256', Buffer.from(message), signingKey).toString('base64'),
    'paypal-cert-url': url,
    'paypal-auth-algo': options.algo ?? 'SHA256withRSA',
  };
}

/** The internal reason (for logs) of a CERTIFICATE_REJECTED error. */
async function rejectionReason(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WebhookVerificationError);
  expect((error as WebhookVerificationError).code).toBe('CERTIFICATE_REJECTED');
  const cause = (error as Error).cause as Error & { cause?: Error };
  return `${cause.message} / ${cause.cause?.message ?? ''}`;
}

describe('paypal verifier', () => {
  it('accepts a message signed with the key of the certificate at the cert URL', async () => {
    const v = verifier();
    const result = await v.verify(webhookRequest(body, paypalHeaders(certUrl('/certs/good/valid'))));
    expect(result).toEqual({
      externalId: event.id,
      eventType: event.event_type,
      payload: event,
      // The transmission may carry one event only: CRC32 lets anyone build another body with the same signature.
      replayKey: { key: 'transmission:69cd13f0-d67a-11e5-baa3-778b53f4ae55', onReuse: 'reject' },
    });
    expect(v.provider).toBe('paypal');
  });

  it('uses the first certificate of a PEM chain', async () => {
    await expect(verifier().verify(webhookRequest(body, paypalHeaders(certUrl('/certs/chain'))))).resolves.toBeDefined();
  });

  it('rejects a tampered body (the CRC32 changes)', async () => {
    const headers = paypalHeaders(certUrl('/certs/good/tamper'));
    expect(await rejection(verifier(), webhookRequest(body.replace('10.00', '99.00'), headers))).toMatchObject({
      kind: 'verification',
      code: 'INVALID_SIGNATURE',
    });
  });

  it('rejects a message signed for another webhook id', async () => {
    const headers = paypalHeaders(certUrl('/certs/good/whid'), { webhookId: 'OTHER-WEBHOOK' });
    expect(await rejection(verifier(), webhookRequest(body, headers))).toMatchObject({ code: 'INVALID_SIGNATURE' });
    expect(await rejection(verifier({ webhookId: 'OTHER' }), webhookRequest(body, paypalHeaders(certUrl('/certs/good'))))).toMatchObject({
      code: 'INVALID_SIGNATURE',
    });
  });

  it('rejects changed transmission headers and malformed signatures', async () => {
    const headers = paypalHeaders(certUrl('/certs/good/headers'));
    expect(await rejection(verifier(), webhookRequest(body, { ...headers, 'paypal-transmission-id': 'other' }))).toMatchObject({
      code: 'INVALID_SIGNATURE',
    });
    expect(await rejection(verifier(), webhookRequest(body, { ...headers, 'paypal-transmission-sig': 'AAAA' }))).toMatchObject({
      code: 'INVALID_SIGNATURE',
    });
    expect(await rejection(verifier(), webhookRequest(body, { ...headers, 'paypal-transmission-sig': '!!' }))).toMatchObject({
      code: 'MALFORMED_SIGNATURE_HEADER',
    });
    expect(await rejection(verifier(), webhookRequest(body, { ...headers, 'paypal-transmission-id': 'a|b' }))).toMatchObject({
      code: 'MALFORMED_SIGNATURE_HEADER',
    });
  });

  it('rejects missing headers and unsupported algorithms before fetching anything', async () => {
    const url = certUrl('/certs/good/missing');
    const headers = paypalHeaders(url);
    const { 'paypal-transmission-sig': _sig, ...withoutSig } = headers;
    expect(await rejection(verifier(), webhookRequest(body, withoutSig))).toMatchObject({ code: 'MISSING_SIGNATURE' });
    const { 'paypal-cert-url': _url, ...withoutUrl } = headers;
    expect(await rejection(verifier(), webhookRequest(body, withoutUrl))).toMatchObject({ code: 'MALFORMED_SIGNATURE_HEADER' });
    expect(await rejection(verifier(), webhookRequest(body, paypalHeaders(url, { algo: 'SHA1withRSA' })))).toMatchObject({
      code: 'MALFORMED_SIGNATURE_HEADER',
    });
    expect(hits.get('/certs/good/missing')).toBeUndefined();
  });

  it('checks the transmission time against the tolerance when configured', async () => {
    const old = new Date(Date.now() - 10 * 60 * 1000).toISOString();
    const url = certUrl('/certs/good/time');
    expect(await rejection(verifier({ toleranceSeconds: 300 }), webhookRequest(body, paypalHeaders(url, { time: old })))).toMatchObject({
      code: 'TIMESTAMP_OUT_OF_TOLERANCE',
    });
    const future = new Date(Date.now() + 10 * 60 * 1000).toISOString();
    expect(await rejection(verifier({ toleranceSeconds: 300 }), webhookRequest(body, paypalHeaders(url, { time: future })))).toMatchObject({
      code: 'TIMESTAMP_OUT_OF_TOLERANCE',
    });
    expect(await rejection(verifier({ toleranceSeconds: 300 }), webhookRequest(body, paypalHeaders(url, { time: 'yesterday' })))).toMatchObject({
      code: 'MALFORMED_SIGNATURE_HEADER',
    });
    await expect(verifier().verify(webhookRequest(body, paypalHeaders(url, { time: old })))).resolves.toBeDefined();
  });

  it('rejects an expired certificate, also when it expires while cached', async () => {
    const later = Date.now() + 31 * DAY_MS;
    expect(await rejection(verifier({ now: () => later }), webhookRequest(body, paypalHeaders(certUrl('/certs/good/expired'))))).toMatchObject({
      code: 'CERTIFICATE_REJECTED',
    });
    let clock = Date.now();
    const v = verifier({ now: () => clock, cacheMaxAgeMs: 365 * DAY_MS });
    const url = certUrl('/certs/good/expires-in-cache');
    await expect(v.verify(webhookRequest(body, paypalHeaders(url)))).resolves.toBeDefined();
    clock += 31 * DAY_MS;
    expect(await rejection(v, webhookRequest(body, paypalHeaders(url)))).toMatchObject({ code: 'CERTIFICATE_REJECTED' });
    expect(hits.get('/certs/good/expires-in-cache')).toBe(2);
  });

  it('a certificate not valid yet is a 503 until its notBefore less the clock-skew allowance, then used, with one download', async () => {
    // Before: CERTIFICATE_REJECTED, and the URL refused for 5 minutes however soon the certificate became valid.
    let clock = Date.now();
    const v = verifier({ now: () => clock });
    const url = certUrl('/certs/future/one');
    const thrown = () => v.verify(webhookRequest(body, paypalHeaders(url))).then(() => undefined, (e: unknown) => e);
    expect(await thrown()).toBeInstanceOf(DependencyUnavailableError);
    clock = futureNotBefore - CLOCK_SKEW_MS - 1;
    expect(await thrown()).toBeInstanceOf(DependencyUnavailableError);
    clock = futureNotBefore - CLOCK_SKEW_MS;
    await expect(v.verify(webhookRequest(body, paypalHeaders(url)))).resolves.toBeDefined();
    expect(hits.get('/certs/future/one')).toBe(1);
  });

  it('an expired certificate is used until its notAfter plus the clock-skew allowance, then refused', async () => {
    // Before: refused from its notAfter on, though PayPal, its clock behind ours, still signs with it.
    const notAfter = new X509Certificate(signingCert).validToDate.getTime();
    let clock = notAfter + CLOCK_SKEW_MS - 1;
    const v = verifier({ now: () => clock });
    const url = certUrl('/certs/good/lapsing');
    await expect(v.verify(webhookRequest(body, paypalHeaders(url)))).resolves.toBeDefined();
    clock = notAfter + CLOCK_SKEW_MS;
    expect(await rejection(v, webhookRequest(body, paypalHeaders(url)))).toMatchObject({ code: 'CERTIFICATE_REJECTED' });
  });

  it('rejects an http cert URL', async () => {
    const error = await rejection(verifier(), webhookRequest(body, paypalHeaders(`http://localhost:${port}/certs/good`)));
    expect(error).toMatchObject({ kind: 'verification', code: 'CERTIFICATE_REJECTED' });
    expect(error.message).not.toContain('localhost');
  });

  it('rejects look-alike hosts, userinfo tricks and unlisted IP literals', async () => {
    const rejected = [
      `https://localhost.evil.com:${port}/certs/good`,
      `https://evillocalhost:${port}/certs/good`,
      `https://user@localhost:${port}/certs/good`,
      `https://localhost:${port}@evil.com/certs/good`,
      `https://localhost:${port}:pass@evil.com/certs/good`,
      `https://127.0.0.1:${port}/certs/good`,
      `https://[::1]:${port}/certs/good`,
      `https://localhost:${port + 1}/certs/good`,
      `https://localhost/certs/good`,
      'not a url',
    ];
    for (const url of rejected) {
      expect(await rejection(verifier(), webhookRequest(body, paypalHeaders(url)))).toMatchObject({ code: 'CERTIFICATE_REJECTED' });
    }
    // an IP literal is fine when listed exactly
    const ipVerifier = verifier({ certHosts: [`127.0.0.1:${port}`] });
    await expect(ipVerifier.verify(webhookRequest(body, paypalHeaders(`https://127.0.0.1:${port}/certs/good`)))).resolves.toBeDefined();
  });

  it("applies the default rule when the allowlist is empty: PayPal's certificate endpoints only", () => {
    const rule = parseCertHosts([]);
    for (const ok of [
      'https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270',
      // PayPal's sandbox, as its own examples show it.
      'https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77',
      'https://api-m.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270',
      'https://api-m.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-bf1b3b8b',
      'https://API.PayPal.com:443/v1/notifications/certs/CERT-360CAA42-FCA2A594-1D93A270#frag',
      // Lenient about the number and length of the hex groups.
      'https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594',
      'https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270-0123456789abcdef',
    ]) {
      expect(checkCertificateUrl(ok, rule).hash).toBe('');
    }
    // One certificate, one cache key: a fragment or an empty query does not make another.
    expect(checkCertificateUrl('https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270?#x', rule).href).toBe(
      'https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270',
    );
    for (const bad of [
      // Other PayPal hosts and paths: anything a PayPal subdomain or page could serve is not a certificate endpoint.
      'https://paypal.com/x',
      'https://www.paypal.com/v1/notifications/certs/CERT-1',
      'https://uploads.paypal.com/v1/notifications/certs/CERT-1',
      'https://api.paypal.com/x',
      'https://api.paypal.com/v1/notifications/certs/',
      'https://api.paypal.com/v1/notifications/certs/CERT-1/../../../x',
      'https://api.paypal.com/v1/notifications/certs/%2e%2e/x',
      'https://api.paypal.com/v1/notifications/certs/CERT-1/extra',
      // PayPal's certificate ids are CERT- and hex groups: any other name there is made up, so no download.
      'https://api.paypal.com/v1/notifications/certs/CERT-1',
      'https://api.paypal.com/v1/notifications/certs/CERT-TEST',
      'https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-zzzzzzzz',
      'https://api.paypal.com/v1/notifications/certs/360caa42-fca2a594-1d93a270',
      'https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270-',
      'https://api.paypal.com/v1/notifications/certs/CERT-360caa42_fca2a594_1d93a270',
      'https://api.paypal.com/v1/notifications/certs/x',
      // A query string would give every request its own cache entry and download.
      'https://api.paypal.com/v1/notifications/certs/CERT-1?nonce=1',
      'http://api.paypal.com/x',
      'https://paypal.com.evil.com/x',
      'https://evilpaypal.com/x',
      'https://paypal.com@evil.com/x',
      'https://evil.com\\@api.paypal.com/x',
      'https://evil.com#@api.paypal.com/x',
      'https://api.paypal.com:8443/x',
      'https://api.paypal.com./x',
      'https://127.0.0.1/x',
      'https://2130706433/x',
      'https://[::ffff:7f00:1]/x',
      'ftp://api.paypal.com/x',
    ]) {
      expect(() => checkCertificateUrl(bad, rule)).toThrow(WebhookVerificationError);
    }
  });

  it('refuses query strings with an allowlist too, so a client cannot vary the certificate cache key', async () => {
    const rule = parseCertHosts([`localhost:${port}`]);
    expect(() => checkCertificateUrl(certUrl('/certs/good?nonce=1'), rule)).toThrow(WebhookVerificationError);
    const before = hits.get('/certs/good/cache-key') ?? 0;
    const v = verifier();
    for (let i = 0; i < 3; i++) {
      await v.verify(webhookRequest(body, paypalHeaders(certUrl('/certs/good/cache-key'))));
      expect(await rejection(v, webhookRequest(body, paypalHeaders(certUrl(`/certs/good/cache-key?n=${i}`))))).toMatchObject({ code: 'CERTIFICATE_REJECTED' });
    }
    expect(hits.get('/certs/good/cache-key')).toBe(before + 1);
    expect([...hits.keys()].filter((key) => key.includes('?n='))).toEqual([]);
  });

  it('supports wildcard allowlist entries and ports', () => {
    const rule = parseCertHosts(['*.paypal.com', 'certs.example.com:8443']);
    expect(() => checkCertificateUrl('https://api.paypal.com/x', rule)).not.toThrow();
    expect(() => checkCertificateUrl('https://paypal.com/x', rule)).toThrow();
    expect(() => checkCertificateUrl('https://certs.example.com:8443/x', rule)).not.toThrow();
    expect(() => checkCertificateUrl('https://certs.example.com/x', rule)).toThrow();
    expect(() => parseCertHosts(['https://x.com/path'])).toThrow();
    expect(() => parseCertHosts(['user@x.com'])).toThrow();
  });

  it('rejects redirects instead of following them', async () => {
    const reason = await rejectionReason(verifier().verify(webhookRequest(body, paypalHeaders(certUrl('/certs/redirect/r')))));
    expect(reason).toContain('HTTP 302');
    expect(hits.get('/certs/redirect/r')).toBe(1);
    expect(hits.get('/certs/good/r')).toBeUndefined();
  });

  it('rejects 404s and other 4xx, non-RSA keys', async () => {
    const reasons: Record<string, RegExp> = {
      '/certs/missing': /HTTP 404/,
      '/certs/gone': /HTTP 410/,
      '/certs/ec': /not RSA/,
    };
    for (const [path, expected] of Object.entries(reasons)) {
      expect(await rejectionReason(verifier().verify(webhookRequest(body, paypalHeaders(certUrl(path)))))).toMatch(expected);
    }
  });

  it('answers a certificate host that cannot answer now (5xx, 429, timeout, refused connection, a 200 with no certificate or too large) as unavailable, not rejected', async () => {
    // Nothing is known about such a request's signature: a 503 has PayPal retry, where a 401 would drop a genuine
    // event and count it as a forgery against PayPal's address.
    const closed = createNetServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const cases: [string, Partial<PaypalVerifierOptions>][] = [
      [certUrl('/certs/unavailable/a'), {}],
      [certUrl('/certs/throttled/a'), {}],
      // An error page (of the host, or a proxy before it) answered 200, or a body over the size limit: no certificate,
      // and nothing the sender decides (before: CERTIFICATE_REJECTED, and the URL refused for 5 minutes).
      [certUrl('/certs/garbage/a'), {}],
      [certUrl('/certs/big/a'), {}],
      [certUrl('/certs/hang/a'), { fetchTimeoutMs: 300 }],
      [`https://localhost:${closedPort}/certs/good`, { certHosts: [`localhost:${closedPort}`] }],
    ];
    // No wall-clock bound (3 s before, which a loaded machine can exceed): /certs/hang never answers, so its 503 can
    // only come from the download's timeout; the others are answers (or a refusal) that end the download themselves.
    for (const [url, options] of cases) {
      const error = await verifier(options).verify(webhookRequest(body, paypalHeaders(url))).then(() => undefined, (e: unknown) => e);
      expect({ url, error }).toEqual({ url, error: expect.any(DependencyUnavailableError) });
      expect(error).toMatchObject({ statusCode: 503, dependency: 'paypal-certificates' });
    }
  });

  it('logs why a certificate was rejected, at most once a minute for a run of them', async () => {
    const lines: unknown[] = [];
    const v = verifier({ logger: { warn: ((message: string, fields: unknown) => lines.push({ message, fields })) as never } });
    for (const name of ['a', 'b', 'c']) await rejectionReason(v.verify(webhookRequest(body, paypalHeaders(certUrl(`/certs/gone/${name}`)))));
    expect(lines).toEqual([
      { message: 'paypal signing certificate rejected', fields: expect.objectContaining({ reason: 'certificate URL answered HTTP 410', count: 1 }) },
    ]);
  });

  it('remembers refused certificate URLs for a few minutes: naming one again is refused without a download', async () => {
    let clock = Date.now();
    const v = verifier({ now: () => clock });
    for (const path of ['/certs/missing/remembered', '/certs/ec/remembered']) {
      for (let i = 0; i < 3; i++) {
        // Each is a failed verification (401, counted), so a forger repeating a URL still spends its budget.
        expect(await rejection(v, webhookRequest(body, paypalHeaders(certUrl(path))))).toMatchObject({ code: 'CERTIFICATE_REJECTED' });
      }
      expect(hits.get(path)).toBe(1);
    }
    clock += 5 * 60_000;
    expect(await rejection(v, webhookRequest(body, paypalHeaders(certUrl('/certs/missing/remembered'))))).toMatchObject({ code: 'CERTIFICATE_REJECTED' });
    expect(hits.get('/certs/missing/remembered')).toBe(2);
  });

  it('does not remember transient failures: the next request downloads again', async () => {
    const v = verifier();
    const path = '/certs/unavailable/not-remembered';
    for (let i = 0; i < 2; i++) {
      await expect(v.verify(webhookRequest(body, paypalHeaders(certUrl(path))))).rejects.toBeInstanceOf(DependencyUnavailableError);
    }
    expect(hits.get(path)).toBe(2);
  });

  it('answers a URL whose host answered 200 with no certificate 503 without a download for a minute, then downloads it again', async () => {
    // A forger may name such a page of an allowed host on purpose (PAYPAL_CERT_HOSTS accepts any path): uncounted,
    // each request naming it cost a download.
    let clock = Date.now();
    const v = verifier({ now: () => clock });
    for (const path of ['/certs/garbage/minute', '/certs/big/minute']) {
      for (let i = 0; i < 3; i++) {
        await expect(v.verify(webhookRequest(body, paypalHeaders(certUrl(path))))).rejects.toBeInstanceOf(DependencyUnavailableError);
      }
      expect(hits.get(path)).toBe(1);
    }
    clock += NO_CERTIFICATE_TTL_MS;
    await expect(v.verify(webhookRequest(body, paypalHeaders(certUrl('/certs/garbage/minute'))))).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(hits.get('/certs/garbage/minute')).toBe(2);
  });

  it('caches the certificate per URL', async () => {
    const v = verifier();
    const url = certUrl('/certs/good/cache');
    await v.verify(webhookRequest(body, paypalHeaders(url)));
    await v.verify(webhookRequest(body, paypalHeaders(url, { transmissionId: 'second' })));
    expect(hits.get('/certs/good/cache')).toBe(1);
    v.clearCertificateCache();
    await v.verify(webhookRequest(body, paypalHeaders(url)));
    expect(hits.get('/certs/good/cache')).toBe(2);
  });

  it('evicts the least recently used certificate beyond the cache size', async () => {
    const v = verifier({ cacheMaxEntries: 2 });
    const urls = ['a', 'b', 'c'].map((name) => certUrl(`/certs/good/lru-${name}`));
    for (const url of urls) await v.verify(webhookRequest(body, paypalHeaders(url)));
    await v.verify(webhookRequest(body, paypalHeaders(urls[2] ?? '')));
    await v.verify(webhookRequest(body, paypalHeaders(urls[0] ?? '')));
    expect(hits.get('/certs/good/lru-c')).toBe(1);
    expect(hits.get('/certs/good/lru-a')).toBe(2);
  });

  it('coalesces concurrent fetches of the same URL', async () => {
    const v = verifier();
    const url = certUrl('/certs/slow/coalesce');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => v.verify(webhookRequest(body, paypalHeaders(url, { transmissionId: `t-${i}` })))),
    );
    expect(results).toHaveLength(8);
    expect(hits.get('/certs/slow/coalesce')).toBe(1);
  });

  it('limits the number of distinct certificate downloads in flight', async () => {
    const v = verifier({ maxConcurrentFetches: 1 });
    const [first, second] = await Promise.allSettled([
      v.verify(webhookRequest(body, paypalHeaders(certUrl('/certs/slow/limit-1')))),
      v.verify(webhookRequest(body, paypalHeaders(certUrl('/certs/slow/limit-2')))),
    ]);
    expect(first?.status).toBe('fulfilled');
    expect(second?.status).toBe('rejected');
    // Busy, not refused: a 503 the sender retries, never a failed verification (the slot may be a forger's).
    expect((second as PromiseRejectedResult).reason).toBeInstanceOf(DependencyUnavailableError);
    expect((second as PromiseRejectedResult).reason).toMatchObject({ statusCode: 503, dependency: 'paypal-certificates' });
    expect(hits.get('/certs/slow/limit-2')).toBeUndefined();
  });

  it("limits one client's downloads in flight to its share, so it cannot hold every slot", async () => {
    const v = verifier({ maxConcurrentFetches: 16, maxConcurrentFetchesPerClient: 2 });
    const forger = client('198.51.100.66');
    const paypal = client('173.0.80.1');
    const outcomes = await Promise.allSettled([
      ...[1, 2, 3].map((i) => v.verify({ ...webhookRequest(body, paypalHeaders(certUrl(`/certs/slow/share-${i}`))), client: forger })),
      v.verify({ ...webhookRequest(body, paypalHeaders(certUrl('/certs/slow/share-paypal'))), client: paypal }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[2] as PromiseRejectedResult).reason).toMatchObject({ statusCode: 503, dependency: 'paypal-certificates' });
    expect(hits.get('/certs/slow/share-3')).toBeUndefined();
    // Joining a download in flight takes no slot: PayPal's burst of events naming one new certificate all wait for it.
    const burst = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        v.verify({ ...webhookRequest(body, paypalHeaders(certUrl('/certs/slow/share-burst'), { transmissionId: `b-${i}` })), client: paypal }),
      ),
    );
    expect(burst).toHaveLength(5);
    expect(hits.get('/certs/slow/share-burst')).toBe(1);
  });

  it('downloads nothing for a client past its failure budget, but still verifies its requests with a cached certificate', async () => {
    const v = verifier();
    const cachedUrl = certUrl('/certs/good/budget-cached');
    await v.verify(webhookRequest(body, paypalHeaders(cachedUrl)));
    const spent = client('198.51.100.66', true);
    const refused = await v.verify({ ...webhookRequest(body, paypalHeaders(certUrl('/certs/good/budget-new'))), client: spent }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(FailureBudgetSpentError);
    expect(hits.get('/certs/good/budget-new')).toBeUndefined();
    // The same address's correctly signed event whose certificate is at hand: verified, whatever else it sent.
    await expect(v.verify({ ...webhookRequest(body, paypalHeaders(cachedUrl, { transmissionId: 'spent-2' })), client: spent })).resolves.toBeDefined();
  });

  it('reports busy download slots in one log line per minute with a count, and marks the 503s as logged', async () => {
    const lines: { message: string; fields: Record<string, unknown> }[] = [];
    const v = verifier({ maxConcurrentFetches: 1, logger: { warn: ((message: string, fields: Record<string, unknown>) => lines.push({ message, fields })) as never } });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => v.verify(webhookRequest(body, paypalHeaders(certUrl(`/certs/slow/busy-log-${i}`))))),
    );
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => o.reason as DependencyUnavailableError);
    expect(refused).toHaveLength(5);
    expect(refused.every((error) => error.logged)).toBe(true);
    expect(lines).toEqual([{ message: 'paypal certificate downloads busy; answered 503', fields: expect.objectContaining({ count: 1 }) }]);
  });

  describe('with a shared certificate store', () => {
    /** A store in memory, as Redis would hold it between processes. */
    function memoryStore() {
      const entries = new Map<string, SharedCertificate>();
      const puts: string[] = [];
      const store: PaypalCertificateStore = {
        get: async (url) => entries.get(url),
        put: async (url, certificate) => {
          puts.push(url);
          entries.set(url, certificate);
        },
      };
      return { store, entries, puts };
    }

    it('shares a certificate once it verified a genuine signature, once, and never one only a forgery named', async () => {
      const { store, puts } = memoryStore();
      const v = verifier({ store });
      const genuineUrl = certUrl('/certs/good/store-genuine');
      await v.verify(webhookRequest(body, paypalHeaders(genuineUrl)));
      await v.verify(webhookRequest(body, paypalHeaders(genuineUrl, { transmissionId: 'again' })));
      const forgedUrl = certUrl('/certs/good/store-forged');
      const forged = { ...paypalHeaders(forgedUrl), 'paypal-transmission-sig': Buffer.alloc(256, 1).toString('base64') };
      expect(await rejection(v, webhookRequest(body, forged))).toMatchObject({ code: 'INVALID_SIGNATURE' });
      expect(puts).toEqual([genuineUrl]);
    });

    it('verifies with a stored certificate without downloading it (another process, or before a restart, verified it)', async () => {
      const { store } = memoryStore();
      const url = certUrl('/certs/good/store-restart');
      await verifier({ store }).verify(webhookRequest(body, paypalHeaders(url)));
      expect(hits.get('/certs/good/store-restart')).toBe(1);
      // A new process: nothing cached locally.
      await expect(verifier({ store }).verify(webhookRequest(body, paypalHeaders(url)))).resolves.toBeDefined();
      expect(hits.get('/certs/good/store-restart')).toBe(1);
      // Also for a client past its failure budget: the certificate is at hand, so its signature can be checked.
      await expect(verifier({ store }).verify({ ...webhookRequest(body, paypalHeaders(url)), client: client('198.51.100.9', true) })).resolves.toBeDefined();
    });

    it('downloads instead when the store fails or holds something unusable', async () => {
      const failing: PaypalCertificateStore = { get: () => Promise.reject(new Error('redis down')), put: () => Promise.reject(new Error('redis down')) };
      await expect(verifier({ store: failing }).verify(webhookRequest(body, paypalHeaders(certUrl('/certs/good/store-failing'))))).resolves.toBeDefined();
      expect(hits.get('/certs/good/store-failing')).toBe(1);

      const { store, entries } = memoryStore();
      const expired = certUrl('/certs/good/store-expired');
      const garbage = certUrl('/certs/good/store-garbage');
      entries.set(expired, { pem: signingCert, expiresAt: Date.now() - 1 });
      entries.set(garbage, { pem: 'not a certificate', expiresAt: Date.now() + DAY_MS });
      for (const url of [expired, garbage]) await expect(verifier({ store }).verify(webhookRequest(body, paypalHeaders(url)))).resolves.toBeDefined();
      expect([hits.get('/certs/good/store-expired'), hits.get('/certs/good/store-garbage')]).toEqual([1, 1]);
    });
  });

  it('coalesced waiters all get the rejection of a failed fetch', async () => {
    const v = verifier();
    const url = certUrl('/certs/ec/coalesce');
    const outcomes = await Promise.allSettled(
      Array.from({ length: 4 }, () => v.verify(webhookRequest(body, paypalHeaders(url)))),
    );
    expect(outcomes.every((o) => o.status === 'rejected' && (o.reason as WebhookVerificationError).code === 'CERTIFICATE_REJECTED')).toBe(true);
    expect(hits.get('/certs/ec/coalesce')).toBe(1);
  });

  it('reports missing id / event_type in an authentic body as payload errors', async () => {
    const noType = JSON.stringify({ id: 'WH-1' });
    expect(await rejection(verifier(), webhookRequest(noType, paypalHeaders(certUrl('/certs/good'), { payload: noType })))).toMatchObject({
      kind: 'payload',
      code: 'MISSING_EVENT_TYPE',
    });
    const noId = JSON.stringify({ event_type: 'X' });
    expect(await rejection(verifier(), webhookRequest(noId, paypalHeaders(certUrl('/certs/good'), { payload: noId })))).toMatchObject({
      kind: 'payload',
      code: 'MISSING_EVENT_ID',
    });
  });
});
