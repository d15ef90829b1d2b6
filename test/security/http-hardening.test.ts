import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { stripeSignatureHeader } from '../support/provider-simulator.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { leaks, SECRETS } from './support/signers.js';

/** Security headers everywhere, request size and header limits, and the per-client limit on forged requests. */

const MAX_BODY_BYTES = 4096;
const FAILURE_LIMIT = 5;
let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let limited: InProcessService;
let proxied: InProcessService;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  const common = { SERVICE_ROLE: 'ingress', DATABASE_URL: db.url, REDIS_URL: ns.redisUrl, QUEUE_PREFIX: ns.prefix, STRIPE_WEBHOOK_SECRET: SECRETS.stripe, ADMIN_API_TOKEN: SECRETS.admin };
  [app, limited, proxied] = await Promise.all([
    startInProcessService({ ...common, MAX_BODY_BYTES: String(MAX_BODY_BYTES), VERIFICATION_FAILURE_LIMIT_PER_MINUTE: '100000' }),
    startInProcessService({ ...common, VERIFICATION_FAILURE_LIMIT_PER_MINUTE: String(FAILURE_LIMIT) }),
    // Behind a proxy on loopback, as behind the chart's Ingress: clients are told apart by X-Forwarded-For.
    startInProcessService({ ...common, VERIFICATION_FAILURE_LIMIT_PER_MINUTE: String(FAILURE_LIMIT), TRUST_PROXY: 'loopback' }),
  ]);
});

afterAll(async () => {
  await app?.stop();
  await limited?.stop();
  await proxied?.stop();
  await ns?.cleanup();
  await db?.drop();
});

const signed = (body: string) => ({ 'content-type': 'application/json', 'stripe-signature': stripeSignatureHeader(body, SECRETS.stripe) });
const storedRows = async () => Number((await db.pool.query('SELECT count(*)::int AS n FROM webhook_events')).rows[0].n);

/** Raw request over a socket (for what fetch will not send); returns the status line's code and the raw answer. */
function rawRequest(port: number, data: string | Buffer): Promise<{ status: number; raw: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let raw = '';
    socket.on('data', (chunk) => (raw += chunk.toString('latin1')));
    socket.on('error', (error) => (raw ? undefined : reject(error)));
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0), raw }));
    socket.setTimeout(5000, () => socket.destroy());
    socket.end(data);
  });
}

