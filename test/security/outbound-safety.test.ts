import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HttpSink } from '../support/http-sink.js';
import { PaypalFixture } from '../support/paypal-fixture.js';
import { stripeSignatureHeader } from '../support/provider-simulator.js';
import { writeRoutesFile, type TempRoutesFile } from '../support/routes-file.js';
import { startInProcessService, type InProcessService } from '../support/service-harness.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';
import { SECRETS } from './support/signers.js';

/**
 * The service only ever calls out to addresses an operator configured: destinations from ROUTES_FILE (nothing in
 * a webhook can redirect a delivery, and 3xx answers are not followed), and PayPal certificates only over https
 * from PAYPAL_CERT_HOSTS (no http, no IP literals or userinfo tricks, no other ports, no redirects).
 */

const PAYPAL_WEBHOOK_ID = 'WH-SECURITY-TEST';
let db: TestDatabase;
let ns: TestQueueNamespace;
let app: InProcessService;
let routesFile: TempRoutesFile;
let paypal: PaypalFixture;
const good = new HttpSink();
const trap = new HttpSink();
let redirector: Server;
let redirectorUrl = '';
let tlsRedirector: Server;
let tlsRedirectorPort = 0;
let tlsRedirectorHits = 0;
const tcpTraps: { server: net.Server; port: number; connections: number }[] = [];

async function tcpTrap() {
  const entry = { server: net.createServer((socket) => {
    entry.connections++;
    socket.destroy();
  }), port: 0, connections: 0 };
  await new Promise<void>((resolve) => entry.server.listen(0, '127.0.0.1', resolve));
  entry.port = (entry.server.address() as net.AddressInfo).port;
  tcpTraps.push(entry);
  return entry;
}

const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
};

let allowedTrap: Awaited<ReturnType<typeof tcpTrap>>;
let unlistedTrap: Awaited<ReturnType<typeof tcpTrap>>;

beforeAll(async () => {
  db = await createTestDatabase();
  ns = createQueueNamespace();
  paypal = await new PaypalFixture().start();
  await Promise.all([good.start(), trap.start()]);
  allowedTrap = await tcpTrap();
  unlistedTrap = await tcpTrap();
  // A destination that answers every delivery with a redirect to the trap.
  redirector = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(307, { location: `${trap.url}/stolen` });
      res.end();
    });
  });
  redirectorUrl = `http://127.0.0.1:${await listen(redirector)}`;
  // An allowed certificate host (trusted TLS) that redirects to the real certificate.
  tlsRedirector = createHttpsServer({ key: readFileSync(join(paypal.dir, 'tls.key')), cert: readFileSync(join(paypal.dir, 'tls.crt')) }, (_req, res) => {
    tlsRedirectorHits++;
    res.writeHead(302, { location: paypal.certUrl });
    res.end();
  });
  tlsRedirectorPort = await listen(tlsRedirector);

  routesFile = writeRoutesFile({
    destinations: { good: { url: `${good.url}/hooks` }, redirecting: { url: `${redirectorUrl}/hooks` } },
    routes: [
      { provider: 'stripe', events: ['invoice.*'], to: ['good'] },
      { provider: 'stripe', events: ['redirect.*'], to: ['redirecting'] },
    ],
  });
  app = await startInProcessService(
    {
      SERVICE_ROLE: 'all',
      DATABASE_URL: db.url,
      REDIS_URL: ns.redisUrl,
      QUEUE_PREFIX: ns.prefix,
      STRIPE_WEBHOOK_SECRET: SECRETS.stripe,
      ROUTES_FILE: routesFile.path,
      PAYPAL_WEBHOOK_ID,
      PAYPAL_CERT_HOSTS: [paypal.host, `localhost:${allowedTrap.port}`, `localhost:${tlsRedirectorPort}`].join(','),
      JOB_ATTEMPTS: '2',
      JOB_BACKOFF_MS: '20',
    },
    { paypalDispatcher: paypal.agent },
  );
});

