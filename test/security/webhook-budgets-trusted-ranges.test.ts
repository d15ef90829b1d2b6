/**
 * The webhook route's budgets with TRUST_PROXY naming ranges, as the chart sets it when its Ingress is on ("loopback,
 * linklocal, uniquelocal"): every pod of the cluster connects from a private address, so every pod is a trusted proxy.
 * The budgets were keyed on the forwarded address alone (req.ip), which such a pod writes itself: naming a real
 * sender's address in X-Forwarded-For, it spent that sender's budgets, and the sender, coming through the Ingress
 * controller, was locked out:
 * - its failed-verification budget: PayPal's next event whose certificate was not cached yet was answered 429 (a
 *   client past its budget gets no certificate download) for the rest of the minute, minute after minute;
 * - its share of the body budget: stalled bodies held it, and the sender's webhooks were answered 503.
 * Now the key is the connecting address with the one it forwards for (`127.0.0.3 for 173.0.80.1`), as the admin API's
 * wrong-token budget already was (admin-budget-trusted-ranges.test.ts).
 *
 * The loopback addresses 127.0.0.x stand in for pod addresses: TRUST_PROXY trusts them just the same. 127.0.0.3 is
 * the Ingress controller, 127.0.0.4 another pod.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import net from 'node:net';
import { PaypalFixture } from '../support/paypal-fixture.js';
import { startPaypalIngress } from '../support/paypal-ingress.js';
import type { InProcessService } from '../support/service-harness.js';
import { signedStripeRequest } from '../support/signing.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createQueueNamespace, type TestQueueNamespace } from '../support/test-redis.js';
import { waitFor } from '../support/wait-for.js';

const PAYPAL_WEBHOOK_ID = 'WH-TRUSTED-RANGES-TEST';
const STRIPE_SECRET = 'whsec_trusted_ranges';
const FAILURE_LIMIT = 3;
const INGRESS_CONTROLLER = '127.0.0.3';
const OTHER_POD = '127.0.0.4';
/** The budget is 10 x 256 KiB (DATABASE_POOL_SIZE 20 / 2); one client's share a quarter: 20 stalled bodies of 32 KiB. */
const MAX_BODY_BYTES = 256 * 1024;
const STALLED_BYTES = 32 * 1024;
const SHARE_IN_BODIES = (10 * MAX_BODY_BYTES) / 4 / STALLED_BYTES;

let db: TestDatabase;
let ns: TestQueueNamespace;
let paypal: PaypalFixture;
let app: InProcessService;
let port = 0;
const sockets: net.Socket[] = [];

beforeAll(async () => {
  [db, paypal] = await Promise.all([createTestDatabase(), new PaypalFixture().start()]);
  ns = createQueueNamespace();
  app = await startPaypalIngress(paypal, { db, ns }, {
    DATABASE_POOL_SIZE: '20',
    PAYPAL_WEBHOOK_ID,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    MAX_BODY_BYTES: String(MAX_BODY_BYTES),
    VERIFICATION_FAILURE_LIMIT_PER_MINUTE: String(FAILURE_LIMIT),
    TRUST_PROXY: 'loopback, linklocal, uniquelocal',
  });
  port = Number(new URL(app.baseUrl).port);
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await app?.stop();
  await paypal?.stop();
  await ns?.cleanup();
  await db?.drop();
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
}

/** POST /webhooks/{provider} from the source address `from`, on a connection of its own. */
function post(provider: string, body: string | Buffer, headers: Record<string, string>, from: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: `/webhooks/${provider}`, method: 'POST', localAddress: from, agent: false, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let counter = 0;
/** A PayPal forgery (a junk signature) naming the certificate at `certUrl`, sent from `from` for `forwardedFor`. */
function forgePaypal(certUrl: string, from: string, forwardedFor: string): Promise<Answer> {
  const body = JSON.stringify({ id: `WH-FORGED-${++counter}`, event_type: 'PAYMENT.CAPTURE.COMPLETED' });
  const headers = { ...paypal.headers(body, PAYPAL_WEBHOOK_ID, undefined, certUrl), 'paypal-transmission-sig': Buffer.alloc(256, counter % 256).toString('base64') };
  return post('paypal', body, { ...headers, 'x-forwarded-for': forwardedFor }, from);
}

/** A genuine PayPal event signed with the certificate at `certUrl`, sent from `from` for `forwardedFor`. */
function genuinePaypal(certUrl: string, from: string, forwardedFor: string): Promise<Answer> {
  const body = JSON.stringify({ id: `WH-GENUINE-${++counter}`, event_type: 'PAYMENT.CAPTURE.COMPLETED', resource: {} });
  return post('paypal', body, { ...paypal.headers(body, PAYPAL_WEBHOOK_ID, undefined, certUrl), 'x-forwarded-for': forwardedFor }, from);
}

/** `reset` of a RateLimit header (`limit=3, remaining=0, reset=42`): seconds left in the budget's window. */
const resetOf = (answer: Answer): number => Number(/reset=(\d+)/.exec(String(answer.headers.ratelimit))?.[1]);

describe('failed-verification budget behind trusted ranges', () => {
  it("a pod naming PayPal's address in X-Forwarded-For spends a budget of its own, not PayPal's (before: PayPal's event needing a download was refused 429)", async () => {
    const paypalAddress = '173.0.80.1';
    // Another pod forges PayPal events naming PayPal's address, until its budget is spent (429). The budget's windows are
    // fixed minutes: when the 429 comes with under 10 s of its window left, spend the next window's instead.
    let spent: Answer | undefined;
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i <= FAILURE_LIMIT; i++) spent = await forgePaypal(`https://${paypal.host}/v1/notifications/certs/CERT-quick-${round}-${i}`, OTHER_POD, paypalAddress);
      expect(spent!.status).toBe(429);
      if (resetOf(spent!) >= 10) break;
      await new Promise((resolve) => setTimeout(resolve, (resetOf(spent!) + 1) * 1000));
    }

    // PayPal, through the Ingress controller, with a certificate this process has not cached yet.
    const answer = await genuinePaypal(`https://${paypal.host}/v1/notifications/certs/CERT-rotated-ranges`, INGRESS_CONTROLLER, paypalAddress);
    // The forger's own budget is what it spent: its next forgery is still 429.
    const forgerAgain = await forgePaypal(`https://${paypal.host}/v1/notifications/certs/CERT-quick-again`, OTHER_POD, paypalAddress);
    expect({ paypal: answer.status, forgerAgain: forgerAgain.status }).toEqual({ paypal: 202, forgerAgain: 429 });
  });

  it('clients behind the Ingress controller keep budgets of their own: one spending its budget does not spend another’s', async () => {
    let spent: Answer | undefined;
    for (let i = 0; i <= FAILURE_LIMIT; i++) spent = await forgePaypal(`https://${paypal.host}/v1/notifications/certs/CERT-client-${i}`, INGRESS_CONTROLLER, '198.51.100.1');
    expect(spent!.status).toBe(429);
    const other = await forgePaypal(`https://${paypal.host}/v1/notifications/certs/CERT-client-other`, INGRESS_CONTROLLER, '198.51.100.2');
    expect({ status: other.status, remaining: /remaining=(\d+)/.exec(String(other.headers.ratelimit))?.[1] }).toEqual({ status: 401, remaining: String(FAILURE_LIMIT - 1) });
  });
});