describe('security headers (helmet) on every kind of response', () => {
  it('sets them on health, metrics, webhooks (2xx, 4xx), admin refusals and unknown routes', async () => {
    const body = JSON.stringify({ id: 'evt_headers_1', object: 'event', type: 'invoice.paid', data: {} });
    const requests: [string, RequestInit, number][] = [
      ['/health/live', {}, 200],
      ['/health/ready', {}, 200],
      ['/metrics', {}, 200],
      ['/webhooks/stripe', { method: 'POST', body, headers: signed(body) }, 202],
      ['/webhooks/stripe', { method: 'POST', body, headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' } }, 401],
      ['/webhooks/stripe', { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } }, 415],
      ['/webhooks/stripe', { method: 'POST', body: 'x'.repeat(MAX_BODY_BYTES + 1), headers: signed('x') }, 413],
      ['/webhooks/nobody', { method: 'POST', body, headers: signed(body) }, 404],
      ['/admin/events', {}, 401],
      ['/does/not/exist', {}, 404],
    ];
    for (const [path, init, status] of requests) {
      const response = await fetch(`${app.baseUrl}${path}`, init);
      const text = await response.text();
      expect({ path, status: response.status }).toEqual({ path, status });
      const headers = Object.fromEntries(response.headers);
      expect(headers).toMatchObject({
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'SAMEORIGIN',
        'strict-transport-security': expect.stringContaining('max-age='),
        'content-security-policy': expect.stringContaining("default-src 'self'"),
        'cross-origin-resource-policy': 'same-origin',
        'referrer-policy': 'no-referrer',
        'x-correlation-id': expect.any(String),
      });
      expect(headers['x-powered-by']).toBeUndefined();
      expect(leaks(text)).toEqual([]);
    }
  });
});

describe('request limits', () => {
  it('answers 413 in the error shape to a body over MAX_BODY_BYTES, declared or chunked, and stores nothing', async () => {
    const before = await storedRows();
    const big = JSON.stringify({ id: 'evt_big', type: 'invoice.paid', pad: 'x'.repeat(MAX_BODY_BYTES) });
    const declared = await fetch(`${app.baseUrl}/webhooks/stripe`, { method: 'POST', body: big, headers: signed(big) });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toMatchObject({ statusCode: 413, path: '/webhooks/stripe' });
    // No Content-Length: the limit applies while streaming.
    const chunked = await rawRequest(
      app.service.address.port,
      `POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nStripe-Signature: ${signed(big)['stripe-signature']}\r\n` +
        `Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${[...big.match(/.{1,1000}/g)!].map((part) => `${part.length.toString(16)}\r\n${part}\r\n`).join('')}0\r\n\r\n`,
    );
    expect(chunked.status).toBe(413);
    expect(await storedRows()).toBe(before);
  });

  it('answers 431 to huge headers (Node refuses them before the app sees them)', async () => {
    const answer = await rawRequest(app.service.address.port, `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Huge: ${'a'.repeat(70_000)}\r\n\r\n`);
    expect(answer.status).toBe(431);
    const many = Array.from({ length: 2000 }, (_, i) => `X-H${i}: ${'b'.repeat(20)}\r\n`).join('');
    expect((await rawRequest(app.service.address.port, `GET /health/live HTTP/1.1\r\nHost: x\r\n${many}\r\n`)).status).toBe(431);
    // The server is unharmed.
    expect((await fetch(`${app.baseUrl}/health/live`)).status).toBe(200);
  });

  it('answers what Node refuses before any route (huge headers, malformed HTTP) in the error shape, with the usual headers', async () => {
    const answers = [
      [await rawRequest(app.service.address.port, `POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nX-Huge: ${'a'.repeat(70_000)}\r\n\r\n`), 431, '/webhooks/stripe'],
      [await rawRequest(app.service.address.port, 'GET /health/live HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'), 400, '/health/live'],
    ] as const;
    for (const [answer, status, path] of answers) {
      expect(answer.status).toBe(status);
      const [head, body] = answer.raw.split('\r\n\r\n') as [string, string];
      const headers = Object.fromEntries(head.split('\r\n').slice(1).map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      expect(headers).toMatchObject({
        'content-type': 'application/json; charset=utf-8',
        'x-content-type-options': 'nosniff',
        'content-security-policy': expect.stringContaining("default-src 'self'"),
        'x-correlation-id': expect.any(String),
        connection: 'close',
      });
      expect(JSON.parse(body)).toEqual({
        statusCode: status,
        timestamp: expect.any(String),
        path,
        message: expect.any(String),
        correlationId: headers['x-correlation-id'],
        traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
        code: status === 431 ? 'HEADERS_TOO_LARGE' : 'BAD_REQUEST',
      });
    }
  });
});

describe('per-client limit on requests that fail verification', () => {
  const forge = (service: InProcessService, i: number, extra: Record<string, string> = {}) => {
    const body = JSON.stringify({ id: `evt_forged_${i}`, object: 'event', type: 'invoice.paid', data: {} });
    return fetch(`${service.baseUrl}/webhooks/stripe`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'stripe-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}`, ...extra },
    });
  };
  const genuine = (service: InProcessService, id: string, extra: Record<string, string> = {}) => {
    const body = JSON.stringify({ id, object: 'event', type: 'invoice.paid', data: {} });
    return fetch(`${service.baseUrl}/webhooks/stripe`, { method: 'POST', body, headers: { ...signed(body), ...extra } });
  };

  it(`after ${FAILURE_LIMIT} forged requests from one client, its further forgeries get 429 on a closed connection`, async () => {
    const before = await storedRows();
    for (let i = 0; i < FAILURE_LIMIT; i++) expect((await forge(limited, i)).status).toBe(401);
    const limitedAnswers = [];
    for (let i = 0; i < 20; i++) {
      // A spoofed X-Forwarded-For changes nothing: TRUST_PROXY is unset, so the client is the socket's address.
      const response = await forge(limited, 100 + i, { 'x-forwarded-for': `203.0.113.${i}` });
      limitedAnswers.push({ status: response.status, body: (await response.json()) as Record<string, unknown>, headers: Object.fromEntries(response.headers) });
    }
    for (const answer of limitedAnswers) {
      expect(answer.status).toBe(429);
      expect(answer.body).toMatchObject({ statusCode: 429, code: 'TOO_MANY_REQUESTS', path: '/webhooks/stripe' });
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
      // Each further forgery costs the sender a new connection.
      expect(answer.headers['connection']).toBe('close');
      expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
    }
    expect(limitedAnswers[0]!.headers).toHaveProperty('ratelimit');
    expect(await storedRows()).toBe(before);
    // Health and metrics are not behind the limiter.
    expect((await fetch(`${limited.baseUrl}/health/live`)).status).toBe(200);
  });

  it("never refuses a correctly signed request because of other requests' failures: same address, or behind a proxy", async () => {
    // The forger and the real sender share an address (a NAT, or the proxy itself when TRUST_PROXY is unset).
    for (let i = 0; i < FAILURE_LIMIT + 10; i++) await forge(limited, 200 + i);
    expect((await forge(limited, 300)).status).toBe(429);
    const direct = await genuine(limited, 'evt_genuine_same_address');
    expect(direct.status).toBe(202);
    expect(direct.headers.get('connection')).not.toBe('close');

    // Behind a proxy: forgeries claiming the real sender's address, and others from the proxy's own address.
    const sender = { 'x-forwarded-for': '198.51.100.20' };
    for (let i = 0; i < FAILURE_LIMIT + 10; i++) {
      await forge(proxied, 400 + i, sender);
      await forge(proxied, 500 + i);
    }
    expect((await forge(proxied, 600, sender)).status).toBe(429);
    expect((await forge(proxied, 601)).status).toBe(429);
    // A forger elsewhere has a budget of its own.
    expect((await forge(proxied, 602, { 'x-forwarded-for': '192.0.2.99' })).status).toBe(401);
    expect((await genuine(proxied, 'evt_genuine_behind_proxy', sender)).status).toBe(202);
    expect((await genuine(proxied, 'evt_genuine_from_proxy')).status).toBe(202);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, n) => genuine(proxied, `evt_genuine_burst_${n}`, sender)));
    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(202));
  });
});