afterAll(async () => {
  await app?.stop();
  await Promise.all([good.stop(), trap.stop(), paypal?.stop()]);
  for (const server of [redirector, tlsRedirector, ...tcpTraps.map((entry) => entry.server)]) {
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  routesFile?.remove();
  await ns?.cleanup();
  await db?.drop();
});

async function sendStripe(event: Record<string, unknown>, headers: Record<string, string> = {}) {
  const body = JSON.stringify({ object: 'event', data: {}, ...event });
  const response = await fetch(`${app.baseUrl}/webhooks/stripe`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignatureHeader(body, SECRETS.stripe), ...headers },
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

const eventRow = async (id: string) =>
  (await db.pool.query('SELECT status, attempts FROM webhook_events WHERE id = $1', [id])).rows[0] as { status: string; attempts: number } | undefined;

describe('deliveries go only where ROUTES_FILE says', () => {
  it('ignores URLs and hosts a webhook carries in its body or headers', async () => {
    const id = await sendStripe(
      { id: 'evt_outbound_1', type: 'invoice.paid', url: `${trap.url}/body`, callback_url: `${trap.url}/cb`, destination: trap.url, data: { object: { webhook_url: trap.url } } },
      { 'x-forwarded-host': new URL(trap.url).host, 'x-forward-to': trap.url, 'x-webhook-destination': trap.url, referer: trap.url, 'x-original-url': trap.url },
    );
    await waitFor('the event to complete', async () => (await eventRow(id))?.status === 'COMPLETED');
    expect(good.requestsFor(id)).toHaveLength(1);
    expect(good.requestsFor(id)[0]!.path).toBe('/hooks');
    expect(trap.requests).toHaveLength(0);
  });

  it('does not follow a destination’s redirect: the attempt fails (recorded), the redirect target is never called', async () => {
    const id = await sendStripe({ id: 'evt_outbound_redirect', type: 'redirect.me' });
    await waitFor('the event to be dead-lettered', async () => (await eventRow(id))?.status === 'DEAD_LETTER', { timeoutMs: 10_000 });
    const { rows } = await db.pool.query('SELECT destination, status_code, succeeded FROM delivery_attempts WHERE event_id = $1 ORDER BY attempt', [id]);
    expect(rows).toEqual([
      { destination: 'redirecting', status_code: 307, succeeded: false },
      { destination: 'redirecting', status_code: 307, succeeded: false },
    ]);
    expect(trap.requests).toHaveLength(0);
  });
});

describe('PayPal certificates come only over https from PAYPAL_CERT_HOSTS (end to end, through HTTP)', () => {
  let counter = 0;
  async function sendPaypal(certUrl?: string) {
    const body = JSON.stringify({ id: `WH-OUT-${++counter}`, event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: {} });
    const headers = paypal.headers(body, PAYPAL_WEBHOOK_ID);
    if (certUrl !== undefined) headers['paypal-cert-url'] = certUrl;
    const response = await fetch(`${app.baseUrl}/webhooks/paypal`, { method: 'POST', body, headers });
    return { status: response.status, text: await response.text() };
  }

  it('sanity: the genuine certificate URL verifies (202)', async () => {
    expect((await sendPaypal()).status).toBe(202);
  });

  it.each([
    ['http on an allowed host:port', () => `http://localhost:${allowedTrap.port}/v1/notifications/certs/CERT-1`],
    ['an IP literal for an allowed host', () => `https://127.0.0.1:${allowedTrap.port}/v1/notifications/certs/CERT-1`],
    ['userinfo hiding the real host', () => `https://localhost:${allowedTrap.port}@127.0.0.1:${unlistedTrap.port}/cert`],
    ['userinfo on an allowed host', () => `https://user:pass@localhost:${allowedTrap.port}/cert`],
    ['an allowed hostname on an unlisted port', () => `https://localhost:${unlistedTrap.port}/cert`],
    ['a look-alike host', () => `https://localhost.paypal.com.evil:${unlistedTrap.port}/cert`],
    ['another scheme', () => `file:///etc/passwd`],
    ['not a URL', () => 'paypal.com/cert'],
  ])('refuses %s with 401 and never connects', async (_name, url) => {
    const before = tcpTraps.map((entry) => entry.connections);
    const answer = await sendPaypal(url());
    expect(answer.status).toBe(401);
    expect(answer.text).not.toContain('/etc/passwd');
    expect(tcpTraps.map((entry) => entry.connections)).toEqual(before);
  });

  it('refuses a certificate host that redirects, even to the genuine certificate', async () => {
    const answer = await sendPaypal(`https://localhost:${tlsRedirectorPort}/v1/notifications/certs/CERT-1`);
    expect(answer.status).toBe(401);
    // It was asked (the host is allowed), answered with a redirect, and the redirect was not followed.
    expect(tlsRedirectorHits).toBe(1);
  });
});