describe('body budget share behind trusted ranges', () => {
  const overloaded = async (): Promise<number> => {
    const text = await (await fetch(`${app.baseUrl}/metrics`)).text();
    return Number(/^webhook_events_received_total\{provider="stripe",outcome="overloaded"\} (\S+)$/m.exec(text)?.[1] ?? 0);
  };

  /** A body declared MAX_BODY_BYTES long, of which 32 KiB are sent from `from` for `forwardedFor`, then nothing more. */
  const stalledBody = (from: string, forwardedFor: string): void => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: from });
    socket.on('error', () => undefined);
    sockets.push(socket);
    socket.write(
      'POST /webhooks/stripe HTTP/1.1\r\nHost: ingress\r\nContent-Type: application/json\r\n' +
        `X-Forwarded-For: ${forwardedFor}\r\nStripe-Signature: t=1,v1=00\r\nContent-Length: ${MAX_BODY_BYTES}\r\n\r\n`,
    );
    socket.write(Buffer.alloc(STALLED_BYTES, 0x20));
  };

  it("a pod naming a sender's address holds a share of its own: the sender's webhooks through the Ingress controller are taken (before: 503)", async () => {
    const sender = '203.0.113.7';
    const before = await overloaded();
    // More bodies than one share holds, naming the sender: those past the share are refused 503.
    const stalled = SHARE_IN_BODIES + 5;
    for (let i = 0; i < stalled; i++) stalledBody(OTHER_POD, sender);
    await waitFor("the stalled bodies past one client's share to be refused", async () => (await overloaded()) - before >= stalled - SHARE_IN_BODIES);

    // The sender, through the Ingress controller: a correctly signed webhook of 40 KiB, chunked (held while it arrives).
    const { body, headers } = signedStripeRequest(STRIPE_SECRET, { id: 'evt_trusted_ranges_sender', padding: 'x'.repeat(40 * 1024) });
    const answer = await post('stripe', body, { ...headers, 'transfer-encoding': 'chunked', 'x-forwarded-for': sender }, INGRESS_CONTROLLER);
    // The pod's own share is what its stalled bodies hold: its next body naming the sender is refused.
    const { body: podBody, headers: podHeaders } = signedStripeRequest(STRIPE_SECRET, { id: 'evt_trusted_ranges_pod', padding: 'x'.repeat(40 * 1024) });
    const pod = await post('stripe', podBody, { ...podHeaders, 'transfer-encoding': 'chunked', 'x-forwarded-for': sender }, OTHER_POD);
    expect({ sender: answer.status, pod: pod.status }).toEqual({ sender: 202, pod: 503 });
    for (const socket of sockets.splice(0)) socket.destroy();
  });
});
