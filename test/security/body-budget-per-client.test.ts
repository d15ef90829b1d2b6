/**
 * "A forged flood cannot lock out real senders", for the ingress's body budget (BodyMemoryBudget: what all bodies
 * still arriving may hold together, 10 x MAX_BODY_BYTES by default). A body is held from its first byte, long before
 * its signature can be checked, until it ends or its request times out (30 s). One address that sent part of enough
 * bodies and then nothing more held the whole budget: every other sender's webhook, correctly signed, was answered 503
 * until they timed out, and the sender opened them again. Here 90 bodies of 32 KiB; a dozen gzip bodies of ~1 kB that
 * inflate to 1 MiB each hold the default 10 MiB just as well (compressed-body-amplification.test.ts).
 *
 * Now one client (an address, as TRUST_PROXY resolves it, IPv6 by /56: the failure budget's key) holds at most a
 * share of the budget (a quarter): its further bodies are refused 503 while other senders' still fit, and it gets its
 * share back as its bodies end.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { createProcessTestBed, type ProcessTestBed } from '../support/process-test-bed.js';
import type { ServiceProcess } from '../support/service-process.js';
import { signedStripeRequest } from '../support/signing.js';
import { waitFor } from '../support/wait-for.js';

const SECRET = 'whsec_body_budget_per_client';
/** MAX_BODY_BYTES here: the budget is then 10 x 256 KiB (DATABASE_POOL_SIZE 20 / 2), 80 stalled bodies of 32 KiB. */
const MAX_BODY_BYTES = 256 * 1024;
const BUDGET = 10 * MAX_BODY_BYTES;
const STALLED_BYTES = 32 * 1024;
/** More than the budget holds of them. */
const STALLED = BUDGET / STALLED_BYTES + 10;
const FORGER = '127.0.0.1';
const SENDER = '127.0.0.2';

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

/**
 * A body declared MAX_BODY_BYTES long, of which 32 KiB are sent from `from`, then nothing more: held until the request
 * times out (30 s). A few kB of gzip inflating to as much would do the same (compressed-body-amplification.test.ts).
 */
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
 * A correctly signed Stripe webhook sent from `from`: with a Content-Length (the direct path), gzip-encoded or chunked
 * (the Express route, which reads those).
 */
function sendSigned(from: string, id: string, form: 'plain' | 'gzip' | 'chunked' = 'plain'): Promise<number> {
  // 40 KiB: more than the budget has left once the forger's bodies hold it (less than one of them, 32 KiB).
  const { body, headers } = signedStripeRequest(SECRET, { id, padding: 'x'.repeat(40 * 1024) });
  const sent = form === 'gzip' ? gzipSync(body) : Buffer.from(body);
  const framing = form === 'chunked' ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(sent.length) };
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: ingress.port,
        path: '/webhooks/stripe',
        method: 'POST',
        localAddress: from,
        agent: false,
        headers: { ...headers, ...framing, ...(form === 'gzip' ? { 'content-encoding': 'gzip' } : {}) },
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

describe('the body budget: one address holds a share of it, not all of it', () => {
  it('a correctly signed webhook from another address is taken while one address stalls bodies (before: 503 for every sender)', async () => {
    const before = await overloaded();
    for (let i = 0; i < STALLED; i++) stalledBody(FORGER);
    // Every one the budget (or the forger's share of it) has no room for is refused 503; those it holds stay held until
    // they time out (30 s), so from the last refusal on, what is left is less than one of them.
    await waitFor('the stalled bodies past the budget to be refused', async () => (await overloaded()) - before >= STALLED - BUDGET / STALLED_BYTES);

    expect(await sendSigned(SENDER, 'evt_per_client_plain')).toBe(202);
    expect(await sendSigned(SENDER, 'evt_per_client_gzip', 'gzip')).toBe(202);
    expect(await sendSigned(SENDER, 'evt_per_client_chunked', 'chunked')).toBe(202);
    // The forger's own share is what is spent: its next body is refused, until its stalled ones are gone.
    expect(await sendSigned(FORGER, 'evt_per_client_forger', 'chunked')).toBe(503);
    for (const socket of sockets.splice(0)) socket.destroy();
    await waitFor('the stalled bodies to give their share back', async () => (await sendSigned(FORGER, 'evt_per_client_forger', 'chunked')) === 202);
  });
});
