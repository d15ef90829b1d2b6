/**
 * "A forged flood cannot lock out real senders", for the ingress's body budget when the flood comes from several
 * addresses. One address holds at most a quarter of the budget (body-budget-per-client.test.ts), so four addresses (or
 * four IPv6 /56 prefixes, which one attacker easily has) that send part of enough bodies and then stall hold all of it.
 *
 * Before, every other sender's webhook was then answered 503 for as long as they kept that up, even one whose body had
 * arrived whole: refusing it freed nothing (its bytes were already read), it only turned a correctly signed webhook
 * away. Now the bytes that complete a body of declared length are not taken from the budget, on the direct path and
 * the Express route alike: a body that has all arrived is verified and stored whatever stalled bodies hold; bodies
 * still arriving are bounded as before.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import net from 'node:net';
import { createProcessTestBed, type ProcessTestBed } from '../support/process-test-bed.js';
import type { ServiceProcess } from '../support/service-process.js';
import { signedStripeRequest } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'whsec_body_budget_arrived_body';
/** The budget is then 10 x 256 KiB (DATABASE_POOL_SIZE 20 / 2); each address's share a quarter of it, 640 KiB. */
const MAX_BODY_BYTES = 256 * 1024;
const SHARE = (10 * MAX_BODY_BYTES) / 4;
const STALLED_BYTES = 32 * 1024;
/** One more than an address's share holds, so each forger sees one refusal once its share is full. */
const STALLED_PER_FORGER = SHARE / STALLED_BYTES + 1;
const FORGERS = ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14'];
const SENDER = '127.0.0.20';

let bed: ProcessTestBed;
let ingress: ServiceProcess;
const sockets: net.Socket[] = [];

beforeAll(async () => {
  bed = await createProcessTestBed();
  ingress = await (await bed.serviceProcess({ SERVICE_ROLE: 'ingress', STRIPE_WEBHOOK_SECRET: SECRET, MAX_BODY_BYTES: String(MAX_BODY_BYTES), LOG_LEVEL: 'warn' })).start();
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await bed?.close();
});

const overloaded = async (): Promise<number> => {
  const text = await (await fetch(`${ingress.baseUrl}/metrics`)).text();
  return Number(/^webhook_events_received_total\{provider="stripe",outcome="overloaded"\} (\S+)$/m.exec(text)?.[1] ?? 0);
};

/** A forged body declared MAX_BODY_BYTES long, of which 32 KiB are sent from `from`, then nothing more (held ~30 s). */
function stalledBody(from: string): void {
  const socket = net.connect({ port: ingress.port, host: '127.0.0.1', localAddress: from });
  socket.on('error', () => undefined);
  sockets.push(socket);
  socket.write(
    'POST /webhooks/stripe HTTP/1.1\r\nHost: ingress\r\nContent-Type: application/json\r\n' +
      `Stripe-Signature: t=1,v1=00\r\nContent-Length: ${MAX_BODY_BYTES}\r\n\r\n`,
  );
  socket.write(Buffer.alloc(STALLED_BYTES, 0x20));
}

/**
 * A correctly signed Stripe webhook of a usual size from `from`, headers and body in one write. `/webhooks/stripe/`
 * (a trailing slash) is the Express route's, which takes what the direct path does not (and every webhook once the
 * pod is terminating).
 */
function sendSigned(from: string, id: string, path = '/webhooks/stripe'): Promise<number> {
  const { body, headers } = signedStripeRequest(SECRET, { id });
  const sent = Buffer.from(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: ingress.port,
        path,
        method: 'POST',
        localAddress: from,
        agent: false,
        headers: { ...headers, 'content-length': String(sent.length) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      },
    );
    req.on('error', reject);
    req.end(sent);
  });
}

describe('the body budget held by stalled bodies from several addresses', () => {
  it('a correctly signed webhook that has arrived whole is taken (before: 503 while the stalled bodies lasted)', async () => {
    const before = await overloaded();
    for (const forger of FORGERS) for (let i = 0; i < STALLED_PER_FORGER; i++) stalledBody(forger);
    // Each forger's last body is refused once its share is full: the four shares, the whole budget, are then held.
    await waitFor('every forger to fill its share of the body budget', async () => (await overloaded()) - before >= FORGERS.length);
    // A forger's further bodies are still refused: what is still arriving stays bounded.
    stalledBody(FORGERS[0]!);
    await waitFor('a further stalled body to be refused', async () => (await overloaded()) - before >= FORGERS.length + 1);

    expect(await sendSigned(SENDER, 'evt_arrived_while_stalled')).toBe(202);
    expect(await sendSigned(SENDER, 'evt_arrived_while_stalled_express', '/webhooks/stripe/')).toBe(202);
    expect(await sendSigned(FORGERS[0]!, 'evt_arrived_from_a_forger_address')).toBe(202);
  });
});
